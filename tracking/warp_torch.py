"""Warping masks and images by a backward flow on torch tensors (``grid_sample``).

The torch twins of :mod:`tracking.warp`, kept apart so that the OpenCV path (what the
trackers use on a CPU) does not import torch. An engine that keeps frames on a GPU uses
these; they follow the input's device and dtype, and agree with the cv2 versions to float
precision inside the frame.

Shapes: flows are ``B,2,H,W`` (x then y); masks ``B,1,H,W``; images ``B,C,H,W`` float.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import TrackingError


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """Turn a ``B,2,H,W`` backward flow into a ``grid_sample`` grid (``align_corners=True``).

    Args:
        flow: ``B,2,H,W`` float flow in pixels (x then y).

    Returns:
        ``B,H,W,2`` normalised sampling grid, same device and dtype.
    """
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise TrackingError(f"flow must have shape B,2,H,W, got {tuple(flow.shape)}")
    _, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype)
    gx = (xs[None, None, :] + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys[None, :, None] + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return torch.stack((gx, gy), dim=-1)


def warp_image_torch(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp ``B,C,H,W`` images by a ``B,2,H,W`` backward flow (bilinear, zero padding).

    Args:
        image: ``B,C,H,W`` float tensor.
        flow: ``B,2,H,W`` float tensor on the same device.

    Returns:
        ``B,C,H,W`` warped tensor, same device and dtype as ``image``.

    Raises:
        TrackingError: shape mismatch.
    """
    if image.ndim != 4 or image.shape[0] != flow.shape[0] or image.shape[2:] != flow.shape[2:]:
        raise TrackingError(
            f"image {tuple(image.shape)} and flow {tuple(flow.shape)} must be B,C,H,W and B,2,H,W"
        )
    grid = flow_to_grid(flow.to(image.dtype))
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def warp_mask_torch(
    mask: torch.Tensor, flow: torch.Tensor, threshold: float | None = 0.5
) -> torch.Tensor:
    """Warp ``B,1,H,W`` masks by a backward flow.

    Args:
        mask: ``B,1,H,W`` bool or float mask (1 = object).
        flow: ``B,2,H,W`` float flow.
        threshold: binarise at ``>= threshold`` (returns bool); ``None`` returns the soft
            float mask.

    Returns:
        ``B,1,H,W`` bool mask, or float soft mask when ``threshold`` is ``None``.
    """
    dtype = flow.dtype if flow.is_floating_point() else torch.float32
    soft = warp_image_torch(mask.to(dtype), flow)
    return soft if threshold is None else soft >= threshold


def forward_backward_error_torch(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """Torch version of :func:`forward_backward_error` (``B,2,H,W`` in, ``B,1,H,W`` out).

    Args:
        backward: ``B,2,H,W`` flow from the target to the source.
        forward: ``B,2,H,W`` flow from the source to the target.

    Returns:
        ``B,1,H,W`` error in pixels; 1e3 where the source point is outside the frame.
    """
    grid = flow_to_grid(backward)
    fwd_at = F.grid_sample(
        forward.to(backward.dtype), grid, mode="bilinear", padding_mode="border", align_corners=True
    )
    err = torch.linalg.vector_norm(backward + fwd_at, dim=1, keepdim=True)
    _, _, h, w = backward.shape
    xs = torch.arange(w, device=backward.device, dtype=backward.dtype)[None, None, :]
    ys = torch.arange(h, device=backward.device, dtype=backward.dtype)[None, :, None]
    map_x = xs + backward[:, 0]
    map_y = ys + backward[:, 1]
    outside = (map_x < -0.5) | (map_x > w - 0.5) | (map_y < -0.5) | (map_y > h - 0.5)
    return torch.where(outside[:, None], torch.full_like(err, 1e3), err)


__all__ = [
    "flow_to_grid",
    "forward_backward_error_torch",
    "warp_image_torch",
    "warp_mask_torch",
]
