"""Crop window, resize and paste-back: pure functions on torch tensors.

The network only accepts its trained size (512x512 images for the official weights), so a
frame is handled as: binarise the mask, find the hole's bounding box, take a (square where the
frame allows) window around it with some context, resize the window to the model size, run
the model, resize the result back to the window and blend it in with an edge softened
*inside* the hole. Pixels outside the mask are copied from the input, bit for bit; the cost
does not depend on the frame size.

Conventions: images ``3, H, W`` (uint8 or float), masks ``H, W`` bool (True = remove).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from moebius_video.errors import InvalidArgumentError, InvalidMaskError


@dataclass(frozen=True)
class CropBox:
    """A window ``[top, top + height) x [left, left + width)`` in frame pixels."""

    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices for indexing ``[..., rows, cols]``."""
        return slice(self.top, self.bottom), slice(self.left, self.right)


def binarize_mask(mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """True where the mask is at least ``threshold`` of its full scale.

    bool stays as is; uint8 is compared with ``threshold * 255`` (so 128..255 is a hole, as the
    reference's ``x >= 127.5``); floating masks are taken in [0, 1].

    Raises:
        InvalidMaskError: Another dtype (e.g. int32, whose full scale is ambiguous).
    """
    if mask.dtype == torch.bool:
        return mask
    if mask.dtype == torch.uint8:
        return mask.float() >= threshold * 255
    if mask.is_floating_point():
        return mask >= threshold
    raise InvalidMaskError(f"mask dtype must be bool, uint8 or floating, got {mask.dtype}")


def _place(center: float, length: int, limit: int) -> int:
    start = int(math.floor(center - length / 2))
    return min(max(start, 0), limit - length)


def crop_window(
    frame_size: tuple[int, int],
    bbox: tuple[int, int, int, int],
    *,
    context: float = 0.5,
    min_side: int = 512,
) -> CropBox:
    """A window around ``bbox`` with ``context`` times its size added on each side.

    The window is square with side ``max(bbox_h, bbox_w) * (1 + 2 * context)``, at least
    ``min_side``, centred on the box and shifted to stay inside the frame; a side longer than
    the frame is cut to it (the window is then not square and gets stretched by the resize).
    It always contains ``bbox``.

    Args:
        frame_size: ``(height, width)`` of the frame.
        bbox: ``(x0, y0, x1, y1)`` of the hole (a :class:`tracking.geometry.Box`).
        context: Extra context per side, relative to the hole's longer side.
        min_side: Smallest window side (the model size avoids upscaling small holes).

    Returns:
        The window.

    Raises:
        InvalidArgumentError: Empty frame, a box outside it, or negative settings.
    """
    height, width = frame_size
    left, top, right, bottom = bbox
    if height < 1 or width < 1:
        raise InvalidArgumentError(f"frame_size must be positive, got {frame_size}")
    if not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise InvalidArgumentError(f"bbox {bbox} is empty or outside the {height}x{width} frame")
    if context < 0 or min_side < 0:
        raise InvalidArgumentError(f"context and min_side must be >= 0, got {context}, {min_side}")
    side = max(bottom - top, right - left)
    side = max(int(math.ceil(side * (1 + 2 * context))), min_side)
    h, w = min(side, height), min(side, width)
    # The hole must fit: a box side longer than the window side can only happen after capping.
    h, w = max(h, bottom - top), max(w, right - left)
    y = _place((top + bottom) / 2, h, height)
    x = _place((left + right) / 2, w, width)
    y = min(y, top) if y + h >= bottom else bottom - h
    x = min(x, left) if x + w >= right else right - w
    return CropBox(y, x, h, w)


def resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic, antialiased resize of a float ``..., C, H, W`` image to ``size = (H', W')``.

    Returns the input unchanged when it already has that size.
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    squeeze = image.ndim == 3
    x = image[None] if squeeze else image
    out = F.interpolate(x.float(), size=size, mode="bicubic", antialias=True, align_corners=False)
    out = out.to(image.dtype)
    return out[0] if squeeze else out


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an ``H, W`` bool mask, keeping every pixel that overlaps the hole (conservative).

    A hole pixel that shrinks away when downscaling would let the object leak into the
    model's input, so any partial coverage counts as hole.
    """
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    cover = F.interpolate(
        mask[None, None].float(), size=size, mode="bilinear", antialias=True, align_corners=False
    )
    return cover[0, 0] > 1e-3


def feather_alpha(mask: torch.Tensor, radius: float = 3.0) -> torch.Tensor:
    """Blend weights in [0, 1] that are 0 outside the mask and ramp up inside its edge.

    A Gaussian blur (sigma ``radius``) of the mask, clipped to the mask: about 0.5 on the
    hole's border, 1 deeper inside. Returns float32 ``H, W``.
    """
    m = mask.float()
    if radius <= 0:
        return m
    k = int(math.ceil(3 * radius))
    x = torch.arange(-k, k + 1, dtype=torch.float32, device=mask.device)
    g = torch.exp(-(x**2) / (2 * radius**2))
    g = g / g.sum()
    # Replicate padding: the frame border does not count as "outside the hole".
    blurred = F.pad(m[None, None], (k, k, k, k), mode="replicate")
    blurred = F.conv2d(blurred, g.view(1, 1, 1, -1))
    blurred = F.conv2d(blurred, g.view(1, 1, -1, 1))[0, 0]
    return (blurred.clamp(0, 1) * m).clamp(0, 1)


def paste(
    frame: torch.Tensor,
    patch: torch.Tensor,
    mask: torch.Tensor,
    box: CropBox,
    *,
    feather: float = 3.0,
) -> torch.Tensor:
    """Blend ``patch`` (the model result for ``box``) into ``frame`` inside ``mask`` only.

    Args:
        frame: ``3, H, W`` uint8 frame.
        patch: ``3, h, w`` float image in [0, 1] of any size; resized to the box.
        mask: ``H, W`` bool, True = hole.
        box: Where the patch goes.
        feather: Edge softening radius (pixels, inside the hole).

    Returns:
        A new ``3, H, W`` uint8 frame, equal to ``frame`` wherever ``mask`` is False.

    Raises:
        InvalidArgumentError: Mismatched shapes or dtypes.
    """
    if frame.dtype != torch.uint8 or frame.ndim != 3:
        raise InvalidArgumentError(
            f"frame must be a 3,H,W uint8 tensor, got {frame.dtype} {tuple(frame.shape)}"
        )
    if tuple(mask.shape) != tuple(frame.shape[-2:]) or mask.dtype != torch.bool:
        raise InvalidArgumentError(
            f"mask must be an H,W bool tensor of the frame's size, got {mask.dtype} {tuple(mask.shape)}"
        )
    rows, cols = box.slices()
    patch = resize_image(patch.float(), (box.height, box.width)).clamp(0, 1)
    region = frame[:, rows, cols].float() / 255
    hole = mask[rows, cols]
    alpha = feather_alpha(hole, feather)
    blended = patch * alpha + region * (1 - alpha)
    blended = (blended * 255).round().clamp(0, 255).to(torch.uint8)
    out = frame.clone()
    out[:, rows, cols] = torch.where(hole, blended, frame[:, rows, cols])
    return out


#: How the hole of the network's masked-image input is filled (``masked_fill``).
MASKED_FILLS = ("zeros", "pushpull", "telea", "ns")
#: The fills that are OpenCV's classical inpainting (``cv2.inpaint``): the pipeline runs
#: them on the full-resolution window and adds the network's correction to that.
CLASSICAL_FILLS = ("telea", "ns")
#: ``cv2.inpaint`` radius of the classical fills (the ``eval image`` baselines' radius).
CLASSICAL_RADIUS = 5


def classical_fill_uint8(image: np.ndarray, hole: np.ndarray, method: str) -> np.ndarray:
    """OpenCV's Telea or Navier-Stokes inpainting of an ``H, W, 3`` uint8 image.

    Args:
        image: ``H, W, 3`` uint8 (channel order does not matter: channels are filled alike).
        hole: ``H, W`` bool or 0/1, True = unknown.
        method: ``"telea"`` or ``"ns"``.

    Returns:
        ``H, W, 3`` uint8, equal to ``image`` outside the hole.
    """
    import cv2

    flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
    if method not in flags:
        raise InvalidArgumentError(f"classical fill must be one of {CLASSICAL_FILLS}, got {method!r}")
    hole8 = (np.asarray(hole) > 0).astype(np.uint8) * 255
    if not hole8.any():
        return np.array(image, copy=True)
    return cv2.inpaint(np.ascontiguousarray(image), hole8, CLASSICAL_RADIUS, flags[method])


def classical_fill(image: torch.Tensor, hole: torch.Tensor, method: str) -> torch.Tensor:
    """:func:`classical_fill_uint8` on a ``B, 3, H, W`` batch in [-1, 1] (CPU round trip).

    The image is quantised to 8 bits for OpenCV; the result keeps ``image`` exactly outside
    the hole and the 8-bit fill inside it.
    """
    known = hole < 0.5
    pixels = ((image.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    holes = (~known).cpu()[:, 0].numpy()
    filled = [
        classical_fill_uint8(p.permute(1, 2, 0).numpy(), h, method)
        for p, h in zip(pixels, holes, strict=True)
    ]
    out = torch.from_numpy(np.stack(filled)).permute(0, 3, 1, 2).to(image.device, image.dtype)
    return torch.where(known, image, out / 127.5 - 1)


def push_pull_fill(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Fill the hole with a smooth interpolation of the known pixels ("push-pull" pyramid).

    Known pixels are averaged down a pyramid (2x2 means weighted by knownness) until every
    cell has some known content; on the way back up, each level keeps its own weighted mean
    where it had known pixels and takes the bilinear upsampling of the coarser level elsewhere.

    Args:
        image: ``B, C, H, W`` float.
        hole: ``B, 1, H, W``, 1 (or True) = unknown.

    Returns:
        ``B, C, H, W``: ``image`` where known, the interpolation in the hole (a weighted mean
        of known pixels: within their range). An image with no known pixel comes back as is.
    """
    known = (hole < 0.5).to(image.dtype)
    num, weight = image * known, known
    pyramid = [(num, weight)]
    while min(num.shape[-2:]) > 1 and bool((weight == 0).any()):
        num = F.avg_pool2d(num, 2, ceil_mode=True)
        weight = F.avg_pool2d(weight, 2, ceil_mode=True)
        pyramid.append((num, weight))
    num, weight = pyramid[-1]
    filled = num / weight.clamp_min(1e-8)
    for num, weight in reversed(pyramid[:-1]):
        up = F.interpolate(filled, size=num.shape[-2:], mode="bilinear", align_corners=False)
        alpha = weight.clamp(max=1.0)
        filled = num / weight.clamp_min(1e-8) * alpha + up * (1 - alpha)
    empty = pyramid[-1][1].sum(dim=(1, 2, 3), keepdim=True) == 0
    return torch.where(empty, image, image * known + filled * (1 - known))


def masked_input(image: torch.Tensor, hole: torch.Tensor, fill: str = "zeros") -> torch.Tensor:
    """The network's masked image: the hole zeroed (the reference), push-pull or OpenCV filled.

    Args:
        image: ``B, C, H, W`` in [-1, 1].
        hole: ``B, 1, H, W``, 1 = hole.
        fill: One of :data:`MASKED_FILLS`.
    """
    if fill == "zeros":
        return image * (1 - hole.to(image.dtype))
    if fill == "pushpull":
        return push_pull_fill(image, hole)
    if fill in CLASSICAL_FILLS:
        return classical_fill(image, hole, fill)
    raise InvalidArgumentError(f"masked_fill must be one of {MASKED_FILLS}, got {fill!r}")
