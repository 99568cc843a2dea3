"""The reference's whole-image pre- and post-processing (``RemovalSDXLPipeline_BatchMode``).

Kept for fidelity checks (the golden test) and for users who want the original behaviour on a
single image: threshold the mask at 127.5, LANCZOS-resize image and mask so the short side is
``image_size`` and each side a multiple of 64, normalise to [-1, 1], binarise the resized mask
at 0.5; after decoding, truncate to uint8 and optionally paste over the resized input with the
Gaussian-blurred (radius 3) resized mask. Note the output stays at the resized size and the
paste softens the edge *outwards*, so pixels next to the hole change; the
:class:`~moebius_video.model.pipeline.MoebiusInpaintingPipeline` instead crops around the hole
and never touches pixels outside the mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter


@dataclass
class ReferenceInputs:
    """Network-side tensors and the resized PIL images the paste needs.

    Attributes:
        image: ``1, 3, H, W`` in [-1, 1].
        mask: ``1, 1, H, W`` uint8, 1 = hole.
        masked_image: ``image * (1 - mask)``.
        resized_image: The resized RGB input (paste background).
        resized_mask: The resized, *not* re-binarised ``L`` mask (paste alpha before blurring).
    """

    image: torch.Tensor
    mask: torch.Tensor
    masked_image: torch.Tensor
    resized_image: Image.Image
    resized_mask: Image.Image


def reference_resize_size(width: int, height: int, image_size: int) -> tuple[int, int]:
    """Short side to ``image_size`` (int truncation), then each side floored to a multiple of 64."""
    if width < height:
        w, h = image_size, int(height * (image_size / width))
    else:
        w, h = int(width * (image_size / height)), image_size
    return w // 64 * 64, h // 64 * 64


def reference_preprocess(
    image: Image.Image,
    mask: Image.Image,
    image_size: int = 512,
    *,
    dtype: torch.dtype = torch.float32,
) -> ReferenceInputs:
    """The reference's ``_preprocess`` (no dilation, no MI-GAN)."""
    mask = mask.convert("L").point(lambda x: 0 if x < 255 / 2 else 255, "L")
    size = reference_resize_size(*image.size, image_size)
    image = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    mask = mask.resize(size, Image.Resampling.LANCZOS)
    pixels = torch.from_numpy(np.asarray(image) / 255.0 * 2 - 1).permute(2, 0, 1)[None].to(dtype)
    binary = torch.from_numpy(np.asarray(mask) / 255.0)[None].to(dtype)
    binary = torch.where(binary >= 0.5, 1, 0)[None]
    masked = (pixels.float() * (1 - binary)).to(dtype)
    return ReferenceInputs(pixels, binary.to(torch.uint8), masked, image, mask)


def reference_postprocess(
    decoded: torch.Tensor, inputs: ReferenceInputs, *, paste: bool = True
) -> np.ndarray:
    """The reference's ``_post_process`` for one image.

    Args:
        decoded: ``1, 3, H, W`` decoded image in [0, 1] (``(vae.decode(...) + 1) / 2``).
        inputs: What :func:`reference_preprocess` returned for this image.
        paste: Blend over the resized input with the blurred mask.

    Returns:
        ``H, W, 3`` uint8 at the resized size.
    """
    arr = (decoded[0].permute(1, 2, 0).float().clamp(0, 1) * 255).cpu().numpy().astype(np.uint8)
    result = Image.fromarray(arr).resize(
        inputs.resized_image.size, resample=Image.Resampling.LANCZOS
    )
    if not paste:
        return np.asarray(result)
    alpha = (
        np.asarray(inputs.resized_mask.convert("RGB").filter(ImageFilter.GaussianBlur(radius=3)))
        / 255.0
    )
    background = np.asarray(inputs.resized_image.convert("RGB")) / 255.0
    ours = np.asarray(result) / 255.0
    return np.uint8((ours * alpha + (1 - alpha) * background) * 255)
