"""Seam compensation: make pixels brought from another frame match the current exposure.

A propagated patch comes from a frame seen earlier or later; exposure, white balance or
lighting may have changed since. Around the hole both the current frame and the source are
known, so their difference there is measured and carried smoothly into the hole
(normalised convolution of the difference on a band around the hole). It is the
membrane/Poisson-cloning idea (what ``cv2.seamlessClone`` solves exactly) with a box-filter
approximation that costs a few milliseconds whatever the hole size.
"""

from __future__ import annotations

import cv2
import numpy as np

from moebius_video.fill.opencv import mask_bbox


def _smooth_fill(
    values: np.ndarray, weight: np.ndarray, radius: int, default: np.ndarray
) -> np.ndarray:
    """Normalised convolution of ``values`` (``h, w, c``) weighted by ``weight`` (``h, w``).

    Estimated on a coarse grid (area averaging keeps it exact), blurred there with two box
    passes (~ a Gaussian, O(1) per pixel) and interpolated back; far from any weight the
    result tends to ``default``.
    """
    rh, rw = weight.shape
    step = max(1, radius // 6)
    num = values * weight[..., None]
    if step > 1:
        num = cv2.resize(num, (max(1, rw // step), max(1, rh // step)), interpolation=cv2.INTER_AREA)
        weight = cv2.resize(weight, (max(1, rw // step), max(1, rh // step)), interpolation=cv2.INTER_AREA)
        if num.ndim == 2:
            num = num[..., None]
    k = 2 * max(1, radius // step) + 1
    for _ in range(2):
        num = cv2.blur(num, (k, k))
        weight = cv2.blur(weight, (k, k))
        if num.ndim == 2:
            num = num[..., None]
    eps = 0.02
    out = (num + eps * default) / (weight[..., None] + eps)
    if step > 1:
        out = cv2.resize(out, (rw, rh), interpolation=cv2.INTER_LINEAR)
        if out.ndim == 2:
            out = out[..., None]
    return out.astype(np.float32)


def seam_offset(
    current: np.ndarray,
    source: np.ndarray,
    source_valid: np.ndarray,
    hole: np.ndarray,
    *,
    band: int = 8,
    outlier: float = 30.0,
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None:
    """Additive colour correction and expected mismatch for ``source`` pasted into ``hole``.

    Args:
        current: ``H, W, 3`` uint8 frame being filled.
        source: ``H, W, 3`` uint8 content aligned to ``current`` (a warped memory).
        source_valid: ``H, W`` bool, where ``source`` holds real aligned content.
        hole: ``H, W`` bool, the pixels to be replaced.
        band: Width (px) of the band around the hole where the difference is measured.
        outlier: Differences larger than this (any channel) are misalignment, not exposure,
            and are left out of the colour correction.

    Returns:
        ``(box, offset, mismatch)``: ``box = (y0, y1, x0, x1)``; the ``y1-y0, x1-x0, 3``
        float32 offset to add to ``source`` inside it; the ``y1-y0, x1-x0`` float32 mean
        absolute difference (largest channel) between source and frame measured around
        the hole and carried inside, an estimate of how wrong the source is there.
        ``None`` when nothing can be measured.
    """
    box0 = mask_bbox(hole)
    if box0 is None:
        return None
    extent = max(box0[1] - box0[0], box0[3] - box0[2])
    radius = int(np.clip(extent // 2, 8, 96))
    box = mask_bbox(hole, margin=radius + band)
    assert box is not None
    y0, y1, x0, x1 = box
    roi_hole = hole[y0:y1, x0:x1].view(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    cur = np.ascontiguousarray(current[y0:y1, x0:x1])
    src = np.ascontiguousarray(source[y0:y1, x0:x1])
    b, g, r = cv2.split(cv2.absdiff(cur, src))
    absmax = cv2.max(cv2.max(b, g), r)
    band_px = (cv2.dilate(roi_hole, k) > 0) & (roi_hole == 0) & source_valid[y0:y1, x0:x1]
    ring = band_px & (absmax < outlier)
    ring_u8 = ring.view(np.uint8)
    if cv2.countNonZero(ring_u8) < 16:
        return None
    diff = cv2.subtract(cur, src, dtype=cv2.CV_32F)
    offset = _smooth_fill(diff, ring.astype(np.float32), radius,
                          np.float32(cv2.mean(diff, mask=ring_u8)[:3]))
    mis = absmax.astype(np.float32)[..., None]
    band_u8 = band_px.view(np.uint8)
    mismatch = _smooth_fill(mis, band_px.astype(np.float32), radius,
                            np.float32(cv2.mean(mis, mask=band_u8)[:1]))[..., 0]
    return box, offset, mismatch


def paste_compensated(
    out: np.ndarray,
    current: np.ndarray,
    source: np.ndarray,
    source_valid: np.ndarray,
    where: np.ndarray,
    hole: np.ndarray,
    *,
    compensate: bool = True,
    max_mismatch: float | None = None,
) -> np.ndarray:
    """Write ``source`` into ``out`` at ``where``, exposure-matched to ``current``.

    Args:
        out: ``H, W, 3`` uint8, modified in place.
        current: ``H, W, 3`` uint8 frame being filled.
        source: ``H, W, 3`` uint8 aligned content.
        source_valid: ``H, W`` bool, where ``source`` is real.
        where: ``H, W`` bool, the pixels to write (a subset of ``hole`` and ``source_valid``).
        hole: ``H, W`` bool, the whole hole (the band is measured around it).
        compensate: False pastes ``source`` as is.
        max_mismatch: Pixels where the source is expected to be off by more than this
            (mean absolute difference around the hole) are not written; ``None`` = all.

    Returns:
        ``H, W`` bool, the pixels actually written.
    """
    if not where.any():
        return where
    corr = seam_offset(current, source, source_valid, hole) if compensate or max_mismatch else None
    if corr is None:
        out[where] = source[where]
        return where
    (y0, y1, x0, x1), offset, mismatch = corr
    written = where.copy()
    sub = written[y0:y1, x0:x1]  # ``where`` lies inside the hole, hence inside the box
    if max_mismatch is not None:
        sub &= mismatch <= max_mismatch
    vals = source[y0:y1, x0:x1][sub].astype(np.float32)
    if compensate:
        vals += offset[sub]
    out[y0:y1, x0:x1][sub] = np.clip(np.rint(vals), 0, 255).astype(np.uint8)
    return written
