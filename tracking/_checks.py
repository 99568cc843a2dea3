"""Input checks shared by the trackers (internal)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import TrackingError


def check_frame(frame: Any, name: str = "frame") -> np.ndarray:
    """Check that ``frame`` is an ``H,W,3`` uint8 RGB image.

    Args:
        frame: the candidate image.
        name: the argument name used in error messages.

    Returns:
        The frame as a C-contiguous ``H,W,3`` uint8 array.

    Raises:
        TrackingError: when it is not an ``H,W,3`` uint8 array.
    """
    if not isinstance(frame, np.ndarray):
        raise TrackingError(f"{name} must be a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise TrackingError(f"{name} must have shape H,W,3 (RGB), got {frame.shape}")
    if frame.dtype != np.uint8:
        raise TrackingError(f"{name} must be uint8, got dtype {frame.dtype}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise TrackingError(f"{name} is too small: {frame.shape}")
    return np.ascontiguousarray(frame)


def check_mask(
    mask: Any,
    shape: tuple[int, int],
    name: str = "mask",
    allow_empty: bool = False,
) -> np.ndarray:
    """Check a mask against a frame size and binarise it (non-zero = object).

    Args:
        mask: ``H,W`` array (bool, or numeric where non-zero marks the object); an
            ``H,W,1`` array is accepted too.
        shape: the expected ``(H, W)``.
        name: the argument name used in error messages.
        allow_empty: accept a mask without any object pixel.

    Returns:
        The mask as an ``H,W`` bool array.

    Raises:
        TrackingError: wrong type, wrong size, or empty when ``allow_empty`` is false.
    """
    if not isinstance(mask, np.ndarray):
        raise TrackingError(f"{name} must be a numpy array, got {type(mask).__name__}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim != 2:
        raise TrackingError(f"{name} must have shape H,W, got {mask.shape}")
    if tuple(mask.shape) != tuple(shape):
        raise TrackingError(
            f"{name} has size {mask.shape[1]}x{mask.shape[0]} but the frame is "
            f"{shape[1]}x{shape[0]}"
        )
    out = mask if mask.dtype == np.bool_ else mask != 0
    if not allow_empty and not out.any():
        raise TrackingError(f"{name} is empty: it marks no object pixel")
    return np.ascontiguousarray(out)
