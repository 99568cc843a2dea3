"""Seam compensation: make pixels brought from another frame match the current exposure.

A propagated patch comes from a frame seen earlier or later; exposure, white balance or
lighting may have changed since. Around the hole both the current frame and the source are
known, so their difference there is measured and carried smoothly into the hole
(normalised convolution of the difference on a band around the hole). It is the
membrane/Poisson-cloning idea (what ``cv2.seamlessClone`` solves exactly) with a box-filter
approximation that costs a few milliseconds whatever the hole size.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from tracking.geometry import mask_box

#: Width (px) of the band around the hole where source and frame are compared.
SEAM_BAND = 8

_scratch = threading.local()


def _zeros_f32(shape: tuple[int, ...], slot: int = 0) -> np.ndarray:
    """A zeroed float32 array in a per-thread buffer (one per ``slot``) reused between calls.

    A fresh frame-sized allocation each frame is returned to the OS and faulted in again
    (about a page fault per 4 KiB); each buffer only grows, to the largest box seen.
    """
    n = int(np.prod(shape))
    bufs = getattr(_scratch, "bufs", None)
    if bufs is None:
        bufs = _scratch.bufs = {}
    buf = bufs.get(slot)
    if buf is None or buf.size < n:
        buf = bufs[slot] = np.empty(n, np.float32)
    out = buf[:n].reshape(shape)
    out.fill(0.0)
    return out


def _smooth_fill(
    values: np.ndarray, weight: np.ndarray, radius: int, default: np.ndarray,
    *, premultiplied: bool = False, window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Normalised convolution of ``values`` (``h, w, c``) weighted by ``weight`` (``h, w``).

    Estimated on a coarse grid (area averaging keeps it exact), blurred there with two box
    passes (~ a Gaussian, O(1) per pixel) and interpolated back; far from any weight the
    result tends to ``default``. ``premultiplied``: ``values`` already holds
    ``values * weight``. ``window = (y0, y1, x0, x1)``: only that part of the result is
    returned (and interpolated).
    """
    rh, rw = weight.shape
    step = max(1, radius // 6)
    num = values if premultiplied else values * weight[..., None]
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
    out = out.astype(np.float32, copy=False)
    wy0, wy1, wx0, wx1 = window if window is not None else (0, rh, 0, rw)
    if step > 1:
        # What ``cv2.resize(out, (rw, rh), INTER_LINEAR)`` gives, on the window only.
        sh, sw = out.shape[:2]
        fx, fy = sw / rw, sh / rh
        m = np.float64([[fx, 0, (wx0 + 0.5) * fx - 0.5], [0, fy, (wy0 + 0.5) * fy - 0.5]])
        out = cv2.warpAffine(out, m, (wx1 - wx0, wy1 - wy0),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        if out.ndim == 2:
            out = out[..., None]
        return out
    return out[wy0:wy1, wx0:wx1]


def seam_offset(
    current: np.ndarray,
    source: np.ndarray,
    source_valid: np.ndarray,
    hole: np.ndarray,
    *,
    band: int = SEAM_BAND,
    outlier: float = 30.0,
    with_mismatch: bool = True,
    hole_window: bool = False,
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray | None] | None:
    """Additive colour correction and expected mismatch for ``source`` pasted into ``hole``.

    Args:
        current: ``H, W, 3`` uint8 frame being filled.
        source: ``H, W, 3`` uint8 content aligned to ``current`` (a warped memory).
        source_valid: ``H, W`` bool, where ``source`` holds real aligned content.
        hole: ``H, W`` bool, the pixels to be replaced.
        band: Width (px) of the band around the hole where the difference is measured.
        outlier: Differences larger than this (any channel) are misalignment, not exposure,
            and are left out of the colour correction.
        with_mismatch: False skips the mismatch estimate (returned as ``None``).
        hole_window: True returns the offset and mismatch over the hole's bounding box
            only (``box`` is then that box): all a paste needs.

    Returns:
        ``(box, offset, mismatch)``: ``box = (y0, y1, x0, x1)``; the ``y1-y0, x1-x0, 3``
        float32 offset to add to ``source`` inside it; the ``y1-y0, x1-x0`` float32 mean
        absolute difference (largest channel) between source and frame measured around
        the hole and carried inside, an estimate of how wrong the source is there.
        ``None`` when nothing can be measured.
    """
    found = mask_box(hole)
    if found is None:
        return None
    box0 = found.yx
    radius = int(np.clip(max(found.height, found.width) // 2, 8, 96))
    box = y0, y1, x0, x1 = mask_box(hole, margin=radius + band).yx  # type: ignore[union-attr]
    # The band (hence everything measured) lies within ``band`` px of the hole: the
    # differences are taken in that window only, the rest of the box has weight 0.
    ib = mask_box(hole, margin=band)
    assert ib is not None
    iy0, iy1, ix0, ix1 = ib.yx
    inner = (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0))
    roi_hole = hole[iy0:iy1, ix0:ix1].view(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    cur = current[iy0:iy1, ix0:ix1]  # row-strided views: OpenCV reads them as is
    src = source[iy0:iy1, ix0:ix1]
    b, g, r = cv2.split(cv2.absdiff(cur, src))
    absmax = cv2.max(cv2.max(b, g), r)
    band_px = (cv2.dilate(roi_hole, k) > 0) & (roi_hole == 0) & source_valid[iy0:iy1, ix0:ix1]
    ring = band_px & (absmax < outlier)
    ring_u8 = ring.view(np.uint8)
    if cv2.countNonZero(ring_u8) < 16:
        return None
    shape = (y1 - y0, x1 - x0)
    # Weighted by the ring: zero outside it. Scratch buffers, only read below.
    diff = _zeros_f32((*shape, 3), 0)
    diff_in = diff[inner]
    cv2.subtract(cur, src, dst=diff_in, mask=ring_u8, dtype=cv2.CV_32F)
    weight = _zeros_f32(shape, 1)
    weight[inner][ring] = 1.0
    window = None
    if hole_window:
        window = (box0[0] - y0, box0[1] - y0, box0[2] - x0, box0[3] - x0)
    offset = _smooth_fill(diff, weight, radius, np.float32(cv2.mean(diff_in, mask=ring_u8)[:3]),
                          premultiplied=True, window=window)
    out_box = box0 if hole_window else box
    if not with_mismatch:
        return out_box, offset, None
    band_u8 = band_px.view(np.uint8)
    mis = _zeros_f32((*shape, 1), 0)
    cv2.copyTo(absmax.astype(np.float32), band_u8, mis[inner][..., 0])
    weight = _zeros_f32(shape, 1)
    weight[inner][band_px] = 1.0
    mismatch = _smooth_fill(mis, weight, radius, np.float32(cv2.mean(absmax, mask=band_u8)[:1]),
                            premultiplied=True, window=window)[..., 0]
    return out_box, offset, mismatch


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
    gate = max_mismatch is not None
    corr = (seam_offset(current, source, source_valid, hole, with_mismatch=gate, hole_window=True)
            if compensate or gate else None)
    if corr is None:
        out[where] = source[where]
        return where
    (y0, y1, x0, x1), offset, mismatch = corr
    written = where.copy()
    sub = written[y0:y1, x0:x1]  # ``where`` lies inside the hole, hence inside the box
    if gate:
        assert mismatch is not None
        sub &= mismatch <= max_mismatch
    inner = mask_box(sub)
    if inner is None:
        return written
    # Only the window of the pixels written is touched.
    iy0, iy1, ix0, ix1 = inner.yx
    sy, sx = slice(y0 + iy0, y0 + iy1), slice(x0 + ix0, x0 + ix1)
    src = source[sy, sx]
    if compensate:
        # Adds, rounds (half to even, as np.rint) and saturates.
        src = cv2.add(src, offset[iy0:iy1, ix0:ix1], dtype=cv2.CV_8U)
    cv2.copyTo(src, sub[iy0:iy1, ix0:ix1].view(np.uint8), out[sy, sx])
    return written
