"""Mask geometry shared by every layer: boxes, box masks and dilation.

This is the lowest module of the project (``tracking`` is importable on its own and
``moebius_video`` builds on it), so each primitive here has one definition for the
tracker, the fillers, the model's crop and the engine alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from .errors import TrackingError


class Box(NamedTuple):
    """A pixel rectangle, ends exclusive: columns ``x0 .. x1 - 1``, rows ``y0 .. y1 - 1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """``x1 - x0``."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """``y1 - y0``."""
        return self.y1 - self.y0

    @property
    def yx(self) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)``: the order of numpy slicing, ``image[y0:y1, x0:x1]``."""
        return self.y0, self.y1, self.x0, self.x1


def mask_box(mask: np.ndarray, margin: int = 0) -> Box | None:
    """Bounding box of the True pixels of an ``H, W`` mask, grown by ``margin`` and clipped.

    Args:
        mask: ``H, W`` bool (or any array whose non-zero pixels count).
        margin: Pixels added on every side (clipped to the image).

    Returns:
        The box, or ``None`` for an empty mask.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape[:2]
    return Box(max(int(cols[0]) - margin, 0), max(int(rows[0]) - margin, 0),
               min(int(cols[-1]) + 1 + margin, w), min(int(rows[-1]) + 1 + margin, h))


def box_mask(box: Sequence[int], width: int, height: int) -> np.ndarray:
    """An ``height, width`` bool mask that is True inside ``box = (x, y, w, h)``.

    Raises:
        TrackingError: The box lies entirely outside the frame (also a ``ValueError``).
    """
    x, y, w, h = (int(v) for v in box)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, width), min(y + h, height)
    if x1 <= x0 or y1 <= y0:
        raise TrackingError(f"box {x},{y},{w},{h} lies outside the {width}x{height} frame")
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def ellipse_kernel(radius: int) -> np.ndarray:
    """The ``2r+1, 2r+1`` uint8 elliptical (disc) structuring element of ``radius`` >= 1."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def dilate_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow an ``H, W`` bool mask by ``radius`` pixels with a disc.

    Returns ``mask`` itself (not a copy) when there is nothing to grow (``radius`` 0 or an
    empty mask); callers never modify masks in place.

    Raises:
        TrackingError: A negative radius (also a ``ValueError``).
    """
    if radius < 0:
        raise TrackingError(f"dilation radius must be >= 0, got {radius}")
    if radius == 0 or not mask.any():
        return mask
    return cv2.dilate(mask.astype(np.uint8), ellipse_kernel(radius)).astype(bool)


__all__ = ["Box", "box_mask", "dilate_mask", "ellipse_kernel", "mask_box"]
