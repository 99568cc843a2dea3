"""Warping masks and images by a backward flow, with OpenCV.

A backward flow ``b`` is defined on the *target* frame: the content at target pixel ``x``
comes from source pixel ``x + b(x)``. These functions use ``cv2.remap`` (bilinear, zero
padding).

Shapes: flows are ``H,W,2`` (x then y), masks ``H,W``, images ``H,W,C``.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from .errors import TrackingError

MaskInterp = Literal["nearest", "linear"]


def _check_flow(flow: np.ndarray, shape: tuple[int, ...], name: str = "flow") -> None:
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[:2] != shape[:2]:
        raise TrackingError(
            f"{name} must have shape {shape[0]},{shape[1]},2 to match the input, got {flow.shape}"
        )


def remap_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sampling maps ``(map_x, map_y)`` for ``cv2.remap`` from a backward flow.

    Args:
        flow: ``H,W,2`` float32 backward flow.

    Returns:
        Two ``H,W`` float32 arrays.
    """
    h, w = flow.shape[:2]
    map_x = flow[..., 0] + np.arange(w, dtype=np.float32)[None, :]
    map_y = flow[..., 1] + np.arange(h, dtype=np.float32)[:, None]
    return map_x, map_y


def warp_image(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp an image by a backward flow (bilinear, zero outside the source).

    Args:
        image: ``H,W`` or ``H,W,C`` array (uint8 or float32).
        flow: ``H,W,2`` float32 backward flow defined on the target.

    Returns:
        The warped image, same shape and dtype.

    Raises:
        TrackingError: when the flow does not match the image size.
    """
    _check_flow(flow, image.shape)
    map_x, map_y = remap_maps(flow)
    return cv2.remap(
        image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def warp_soft_mask(mask: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp a mask by a backward flow into a soft mask in ``[0, 1]`` (bilinear).

    Args:
        mask: ``H,W`` bool or float mask.
        flow: ``H,W,2`` float32 backward flow.

    Returns:
        ``H,W`` float32 soft mask; pixels whose source lies outside the frame are 0.
    """
    return warp_image(mask.astype(np.float32, copy=False), flow)


def warp_mask(
    mask: np.ndarray,
    flow: np.ndarray,
    interpolation: MaskInterp = "linear",
    threshold: float = 0.5,
) -> np.ndarray:
    """Warp a binary mask by a backward flow.

    Args:
        mask: ``H,W`` bool mask of the source frame.
        flow: ``H,W,2`` float32 backward flow defined on the target frame.
        interpolation: ``"nearest"``, or ``"linear"``: bilinear, then thresholded.
        threshold: with ``"linear"``, a pixel is object when the interpolated value is
            ``>= threshold``.

    Returns:
        ``H,W`` bool mask of the target frame.

    Raises:
        TrackingError: size mismatch or unknown interpolation.
    """
    _check_flow(flow, mask.shape)
    if interpolation == "nearest":
        map_x, map_y = remap_maps(flow)
        out = cv2.remap(
            mask.astype(np.uint8),
            map_x,
            map_y,
            cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return out > 0
    if interpolation == "linear":
        return warp_soft_mask(mask, flow) >= threshold
    raise TrackingError(f"interpolation must be 'nearest' or 'linear', got {interpolation!r}")


def forward_backward_error(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Forward-backward consistency error of a flow pair, on the target frame.

    For a target pixel ``x`` with backward flow ``b(x)`` into the source, the forward flow at
    the source point should bring it back: ``b(x) + f(x + b(x)) ≈ 0``. A large error marks
    occluded, disoccluded or unreliable pixels.

    Args:
        backward: ``H,W,2`` flow from the target to the source.
        forward: ``H,W,2`` flow from the source to the target.

    Returns:
        ``H,W`` float32 error in pixels (large where the source point is outside the frame).
    """
    _check_flow(forward, backward.shape, "forward")
    map_x, map_y = remap_maps(backward)
    fwd_at = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = np.linalg.norm(backward + fwd_at, axis=2)
    h, w = backward.shape[:2]
    outside = (map_x < -0.5) | (map_x > w - 0.5) | (map_y < -0.5) | (map_y > h - 0.5)
    err[outside] = 1e3
    return err.astype(np.float32, copy=False)


__all__ = [
    "forward_backward_error",
    "remap_maps",
    "warp_image",
    "warp_mask",
    "warp_soft_mask",
]
