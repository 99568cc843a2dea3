"""Image and video metrics of the video-completion protocol (ProPainter, E2FGVI).

- PSNR in dB with a data range of 255, on the whole frame or on a region.
- SSIM as scikit-image computes it in those papers' evaluation code
  (``structural_similarity(..., win_size=65, data_range=255, channel_axis=-1)``): a 65 x 65
  uniform window, sample covariance, ``K1 = 0.01``, ``K2 = 0.03``, the mean over channels,
  and, for the full frame, the mean of the SSIM map without its ``(win - 1) / 2`` border.
  On a region the map is averaged over the region's pixels.
- Warping error (temporal flicker, Lai et al. ECCV 2018): the previous output warped to the
  current one with the flow of the ORIGINAL frames, squared difference on [0, 1] values,
  averaged over non-occluded pixels (forward-backward check). Reported x 1000.

Arrays are ``H, W, 3`` uint8 RGB images and ``H, W`` bool masks.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError
from tracking.flow import DISFlow, DisPreset

SSIM_WINDOW = 65


def _check_pair(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> None:
    if a.shape != b.shape:
        raise InvalidArgumentError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise InvalidArgumentError(f"images must be H,W or H,W,C arrays, got shape {a.shape}")
    if mask is not None and mask.shape != a.shape[:2]:
        raise InvalidArgumentError(f"mask shape {mask.shape} does not match image shape {a.shape[:2]}")


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical inputs).

    Args:
        a: Image, ``H, W`` or ``H, W, C``.
        b: Image of the same shape.
        mask: Optional ``H, W`` bool region; all channels of its pixels are compared.
        data_range: Peak value.

    Returns:
        PSNR in dB; ``nan`` for an empty region.

    Raises:
        InvalidArgumentError: Shapes differ.
    """
    _check_pair(a, b, mask)
    diff = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        if not mask.any():
            return float("nan")
        diff = diff[mask]
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range * data_range / mse))


def ssim_map(a: np.ndarray, b: np.ndarray, window: int = SSIM_WINDOW, data_range: float = 255.0) -> np.ndarray:
    """Per-pixel SSIM (mean over channels) with a ``window x window`` uniform window.

    Args:
        a: Image, ``H, W`` or ``H, W, C``.
        b: Image of the same shape.
        window: Odd window size.
        data_range: Peak value.

    Returns:
        ``H, W`` float64 map.

    Raises:
        InvalidArgumentError: Shapes differ or the window is not odd and positive.
    """
    _check_pair(a, b)
    if window < 1 or window % 2 == 0:
        raise InvalidArgumentError(f"window must be odd and positive, got {window}")
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    n = window * window
    cov_norm = n / (n - 1) if n > 1 else 1.0

    def box(img: np.ndarray) -> np.ndarray:
        out = cv2.boxFilter(img, cv2.CV_64F, (window, window), normalize=True, borderType=cv2.BORDER_REFLECT)
        return out.reshape(img.shape)

    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    ux, uy = box(x), box(y)
    vx = cov_norm * (box(x * x) - ux * ux)
    vy = cov_norm * (box(y * y) - uy * uy)
    vxy = cov_norm * (box(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(axis=-1)


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    mask: np.ndarray | None = None,
    window: int = SSIM_WINDOW,
    data_range: float = 255.0,
) -> float:
    """Structural similarity of two images (the completion papers' settings by default).

    Args:
        a: Image, ``H, W`` or ``H, W, C``.
        b: Image of the same shape.
        mask: Optional ``H, W`` bool region: the SSIM map is averaged over it. Without it,
            the map is averaged without its border, as scikit-image does.
        window: Odd window size (65 in the protocol).
        data_range: Peak value.

    Returns:
        SSIM in [-1, 1]; ``nan`` for an empty region.

    Raises:
        InvalidArgumentError: Shapes differ or bad window.
    """
    _check_pair(a, b, mask)
    window = min(window, *(d if d % 2 else d - 1 for d in a.shape[:2]))
    smap = ssim_map(a, b, window, data_range)
    if mask is not None:
        return float(smap[mask].mean()) if mask.any() else float("nan")
    pad = (window - 1) // 2
    inner = smap[pad : smap.shape[0] - pad, pad : smap.shape[1] - pad]
    return float(inner.mean() if inner.size else smap.mean())


class FlowReference:
    """Optical flow of the original frames, for the warping error.

    Args:
        preset: DIS preset (:class:`tracking.flow.DISFlow`) used on the original frames.
        fb_tolerance: Forward-backward tolerance in px (larger = fewer pixels occluded).
    """

    def __init__(self, preset: DisPreset = "medium", fb_tolerance: float = 1.0) -> None:
        self._dis = DISFlow(preset, use_initial_flow=False)
        self.fb_tolerance = float(fb_tolerance)

    def __call__(self, prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flow from ``cur`` into ``prev`` and the ``H, W`` bool non-occlusion mask.

        Args:
            prev: ``H, W, 3`` uint8 RGB original frame ``t-1``.
            cur: ``H, W, 3`` uint8 RGB original frame ``t``.

        Returns:
            ``(flow, valid)``: ``H, W, 2`` float32 with ``cur(x) ~ prev(x + flow(x))`` and
            the pixels where the flow passes the forward-backward check.
        """
        _check_pair(prev, cur)
        g0 = cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY)
        g1 = cv2.cvtColor(cur, cv2.COLOR_RGB2GRAY)
        back = self._dis.compute(g1, g0)
        fwd = self._dis.compute(g0, g1)
        h, w = g1.shape
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mx, my = xs + back[..., 0], ys + back[..., 1]
        fwd_at = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.square(back + fwd_at).sum(-1)
        tol = 0.01 * (np.square(back).sum(-1) + np.square(fwd_at).sum(-1)) + self.fb_tolerance**2
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        return back, (err <= tol) & inside


def warp_image(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``x + flow(x)`` (bilinear, edges replicated)."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def warping_error(
    prev_out: np.ndarray,
    cur_out: np.ndarray,
    flow: np.ndarray,
    valid: np.ndarray,
    region: np.ndarray | None = None,
) -> float:
    """Warping error between consecutive outputs (x 1000, [0, 1] values, squared).

    Args:
        prev_out: ``H, W, 3`` uint8 output at ``t-1``.
        cur_out: ``H, W, 3`` uint8 output at ``t``.
        flow: ``H, W, 2`` flow of the original frames from ``t`` into ``t-1``.
        valid: ``H, W`` bool non-occluded pixels.
        region: Optional ``H, W`` bool restriction (e.g. the hole).

    Returns:
        Mean squared difference x 1000 over the valid pixels; ``nan`` if there are none.

    Raises:
        InvalidArgumentError: Shapes differ.
    """
    _check_pair(prev_out, cur_out, valid)
    if flow.shape[:2] != cur_out.shape[:2]:
        raise InvalidArgumentError(f"flow shape {flow.shape} does not match image shape {cur_out.shape}")
    sel = valid if region is None else valid & region
    if not sel.any():
        return float("nan")
    warped = warp_image(prev_out, flow).astype(np.float64) / 255.0
    diff = warped - cur_out.astype(np.float64) / 255.0
    return float(np.mean(np.square(diff[sel])) * 1000.0)


def json_ready(obj: Any) -> Any:
    """``obj`` (dicts, lists, tuples, numbers) with NaN and infinities replaced by ``None``
    and dict keys as strings: JSON has neither NaN nor int keys, and a report's "not
    measured" must survive a round trip."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    return obj

