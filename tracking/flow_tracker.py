"""The real tracker (``"flow"``): object-centred flow warping with colour refinement.

Per frame, at a working resolution (longest side ``flow.max_side``; matching and flow run on
grey, or, for an object whose parts differ in hue only and are flat in grey on the keyframe,
on the projection of the colours on their main axis inside the object):

1. the object's translation is found by matching its previous appearance (masked normalised
   cross-correlation) in a window around where its velocity predicts it — this is what keeps
   fast objects and pans from being left behind by a smooth flow;
2. a region around the object is cut from the new frame and, shifted by that translation,
   from the previous one; the dense flow between the two crops (DIS) only has to explain the
   residual motion, so it is small and reliable;
3. the previous mask is warped by the backward flow (bilinear, soft);
4. pixels whose colour changes across the warp (occlusion, disocclusion, failed flow) near
   the warped boundary become "unknown"; on the trailing side (where the object uncovers
   background) those of a colour the object never showed lean to the background;
5. a prior from the signed distance to the warped boundary is added to a colour
   log-likelihood ratio (object vs. a band around it, learnt on the keyframe and slowly
   updated); the result may move the boundary by at most ``max_grow``/``max_shrink`` px
   per frame (``strong_grow`` where the colour is clearly the object's);
6. clean-up: small detached components are dropped, holes filled; a remnant on the frame's
   border of an object that went out is dropped;
7. the mask is upsampled to the frame size. Pixels the refinement was unsure about
   (probability >= ``out_threshold``) are added to the returned mask only: coverage comes
   first for removal, but growth must not compound through the propagated state.

The propagated state is kept unbiased (threshold 0.5); every coverage-first choice applies
to the returned mask only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

import cv2
import numpy as np

from .appearance import color_index, histogram, log_ratio
from .base import MaskTracker, TrackState
from .errors import TrackingError
from .flow import FlowConfig, downscale, make_flow, working_size
from .geometry import ellipse_kernel, mask_box
from .warp import forward_backward_error, remap_maps


@dataclass(frozen=True)
class FlowTrackerConfig:
    """Settings of :class:`FlowTracker` (working-resolution pixels unless stated).

    Attributes:
        flow: the flow backend; its ``max_side`` is the working resolution.
        match: find the object's translation by template matching before the flow.
        min_contrast: when the object's grey levels on the keyframe vary less than this
            (standard deviation, 0–255) but its colours vary more, the matching and the flow
            run on the projection of the colours on their main axis inside the object instead
            of the grey (an object whose parts differ in hue only is textureless in grey);
            0 = always grey.
        match_size: the template is downscaled to at most this many pixels (longest side).
        search: search radius of the matching, as a fraction of the object's size.
        search_limit: cap of the search radius, as a fraction of the frame's longest side.
        match_gain: the matched position replaces the predicted one only when its
            correlation is higher by at least this much.
        roi_margin: margin of the region around the object, fraction of its size.
        fb_check: also run the forward–backward consistency check (a second flow).
        fb_tol: absolute FB error (px) above which a pixel is unreliable.
        fb_rel: FB error relative to the flow magnitude that is tolerated on top.
        photo_check: mark pixels whose colour changes across the warp as unreliable.
        photo_tol: colour difference (0–255, max over channels) above which a warped pixel
            is unreliable.
        band: half-width (px) of the band around the warped boundary where unreliable pixels
            become "unknown" and the colour model decides.
        color: refine with the colour model.
        color_bins: colour levels per RGB channel; ``None`` picks 32 for objects of at least
            ``4096`` working pixels on the keyframe and 16 for smaller ones (a histogram
            needs samples to be reliable).
        color_weight: weight of the colour log-ratio against the shape prior.
        prior_scale: softness (px) of the signed-distance prior.
        model_rate: update rate of the online colour model (0 = keyframe model only).
        max_grow: the refined mask stays within the warped mask dilated by this (px/frame).
        max_shrink: the refined mask keeps the warped mask eroded by this (px/frame).
        strong_grow: pixels up to this far (px/frame) from the warped mask may join when the
            colour alone is strongly for the object (parts lost earlier grow back).
        strong_ratio: colour log-likelihood ratio that counts as "strongly".
        unknown_logit: shape-prior logit given to unreliable pixels near the boundary
            (negative: the colour must favour the object to keep them).
        novel_logit: logit given (at most) to unreliable pixels near the boundary, on the
            side the object moves away from (relative to the background around it), whose
            colour the object's model has (almost) never seen (probability below
            ``novel_prob``): there the object uncovers background it hid. Without this a
            colour new to both models is neutral, the tie keeps it, and the mask sticks to the
            uncovered background and is carried with it (0 = off).
        novel_prob: see ``novel_logit``.
        redetect: when the object is lost (the mask vanished, or shrank below
            ``lost_fraction`` of its keyframe area away from the frame's border: a full
            occlusion), search the whole frame for the keyframe's appearance (masked
            normalised cross-correlation) and restart from its keyframe shape there. Not
            after an exit through the border: the object is gone until the next keyframe.
        lost_fraction: see ``redetect``.
        redetect_score: smallest correlation (0–1) accepted as a re-detection.
        threshold: object probability of the propagated mask (0.5 = unbiased).
        min_component: components smaller than this fraction of the largest are dropped.
        exit_fraction: a mask that touches the frame's border with less than this fraction
            of the keyframe's area is what is left of an object that went out: it is
            dropped (an empty mask) rather than left stuck on the border.
        fill_holes: fill the holes of the propagated mask.
        close_radius: radius of a morphological closing of the propagated mask (0 = none;
            closing grows the mask a little on every frame).
        out_threshold: pixels within reach of the warped mask (``max_grow``, ``strong_grow``)
            whose object probability is at least this are added to the returned mask only
            (coverage first, without the growth compounding through the propagated state).
        out_fill_holes: fill the holes of the returned mask only.
        out_grow: radius (full-resolution px) by which the returned mask is dilated; the
            propagated mask is not grown (growth would compound from frame to frame).
    """

    flow: FlowConfig = field(
        default_factory=lambda: FlowConfig(method="dis", preset="ultrafast", max_side=427)
    )
    match: bool = True
    min_contrast: float = 4.0
    match_size: int = 64
    search: float = 0.5
    search_limit: float = 0.1
    match_gain: float = 0.15
    roi_margin: float = 0.3
    fb_check: bool = False
    fb_tol: float = 1.5
    fb_rel: float = 0.1
    photo_check: bool = True
    photo_tol: float = 40.0
    band: int = 4
    color: bool = True
    color_bins: int | None = None
    color_weight: float = 1.0
    prior_scale: float = 2.0
    model_rate: float = 0.05
    max_grow: int = 2
    max_shrink: int = 2
    strong_grow: int = 6
    strong_ratio: float = 2.0
    unknown_logit: float = 0.0
    novel_logit: float = -0.5
    novel_prob: float = 1e-4
    redetect: bool = True
    lost_fraction: float = 0.25
    redetect_score: float = 0.35
    threshold: float = 0.5
    min_component: float = 0.05
    exit_fraction: float = 0.02
    fill_holes: bool = True
    close_radius: int = 0
    out_threshold: float = 0.3
    out_fill_holes: bool = False
    out_grow: int = 0

    def __post_init__(self) -> None:
        for name in ("threshold", "out_threshold"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise TrackingError(f"{name} must be in (0, 1), got {value}")
        for name in ("max_grow", "max_shrink", "strong_grow", "close_radius", "out_grow", "band"):
            if getattr(self, name) < 0:
                raise TrackingError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.color_bins is not None and self.color_bins not in (4, 8, 16, 32, 64):
            raise TrackingError(
                f"color_bins must be 4, 8, 16, 32, 64 or None, got {self.color_bins}"
            )


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _project(rgb: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """``H,W`` uint8 grey of an RGB image by a ``1,4`` colour-to-grey matrix."""
    out = cv2.transform(rgb, proj)
    return np.ascontiguousarray(out if out.ndim == 2 else out[..., 0])


def _crop(image: np.ndarray, x0: int, y0: int, w: int, h: int, replicate: bool) -> np.ndarray:
    """``image[y0:y0+h, x0:x0+w]`` padded outside the image (replicated border or zeros)."""
    height, width = image.shape[:2]
    if 0 <= x0 and 0 <= y0 and x0 + w <= width and y0 + h <= height:
        return image[y0 : y0 + h, x0 : x0 + w]
    rows = np.arange(y0, y0 + h)
    cols = np.arange(x0, x0 + w)
    out = image[np.clip(rows, 0, height - 1)][:, np.clip(cols, 0, width - 1)]
    if not replicate:
        out = out.copy()
        out[(rows < 0) | (rows >= height)] = 0
        out[:, (cols < 0) | (cols >= width)] = 0
    return out


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed distance (px) to the boundary of a bool mask: positive inside."""
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    return inside - outside


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a bool mask (background not connected to the border)."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    cv2.floodFill(padded, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    return mask | (padded[1:-1, 1:-1] == 0)


