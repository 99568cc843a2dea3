"""Classical spatial fill with OpenCV's inpainting (Telea's fast marching, Navier-Stokes)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError
from moebius_video.fill.base import Filler, FillResult, FutureFrame, check_frame_and_mask
from tracking.geometry import mask_box


class OpenCVFiller(Filler):
    """Per-frame ``cv2.inpaint`` inside the mask.

    Only a window around the mask (plus the inpainting radius) is processed, so a small hole
    in a large frame costs little. A large hole is filled coarse-to-fine: its interior at a
    reduced scale (where it has at most ``max_pixels`` pixels), then a band along its border
    at full resolution, so the cost stays bounded while the seam keeps full detail. Pixels
    outside the mask are returned unchanged.

    Args:
        method: ``"telea"`` or ``"ns"``.
        radius: Neighbourhood radius of the inpainting, in pixels.
        max_pixels: Largest hole filled in one full-resolution pass; ``None`` = always.
        band: Width in pixels of the border band refined at full resolution.
    """

    name = "telea"

    def __init__(
        self, method: str = "telea", radius: int = 5, max_pixels: int | None = 6000, band: int = 4
    ) -> None:
        flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
        if method not in flags:
            raise InvalidArgumentError(f"method must be one of {sorted(flags)}, got {method!r}")
        if radius < 1:
            raise InvalidArgumentError(f"radius must be >= 1, got {radius}")
        if max_pixels is not None and max_pixels < 64:
            raise InvalidArgumentError(f"max_pixels must be >= 64 or None, got {max_pixels}")
        if band < 1:
            raise InvalidArgumentError(f"band must be >= 1, got {band}")
        self.method = method
        self.radius = int(radius)
        self.max_pixels = max_pixels
        self.band = int(band)
        self._flag = flags[method]

    def _inpaint(self, roi: np.ndarray, roi_mask: np.ndarray) -> np.ndarray:
        """Inpaint ``roi`` where ``roi_mask``; coarse-to-fine when the hole is large."""
        hole = int(roi_mask.sum())
        mask8 = roi_mask.astype(np.uint8) * 255
        if self.max_pixels is None or hole <= self.max_pixels:
            return cv2.inpaint(roi, mask8, self.radius, self._flag)
        h, w = roi_mask.shape
        scale = float(np.sqrt(self.max_pixels / hole))
        small_size = (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1))
        small = cv2.resize(roi, small_size, interpolation=cv2.INTER_AREA)
        # Any covered pixel taints its low-resolution cell: the object must not leak in.
        small_mask = cv2.resize(mask8, small_size, interpolation=cv2.INTER_AREA) > 0
        small_radius = max(int(round(self.radius * scale)), 2)
        coarse = cv2.inpaint(small, small_mask.astype(np.uint8) * 255, small_radius, self._flag)
        prefilled = roi.copy()
        up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
        prefilled[roi_mask] = up[roi_mask]
        # Full resolution on the border band only: the interior keeps the coarse fill.
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.band + 1,) * 2)
        interior = cv2.erode(mask8, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
        band_mask = roi_mask & ~interior
        return cv2.inpaint(prefilled, band_mask.astype(np.uint8) * 255, self.radius, self._flag)

    def fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        future: Sequence[FutureFrame] = (),
    ) -> FillResult:
        check_frame_and_mask(image, mask)
        out = image.copy()
        box = mask_box(mask, margin=2 * self.radius + 2)
        if box is None:
            return FillResult(out)
        y0, y1, x0, x1 = box.yx
        roi_mask = mask[y0:y1, x0:x1]
        if roi_mask.all():
            # Nothing known to propagate from: OpenCV would return garbage. Use the mean of
            # the frame's known pixels, or mid-grey when the whole frame is masked.
            known = image[~mask]
            colour = known.mean(axis=0) if known.size else np.full(3, 127.0)
            out[mask] = np.round(colour).astype(np.uint8)
            return FillResult(out, spatial_pixels=int(mask.sum()))
        roi = np.ascontiguousarray(image[y0:y1, x0:x1])
        filled = self._inpaint(roi, roi_mask)
        out_roi = out[y0:y1, x0:x1]
        out_roi[roi_mask] = filled[roi_mask]
        return FillResult(out, spatial_pixels=int(roi_mask.sum()))


class NSFiller(OpenCVFiller):
    """OpenCV's Navier-Stokes inpainting (``--fill ns``)."""

    name = "ns"

    def __init__(self, radius: int = 5, max_pixels: int | None = 6000, band: int = 4) -> None:
        super().__init__("ns", radius, max_pixels, band)
