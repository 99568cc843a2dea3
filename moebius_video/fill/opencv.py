"""Classical spatial fill with OpenCV's inpainting (Telea's fast marching, Navier-Stokes)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError
from moebius_video.fill.base import FillResult, Filler, FutureFrame, check_frame_and_mask


def mask_bbox(mask: np.ndarray, margin: int = 0) -> tuple[int, int, int, int] | None:
    """Bounding box ``(y0, y1, x0, x1)`` (exclusive ends) of True pixels grown by ``margin``.

    Returns ``None`` for an empty mask. The box is clipped to the image.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    y0 = max(int(rows[0]) - margin, 0)
    y1 = min(int(rows[-1]) + 1 + margin, h)
    x0 = max(int(cols[0]) - margin, 0)
    x1 = min(int(cols[-1]) + 1 + margin, w)
    return y0, y1, x0, x1


class OpenCVFiller(Filler):
    """Per-frame ``cv2.inpaint`` inside the mask.

    Only a window around the mask (plus the inpainting radius) is processed, so a small hole
    in a large frame costs little. Pixels outside the mask are returned unchanged.

    Args:
        method: ``"telea"`` or ``"ns"``.
        radius: Neighbourhood radius of the inpainting, in pixels.
    """

    name = "telea"

    def __init__(self, method: str = "telea", radius: int = 5) -> None:
        flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
        if method not in flags:
            raise InvalidArgumentError(f"method must be one of {sorted(flags)}, got {method!r}")
        if radius < 1:
            raise InvalidArgumentError(f"radius must be >= 1, got {radius}")
        self.method = method
        self.radius = int(radius)
        self._flag = flags[method]

    def fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        future: Sequence[FutureFrame] = (),
    ) -> FillResult:
        check_frame_and_mask(image, mask)
        out = image.copy()
        box = mask_bbox(mask, margin=2 * self.radius + 2)
        if box is None:
            return FillResult(out)
        y0, y1, x0, x1 = box
        roi_mask = mask[y0:y1, x0:x1]
        if roi_mask.all():
            # Nothing known to propagate from: OpenCV would return garbage. Use the mean of
            # the frame's known pixels, or mid-grey when the whole frame is masked.
            known = image[~mask]
            colour = known.mean(axis=0) if known.size else np.full(3, 127.0)
            out[mask] = np.round(colour).astype(np.uint8)
            return FillResult(out, spatial_pixels=int(mask.sum()))
        roi = np.ascontiguousarray(image[y0:y1, x0:x1])
        filled = cv2.inpaint(roi, roi_mask.astype(np.uint8) * 255, self.radius, self._flag)
        out_roi = out[y0:y1, x0:x1]
        out_roi[roi_mask] = filled[roi_mask]
        return FillResult(out, spatial_pixels=int(roi_mask.sum()))


class NSFiller(OpenCVFiller):
    """OpenCV's Navier-Stokes inpainting (``--fill ns``)."""

    name = "ns"

    def __init__(self, radius: int = 5) -> None:
        super().__init__("ns", radius)
