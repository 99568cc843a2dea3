"""Background motion between consecutive frames, for temporal propagation.

The flow that matters to a filler is the motion of the *background*: where a pixel hidden
by the object in one frame was in the neighbouring frame. Inside the hole the measured flow
describes the object (or nothing at all), so it is thrown away and completed from the
surrounding background flow ("flow inpainting", the idea of ProPainter's recurrent flow
completion, done here with a cheap push-pull interpolation). Parallax next to the hole is
kept, which a single homography would lose; a smooth field over the hole is what a rigid
or slowly varying background produces.

Everything runs on a downscaled grey frame (long side ``flow_size`` px) with OpenCV's DIS
flow, in both directions, with a forward-backward consistency check (Sundaram et al.,
ECCV 2010) that rejects occlusions and failed matches (very fast motion) rather than
smearing them. The same pass detects scene cuts (little consistent background or a large
photometric error after alignment).

Flow convention (OpenCV's): ``flow = dis.calc(I0, I1)`` gives ``I0(x) ~ I1(x + flow(x))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tracking.flow import DISFlow, DisPreset


@dataclass(frozen=True)
class BackgroundFlowConfig:
    """How background motion is estimated.

    Attributes:
        flow_size: Long side (px) of the grey frames the flow is computed on.
        preset: DIS preset of :class:`tracking.flow.DISFlow` (``"ultrafast"``, ``"fast"``,
            ``"medium"``).
        finest_scale: DIS's finest pyramid level (0 = ``flow_size`` itself; ``None`` =
            the preset's, 1 for ``"medium"``). Medium at 432 px matches patches at 216 px
            and upsamples; medium at 216 px with ``finest_scale=0`` matches the same
            patches for the same cost, and everything done with the flow afterwards
            (completion, checks, warps) runs on a quarter of the pixels.
        patch_stride: Distance (px) between DIS's 8-px patches (``None`` = the preset's, 3
            for ``"medium"``): the flow's largest cost is proportional to the patches.
        exclude_margin: Extra dilation (flow-resolution px) of the hole before its flow is
            discarded: DIS matches patches, so the object's motion leaks a few pixels out.
        fb_alpha: Relative tolerance of the forward-backward check.
        fb_beta: Absolute tolerance (squared flow-resolution px) of the check.
        min_background: Smallest fraction of known background for motion to be estimated.
        cut_min_consistent: A pair whose background is less consistent than this is a cut.
        cut_error: A pair whose median grey error after alignment (over all the known
            background, consistent or not) exceeds this is a cut. Measured at 432x240
            with the default flow: consecutive DAVIS frames <= 11 and consistency >= 0.4
            (motocross-jump, the fastest); unrelated frames 19 and 0.13 (two random
            textures), 66 and 0.07 (two DAVIS clips).
    """

    flow_size: int = 256
    preset: DisPreset = "medium"
    finest_scale: int | None = None
    patch_stride: int | None = None
    exclude_margin: int = 2
    fb_alpha: float = 0.01
    fb_beta: float = 0.5
    min_background: float = 0.02
    cut_min_consistent: float = 0.2
    cut_error: float = 16.0


@dataclass
class LowResFrame:
    """A frame as the flow sees it: downscaled grey image and hole (flow resolution)."""

    gray: np.ndarray
    hole: np.ndarray


@dataclass
class PairFlow:
    """Completed background flow between frames ``a`` and ``b = a + 1`` (flow resolution).

    Attributes:
        to_a: ``h, w, 2`` float32 flow at ``b`` pointing into ``a``.
        to_b: ``h, w, 2`` float32 flow at ``a`` pointing into ``b``.
        ok_b: ``h, w`` bool, where ``to_a`` passed the forward-backward check.
        ok_a: ``h, w`` bool, where ``to_b`` passed the check (``None`` when not asked for).
        known: False when too little background was visible to estimate any motion.
        cut: True when ``a`` and ``b`` do not show the same scene.
        motion: Median background motion, in full-resolution px.
    """

    to_a: np.ndarray
    to_b: np.ndarray
    ok_b: np.ndarray
    ok_a: np.ndarray | None
    known: bool
    cut: bool
    motion: float


def flow_shape(height: int, width: int, flow_size: int) -> tuple[int, int]:
    """``(h, w)`` of the flow resolution for a ``height x width`` frame."""
    scale = min(1.0, flow_size / max(height, width))
    return max(8, round(height * scale)), max(8, round(width * scale))


def to_low_res(image: np.ndarray, mask: np.ndarray, shape: tuple[int, int], margin: int) -> LowResFrame:
    """Downscale an RGB frame and its hole to the flow resolution.

    A low-resolution pixel belongs to the hole when any full-resolution pixel under it does,
    grown by ``margin``.
    """
    h, w = shape
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if gray.shape != (h, w):
        gray = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)
        hole = cv2.resize(mask.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_AREA) > 0
    else:
        hole = mask.copy()
    if margin > 0 and hole.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        hole = cv2.dilate(hole.astype(np.uint8), k) > 0
    return LowResFrame(gray, hole)


def push_pull_fill(values: np.ndarray, known: np.ndarray, levels: int = 12) -> np.ndarray:
    """Fill unknown pixels of a float field with a smooth interpolation of the known ones.

    Pyramid "push-pull": known values are averaged down a pyramid (weighted by knownness),
    then every level fills its empty pixels from the coarser one on the way up.

    Args:
        values: ``h, w, c`` float32 field.
        known: ``h, w`` bool, pixels whose value is trusted.
        levels: Maximum pyramid depth.

    Returns:
        ``h, w, c`` float32 field equal to ``values`` where ``known``.
    """
    if known.all() or not known.any():
        return values.copy()
    known_u8 = known.view(np.uint8)
    weight = known.astype(np.float32)
    num = np.zeros_like(values)
    cv2.copyTo(values, known_u8, num)  # values * weight, weight being 0 or 1 here
    nums, weights = [num], [weight]
    while len(nums) < levels and min(weights[-1].shape) >= 4:
        n = cv2.pyrDown(nums[-1])
        nums.append(n if n.ndim == 3 else n[..., None])
        weights.append(cv2.pyrDown(weights[-1]))
    w_c = weights[-1][..., None]
    mean = np.float32(cv2.mean(values, mask=known_u8)[: values.shape[-1]])
    filled = np.where(w_c > 1e-6, nums[-1] / np.maximum(w_c, 1e-6), mean).astype(np.float32)
    # Coarse levels blend their own average with the coarser fill; the finest level's
    # weight is 0 or 1, so there the known values are kept and the rest is the fill.
    for num_l, w_l in zip(reversed(nums[1:-1]), reversed(weights[1:-1])):
        h, w = w_l.shape
        up = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        alpha = np.minimum(w_l, 1.0)[..., None]
        filled = num_l / np.maximum(w_l[..., None], 1e-6) * alpha + up * (1.0 - alpha)
    h, w = known.shape
    out = cv2.resize(filled.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    if out.ndim == 2:
        out = out[..., None]
    cv2.copyTo(values, known_u8, out)
    return out


def _unknown(h: int, w: int) -> PairFlow:
    """A pair whose motion could not be estimated (too little background)."""
    zero = np.zeros((h, w, 2), np.float32)
    none = np.zeros((h, w), bool)
    return PairFlow(zero, zero.copy(), none, none.copy(), known=False, cut=False, motion=float("nan"))


def _sq_norm(flow: np.ndarray) -> np.ndarray:
    """Squared length of each vector of an ``h, w, 2`` field."""
    return flow[..., 0] * flow[..., 0] + flow[..., 1] * flow[..., 1]


def _shift(hole: np.ndarray, flow: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``hole`` of the other frame as seen from this one (moved by the median known flow).

    Args:
        hole: ``h, w`` bool hole of the other frame.
        flow: ``h, w, 2`` flow from this frame into the other one.
        known: ``h, w`` bool, where ``flow`` is trusted.
    """
    if not hole.any():
        return hole
    sub = known[::3, ::3]
    sel = flow[::3, ::3][sub] if sub.any() else flow.reshape(-1, 2)
    dx, dy = np.median(sel, axis=0)
    if abs(dx) < 0.5 and abs(dy) < 0.5:
        return hole
    h, w = hole.shape
    m = np.float32([[1, 0, -dx], [0, 1, -dy]])
    out = cv2.warpAffine(hole.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
    return out > 0


class FlowEstimator:
    """Computes :class:`PairFlow` for consecutive low-resolution frames.

    Args:
        config: Flow settings.
        scale: Full-resolution px per flow-resolution px (for the reported motion).
    """

    def __init__(self, config: BackgroundFlowConfig, scale: float = 1.0) -> None:
        self.config = config
        self.scale = float(scale)
        self._dis = DISFlow(
            config.preset, use_initial_flow=False, finest_scale=config.finest_scale,
            patch_stride=config.patch_stride,
        )
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def grid(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-coordinate grids ``(xs, ys)`` of an ``h x w`` image, cached."""
        if self._grid is None or self._grid[0].shape != (h, w):
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (xs, ys)
        return self._grid

    def _consistent(self, f_here: np.ndarray, f_there: np.ndarray) -> np.ndarray:
        h, w = f_here.shape[:2]
        xs, ys = self.grid(h, w)
        mx, my = xs + f_here[..., 0], ys + f_here[..., 1]
        back = cv2.remap(f_there, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = _sq_norm(f_here + back)
        tol = self.config.fb_alpha * (_sq_norm(f_here) + _sq_norm(back))
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        return (err <= tol + self.config.fb_beta) & inside

    def __call__(self, a: LowResFrame, b: LowResFrame, *, check_forward: bool = True) -> PairFlow:
        """Background flow between ``a`` and the next frame ``b``.

        ``check_forward=False`` skips the consistency check of ``to_b`` (``ok_a`` is then
        ``None``): a causal filler only carries content forward, along ``to_a``.
        """
        cfg = self.config
        h, w = b.gray.shape
        bg_a, bg_b = ~a.hole, ~b.hole
        if bg_a.mean() < cfg.min_background or bg_b.mean() < cfg.min_background:
            return _unknown(h, w)
        # DIS assumes constant brightness: remove a global exposure change first.
        gray_a = a.gray
        shift = cv2.mean(b.gray, mask=bg_b.view(np.uint8))[0] - cv2.mean(a.gray, mask=bg_a.view(np.uint8))[0]
        if abs(shift) >= 1.0:
            gray_a = cv2.add(a.gray, shift) if shift > 0 else cv2.subtract(a.gray, -shift)
        raw_a = self._dis.compute(b.gray, gray_a)
        raw_b = self._dis.compute(gray_a, b.gray)
        # The flow is wrong not only inside each frame's own hole but also where it points
        # INTO the other frame's hole (background visible here, hidden there). The other
        # hole is located in this frame with the robust (median) background translation and
        # both are discarded before completion.
        hole_a_in_b = _shift(a.hole, raw_a, bg_b)
        hole_b_in_a = _shift(b.hole, raw_b, bg_a)
        bg_b = bg_b & ~hole_a_in_b
        bg_a = bg_a & ~hole_b_in_a
        if not bg_a.any() or not bg_b.any():
            return _unknown(h, w)
        to_a = push_pull_fill(raw_a, bg_b)
        to_b = push_pull_fill(raw_b, bg_a)
        xs, ys = self.grid(h, w)
        ok_b = self._consistent(to_a, to_b)
        ok_a = self._consistent(to_b, to_a) if check_forward else None

        good = ok_b & bg_b
        consistent = cv2.countNonZero(good.view(np.uint8)) / max(cv2.countNonZero(bg_b.view(np.uint8)), 1)
        warped = cv2.remap(gray_a, xs + to_a[..., 0], ys + to_a[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        err = float(np.median(cv2.absdiff(warped, b.gray)[bg_b]))
        if good.any():
            motion = float(np.median(np.hypot(to_a[..., 0], to_a[..., 1])[good])) * self.scale
        else:
            motion = float("inf")
        cut = consistent < cfg.cut_min_consistent or err > cfg.cut_error
        return PairFlow(to_a, to_b, ok_b, ok_a, known=True, cut=bool(cut), motion=motion)