def _filter_components(mask: np.ndarray, seed: np.ndarray, min_fraction: float) -> np.ndarray:
    """Keep the components of ``mask`` that overlap ``seed`` and are not tiny."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    areas[0] = 0
    keep = np.zeros(n, bool)
    keep[np.unique(labels[seed & mask])] = True
    keep &= areas >= min_fraction * areas.max()
    keep[0] = False
    return keep[labels]


def _relative_motion(warped: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Displacement (px) of the object relative to the background around it.

    The difference of the median (backward) flows of a ring of background around the warped
    mask and of the mask itself; zero when the ring is too small to tell.
    """
    w8 = warped.astype(np.uint8)
    ring = (cv2.dilate(w8, ellipse_kernel(8)) > 0) & ~(cv2.dilate(w8, ellipse_kernel(3)) > 0)
    if np.count_nonzero(ring) < 16:
        return np.zeros(2, np.float32)
    return np.median(flow[ring], axis=0) - np.median(flow[warped], axis=0)


def _trailing(dist: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Pixels on the trailing side of the object, where it uncovers the background.

    That is where the outward normal of the warped boundary (``-grad dist``) points against
    the object's displacement ``rel`` relative to the background.
    """
    if float(np.hypot(*rel)) < 0.25:
        return np.zeros(dist.shape, bool)
    gx = cv2.Sobel(dist, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(dist, cv2.CV_32F, 0, 1, ksize=3)
    return gx * float(rel[0]) + gy * float(rel[1]) > 0


class FlowTracker(MaskTracker):
    """Optical-flow mask propagation that holds on real footage (see the module doc)."""

    name: ClassVar[str] = "flow"

    def __init__(self, config: FlowTrackerConfig | None = None, **overrides: Any) -> None:
        """Configure the tracker.

        Args:
            config: the settings (default :class:`FlowTrackerConfig`).
            **overrides: fields of :class:`FlowTrackerConfig` to replace.

        Raises:
            TrackingError: unknown setting.
        """
        config = config or FlowTrackerConfig()
        names = {f.name for f in fields(FlowTrackerConfig)}
        unknown = set(overrides) - names
        if unknown:
            raise TrackingError(f"unknown FlowTracker settings {sorted(unknown)}")
        self.config = replace(config, **overrides)
        self.flow = make_flow(self.config.flow)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _small(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        rgb = frame if size == frame.shape[:2] else downscale(frame, size)
        return rgb, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    @staticmethod
    def _band(mask: np.ndarray) -> np.ndarray:
        """The background band around a mask used by the colour model."""
        area = max(int(np.count_nonzero(mask)), 1)
        outer = float(np.clip(0.25 * np.sqrt(area), 6, 40))
        dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
        return (dist > 2.5) & (dist <= outer)

    def _models(
        self, rgb: np.ndarray, mask: np.ndarray, bins: int
    ) -> tuple[np.ndarray, np.ndarray]:
        idx = color_index(rgb, bins)
        core = cv2.erode(mask.astype(np.uint8), ellipse_kernel(1)) > 0
        return (
            histogram(idx, core if core.any() else mask, bins**3),
            histogram(idx, self._band(mask), bins**3),
        )

    def _match(
        self,
        prev_gray: np.ndarray,
        prev_mask: np.ndarray,
        gray: np.ndarray,
        box: tuple[int, int, int, int],
        guess: np.ndarray,
    ) -> np.ndarray:
        """Translation ``(tx, ty)`` of the object from the previous frame to ``gray``."""
        x0, y0, x1, y1 = box
        bw, bh = x1 - x0, y1 - y0
        template = prev_gray[y0:y1, x0:x1].astype(np.float32)
        inside = prev_mask[y0:y1, x0:x1]
        if inside.sum() < 4 or float(template[inside].std()) < 1.0:
            return guess
        template[~inside] = float(template[inside].mean())
        limit = self.config.search_limit * max(gray.shape[:2])
        radius = int(max(8, min(self.config.search * max(bw, bh), limit)))
        gx, gy = int(round(guess[0])), int(round(guess[1]))
        window = _crop(
            gray,
            x0 + gx - radius,
            y0 + gy - radius,
            bw + 2 * radius,
            bh + 2 * radius,
            replicate=True,
        ).astype(np.float32)
        scale = min(1.0, self.config.match_size / max(bw, bh))
        if scale < 1.0:
            tw, th = max(2, round(bw * scale)), max(2, round(bh * scale))
            template = cv2.resize(template, (tw, th), interpolation=cv2.INTER_AREA)
            ww = max(tw + 1, round(window.shape[1] * scale))
            wh = max(th + 1, round(window.shape[0] * scale))
            window = cv2.resize(window, (ww, wh), interpolation=cv2.INTER_AREA)
        score = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
        if not np.isfinite(score).all():
            return guess
        _, best, _, loc = cv2.minMaxLoc(score)
        cy = min(score.shape[0] - 1, round(radius * scale))
        cx = min(score.shape[1] - 1, round(radius * scale))
        if best - float(score[cy, cx]) < self.config.match_gain:
            return guess
        return np.array([gx - radius + loc[0] / scale, gy - radius + loc[1] / scale], np.float32)

    def _empty(
        self, state: TrackState, gray: np.ndarray, rgb: np.ndarray, extras: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, TrackState]:
        extras["soft"] = np.zeros(gray.shape, np.float32)
        extras["rgb"] = rgb
        mask = np.zeros(state.frame_shape, bool)
        return mask, replace(
            state, index=state.index + 1, mask=mask, prev_gray=gray, prev_flow=None, extras=extras
        )

    def _redetect(
        self,
        gray: np.ndarray,
        extras: dict[str, np.ndarray],
    ) -> np.ndarray | None:
        """Find the keyframe's appearance of the object anywhere in ``gray``.

        Masked normalised cross-correlation of the keyframe's template over the whole frame
        (downscaled like :meth:`_match`). Returns the working-resolution mask of the
        keyframe's shape placed at the best match, or ``None`` when the best correlation is
        below ``redetect_score`` (the object is not visible).
        """
        template = extras.get("anchor_gray")
        shape = extras.get("anchor_shape")
        if template is None or shape is None:
            return None
        inside = shape > 0
        th, tw = template.shape[:2]
        height, width = gray.shape[:2]
        if inside.sum() < 16 or th >= height or tw >= width:
            return None
        tmpl = template.astype(np.float32)
        if float(tmpl[inside].std()) < 1.0:
            return None
        tmpl[~inside] = float(tmpl[inside].mean())
        image = gray.astype(np.float32)
        scale = min(1.0, self.config.match_size / max(th, tw))
        if scale < 1.0:
            tmpl = cv2.resize(
                tmpl, (max(2, round(tw * scale)), max(2, round(th * scale))), cv2.INTER_AREA
            )
            image = cv2.resize(
                image,
                (
                    max(tmpl.shape[1] + 1, round(width * scale)),
                    max(tmpl.shape[0] + 1, round(height * scale)),
                ),
                interpolation=cv2.INTER_AREA,
            )
        score = cv2.matchTemplate(image, tmpl, cv2.TM_CCOEFF_NORMED)
        if not np.isfinite(score).all():
            return None
        _, best, _, loc = cv2.minMaxLoc(score)
        if best < self.config.redetect_score:
            return None
        x0 = min(width - tw, round(loc[0] / scale))
        y0 = min(height - th, round(loc[1] / scale))
        placed = np.zeros((height, width), bool)
        placed[y0 : y0 + th, x0 : x0 + tw] = inside
        return placed

    def _lost(
        self, state: TrackState, gray: np.ndarray, rgb: np.ndarray, extras: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, TrackState]:
        """The previous mask is empty: re-detect the object, else return an empty mask."""
        exited = bool(extras.get("exited", False))
        found = self._redetect(gray, extras) if self.config.redetect and not exited else None
        if found is None:
            return self._empty(state, gray, rgb, extras)
        return self._placed(state, gray, rgb, extras, found)

    def _placed(
        self,
        state: TrackState,
        gray: np.ndarray,
        rgb: np.ndarray,
        extras: dict[str, np.ndarray],
        small: np.ndarray,
    ) -> tuple[np.ndarray, TrackState]:
        """Restart from a working-resolution mask found by re-detection."""
        extras["soft"] = small.astype(np.float32)
        extras["rgb"] = rgb
        extras["velocity"] = np.zeros(2, np.float32)
        h, w = state.frame_shape
        if small.shape == (h, w):
            mask = small.copy()
        else:
            mask = cv2.resize(small.view(np.uint8) * np.uint8(255), (w, h)) >= 128
        return mask, replace(
            state, index=state.index + 1, mask=mask, prev_gray=gray, prev_flow=None, extras=extras
        )

    def _projection(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """``1,4`` colour-to-grey matrix for an object textureless in grey, else ``None``."""
        if self.config.min_contrast <= 0 or np.count_nonzero(mask) < 16:
            return None
        pixels = rgb[mask].astype(np.float32)
        if float((pixels @ _LUMA).std()) >= self.config.min_contrast:
            return None
        values, vectors = np.linalg.eigh(np.cov(pixels.T))
        axis = vectors[:, -1]
        if float(np.sqrt(max(values[-1], 0.0))) < 2 * self.config.min_contrast:
            return None
        axis = axis / float(np.abs(axis).sum())
        if axis.sum() < 0:
            axis = -axis
        # 128 + (rgb - 128) @ axis stays within [0, 255]
        return np.array([[*axis, 128.0 * (1.0 - axis.sum())]], np.float32)

    def _gray(self, rgb: np.ndarray, gray: np.ndarray, extras: dict[str, np.ndarray]) -> np.ndarray:
        proj = extras.get("projection")
        if proj is None:
            return gray
        return _project(rgb, proj)

    # ------------------------------------------------------------------ interface
    def _init(self, frame: np.ndarray, mask: np.ndarray, index: int) -> TrackState:
        size = working_size(*frame.shape[:2], self.config.flow.max_side)
        rgb, gray = self._small(frame, size)
        soft = cv2.resize(mask.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA)
        if not (soft >= 0.5).any():  # a tiny object: keep whatever the resize left
            soft = (soft > 0).astype(np.float32)
        proj = self._projection(rgb, soft >= 0.5)
        if proj is not None:
            gray = _project(rgb, proj)
        extras: dict[str, np.ndarray] = {
            "soft": soft,
            "rgb": rgb,
            "velocity": np.zeros(2, np.float32),
            "anchor_area": np.asarray(np.count_nonzero(soft >= 0.5), np.int64),
        }
        if proj is not None:
            extras["projection"] = proj
        box = mask_box(soft >= 0.5)
        if box is not None:
            x0, y0, x1, y1 = box
            extras["anchor_gray"] = gray[y0:y1, x0:x1].copy()
            extras["anchor_shape"] = (soft[y0:y1, x0:x1] >= 0.5).astype(np.uint8)
        if self.config.color:
            bins = self.config.color_bins
            if bins is None:
                bins = 32 if np.count_nonzero(soft >= 0.5) >= 4096 else 16
            fg, bg = self._models(rgb, soft >= 0.5, bins)
            extras.update(fg=fg, bg=bg)
        return TrackState(
            index=index,
            mask=mask,
            prev_gray=gray,
            anchor_mask=mask,
            anchor_index=index,
            extras=extras,
        )

    def _step(self, state: TrackState, frame: np.ndarray) -> tuple[np.ndarray, TrackState]:
        cfg = self.config
        size = state.prev_gray.shape[:2]
        height, width = size
        rgb, gray = self._small(frame, size)
        extras = dict(state.extras)
        gray = self._gray(rgb, gray, extras)
        prev_soft = extras["soft"]
        prev_mask = prev_soft >= 0.5
        box = mask_box(prev_mask)
        if box is None:
            return self._lost(state, gray, rgb, extras)
        # 1. object translation
        velocity = extras.get("velocity", np.zeros(2, np.float32))
        shift = (
            self._match(state.prev_gray, prev_mask, gray, box, velocity)
            if cfg.match
            else np.zeros(2, np.float32)
        )
        tx, ty = int(round(float(shift[0]))), int(round(float(shift[1])))
        # 2. region around the object in the new frame, and the shifted one in the old
        x0, y0, x1, y1 = box
        margin = int(max(8, cfg.roi_margin * max(x1 - x0, y1 - y0)))
        rx0, ry0 = max(0, x0 + tx - margin), max(0, y0 + ty - margin)
        rx1, ry1 = min(width, x1 + tx + margin), min(height, y1 + ty + margin)
        if rx1 - rx0 < 2 or ry1 - ry0 < 2:  # the object left the frame
            extras["exited"] = np.asarray(True)
            return self._empty(state, gray, rgb, extras)
        if rx1 - rx0 < 32:
            rx0, rx1 = max(0, min(rx0, rx1 - 32)), min(width, max(rx1, rx0 + 32))
        if ry1 - ry0 < 32:
            ry0, ry1 = max(0, min(ry0, ry1 - 32)), min(height, max(ry1, ry0 + 32))
        rw, rh = rx1 - rx0, ry1 - ry0
        px, py = rx0 - tx, ry0 - ty
        new_gray = np.ascontiguousarray(gray[ry0:ry1, rx0:rx1])
        new_rgb = np.ascontiguousarray(rgb[ry0:ry1, rx0:rx1])
        old_gray = np.ascontiguousarray(_crop(state.prev_gray, px, py, rw, rh, True))
        old_soft = np.ascontiguousarray(_crop(prev_soft, px, py, rw, rh, False))
        # 3. residual flow and warp
        # warm start from the previous region's flow (used when the region kept its size)
        flow = self.flow.compute(new_gray, old_gray, state.prev_flow)
        map_x, map_y = remap_maps(flow)
        old_rgb = None
        if cfg.photo_check:  # one remap for the image and the mask (mask as channel 4)
            old_rgb = _crop(extras["rgb"], px, py, rw, rh, True)
            old = cv2.merge((*cv2.split(old_rgb), (old_soft * 255 + 0.5).astype(np.uint8)))
            both = cv2.remap(
                old, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
            )
            warped = both[..., 3] >= 128
        else:
            prior = cv2.remap(
                old_soft,
                map_x,
                map_y,
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            warped = prior >= 0.5
        if not warped.any():
            return self._empty(state, gray, rgb, extras)
        # 4. shape prior; unreliable pixels near the boundary become unknown
        dist = _signed_distance(warped)
        logit = dist / cfg.prior_scale
        bad = np.zeros((rh, rw), bool)
        if old_rgb is not None:
            diff = cv2.absdiff(new_rgb, both[..., :3])
            diff = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])
            bad |= diff > cfg.photo_tol
        if cfg.fb_check:
            forward = self.flow.compute(old_gray, new_gray, None)
            err = forward_backward_error(flow, forward)
            bad |= err > cfg.fb_tol + cfg.fb_rel * np.linalg.norm(flow, axis=2)
        rel = _relative_motion(warped, flow)
        unknown = bad & (np.abs(dist) <= cfg.band)
        logit[unknown] = cfg.unknown_logit
        # 5. colour, bounded change
        ratio = None
        if cfg.color:
            bins = round(len(extras["fg"]) ** (1 / 3))
            idx = color_index(new_rgb, bins)
            ratio = log_ratio(idx, extras["fg"], extras["bg"])
            logit += cfg.color_weight * ratio
            if cfg.novel_logit != 0 and unknown.any():
                novel = unknown & (extras["fg"][idx] < cfg.novel_prob)
                if novel.any():
                    novel &= _trailing(dist, rel)
                    logit[novel] = np.minimum(logit[novel], cfg.novel_logit)
        roi = logit >= np.log(cfg.threshold / (1 - cfg.threshold))
        w8 = warped.astype(np.uint8)
        reach = (cv2.dilate(w8, ellipse_kernel(cfg.max_grow)) > 0) if cfg.max_grow > 0 else warped
        if ratio is not None and cfg.strong_grow > cfg.max_grow:
            far = cv2.dilate(w8, ellipse_kernel(cfg.strong_grow)) > 0
            reach = reach | (far & (ratio >= cfg.strong_ratio))
        roi &= reach
        roi |= (cv2.erode(w8, ellipse_kernel(cfg.max_shrink)) > 0) if cfg.max_shrink > 0 else warped
        # 6. clean-up
        if cfg.close_radius > 0:
            roi = (
                cv2.morphologyEx(roi.astype(np.uint8), cv2.MORPH_CLOSE, ellipse_kernel(cfg.close_radius)) > 0
            )
        roi = _filter_components(roi, warped, cfg.min_component)
        if cfg.fill_holes:
            roi = _fill_holes(roi)
        small = np.zeros(size, bool)
        small[ry0:ry1, rx0:rx1] = roi
        area = int(np.count_nonzero(roi))
        on_border = small[0].any() or small[-1].any() or small[:, 0].any() or small[:, -1].any()
        anchor_area = float(extras.get("anchor_area", 0))
        was_on_border = bool(extras.get("exited", False))
        # a mask that shrinks on (or after touching) the border is an object going out
        extras["exited"] = np.asarray(
            on_border or (was_on_border and area < cfg.lost_fraction * anchor_area)
        )
        if on_border and area < cfg.exit_fraction * anchor_area:
            extras["exited"] = np.asarray(True)  # no re-detection after an exit
            return self._empty(state, gray, rgb, extras)  # what is left of an exit
        if (
            cfg.redetect
            and not (on_border or was_on_border)
            and area < cfg.lost_fraction * anchor_area
        ):
            found = self._redetect(gray, extras)
            if found is not None:  # the object was lost (occluded): start again from there
                return self._placed(state, gray, rgb, extras, found)
        out_roi = roi
        if cfg.out_threshold < cfg.threshold:  # unsure pixels go to the output only
            unsure = logit >= np.log(cfg.out_threshold / (1 - cfg.out_threshold))
            out_roi = roi | (unsure & reach)
        if cfg.color and cfg.model_rate > 0 and roi.any():
            fg_new, bg_new = self._models(new_rgb, roi, bins)
            a = cfg.model_rate
            extras["fg"] = ((1 - a) * extras["fg"] + a * fg_new).astype(np.float32)
            extras["bg"] = ((1 - a) * extras["bg"] + a * bg_new).astype(np.float32)
        # the object's velocity from the pixels the refinement kept: what the warp carried
        # but the colour/photo checks rejected (leaks, uncovered background, occluders)
        # would pull it towards the background's motion
        support = roi & warped
        if np.count_nonzero(support) < 16:
            support = warped
        residual = np.median(flow[support], axis=0)
        extras["velocity"] = np.array([tx - residual[0], ty - residual[1]], np.float32)
        soft = small.astype(np.float32)
        extras["soft"] = soft
        extras["rgb"] = rgb
        # 7. full resolution
        h, w = state.frame_shape
        if (h, w) == size:
            mask = np.zeros(size, bool)
            mask[ry0:ry1, rx0:rx1] = out_roi
        else:  # upsample the region only
            mask = np.zeros((h, w), bool)
            sx, sy = w / width, h / height
            fx0, fy0 = int(rx0 * sx), int(ry0 * sy)
            fx1, fy1 = min(w, int(np.ceil(rx1 * sx))), min(h, int(np.ceil(ry1 * sy)))
            mask[fy0:fy1, fx0:fx1] = (
                cv2.resize(
                    out_roi.view(np.uint8) * np.uint8(255),
                    (fx1 - fx0, fy1 - fy0),
                    interpolation=cv2.INTER_LINEAR,
                )
                >= 128
            )
        if cfg.out_fill_holes:
            mask = _fill_holes(mask)
        if cfg.out_grow > 0:
            mask = cv2.dilate(mask.astype(np.uint8), ellipse_kernel(cfg.out_grow)) > 0
        return mask, replace(
            state, index=state.index + 1, mask=mask, prev_gray=gray, prev_flow=flow, extras=extras
        )


class FastFlowTracker(FlowTracker):
    """:class:`FlowTracker` at a smaller working resolution (320 px): about twice as fast."""

    name: ClassVar[str] = "flow-fast"

    def __init__(self, config: FlowTrackerConfig | None = None, **overrides: Any) -> None:
        """Configure the tracker (same settings as :class:`FlowTracker`).

        Args:
            config: the settings (default: :class:`FlowTrackerConfig` with a 320 px flow).
            **overrides: fields of :class:`FlowTrackerConfig` to replace.
        """
        config = config or FlowTrackerConfig(
            flow=FlowConfig(method="dis", preset="ultrafast", max_side=320)
        )
        super().__init__(config, **overrides)


__all__ = ["FastFlowTracker", "FlowTracker", "FlowTrackerConfig"]
