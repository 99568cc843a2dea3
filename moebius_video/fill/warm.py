"""Latent warm start for video (``--fill moebius-warm``).

A cold start denoises every frame's hole from pure noise in ``N`` DDIM steps. Consecutive
frames show almost the same background, so frame ``t`` can start from what frame ``t-1``
produced instead:

1. **Motion**: background flow from frame ``t`` into ``t-1`` on downscaled grey frames
   (:class:`~moebius_video.fill.flow.FlowEstimator`: DIS, the hole's flow completed from
   the surrounding background, forward-backward check, scene-cut detection).
2. **Init image**: the current frame outside the hole; inside it, the previous *result*
   warped to frame ``t`` along that flow (``init="warped"``), or the result of a causal
   :class:`~moebius_video.fill.temporal.TemporalFiller` with Telea as its spatial filler
   (``init="temporal"``: real background seen in earlier frames, Telea for the rest).
3. **Img2img**: the pipeline encodes the init image, noises it to ``strength`` and runs
   exactly ``ceil(strength * N)`` of the ``N`` steps of the schedule (see
   :func:`warm_schedule`); the noise seed is the same every frame, so static content gets
   the same noise and does not flicker.

Why the init is anchored. Left alone, the warped loop drifts: on the generated demo clip
the hole turned into a bright blob within 20 frames (up to +30 levels more than a cold
start's distance to the ring around the hole in 60 frames at 640x360, +50 reported on the
demo). Measured on one static frame with ``moebius-tiny`` (4 steps, strength 0.5): a
+20-level init comes out +22 (the loop's gain on the hole's mean colour is 1.1, above 1:
the sample-predicting network extrapolates the noisy latent at t = 499), and with the same
noise every frame each pass adds the same bias (+2 to +4 levels a pass from the true
background, 12 passes: +43); with fresh noise every pass it is a random walk instead. So
the colour of frame ``t`` must not come from frame ``t-1``: the init keeps the warped
result's detail (times ``detail``) on top of the low frequencies of the current frame's
push-pull fill of the hole (``anchor``). The loop's gain on the mean colour is then 0.

The first frame, the frame after :meth:`WarmStartFiller.reset`, and every frame whose warp
cannot be trusted (scene cut, motion that cannot be estimated, a large alignment error, a
hole that shares almost nothing with the previous one, a frame-size change) are cold
starts. Everything stays causal: the filler holds one previous frame.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError
from moebius_video.fill.base import Filler, FillResult, FutureFrame, check_frame_and_mask
from moebius_video.fill.flow import (
    BackgroundFlowConfig,
    FlowEstimator,
    LowResFrame,
    flow_shape,
    push_pull_fill,
    to_low_res,
)
from moebius_video.fill.moebius import REFERENCE_GUIDANCE, REFERENCE_STEPS, MoebiusFiller
from moebius_video.fill.opencv import OpenCVFiller
from moebius_video.fill.temporal import TemporalFiller
from tracking.geometry import mask_box

logger = logging.getLogger(__name__)

INIT_SOURCES = ("warped", "temporal")

#: Why a frame was filled cold (keys of :attr:`WarmStartStats.cold_reasons`).
COLD_REASONS = ("start", "size", "cut", "no-motion", "flow-error", "hole-jump")


@dataclass(frozen=True)
class WarmStartConfig:
    """Settings of :class:`WarmStartFiller`.

    Attributes:
        strength: Fraction of the schedule a warm frame runs, in (0, 1): the init latents
            are noised to the timestep ``ceil(strength * N)`` steps before the end.
        num_inference_steps: ``N``, the length of the DDIM schedule (``None``: the model's
            recommended count from ``pipeline.defaults``, else the reference's 20). Cold
            frames run all ``N`` steps.
        guidance_scale: Classifier-free guidance weight (``None``: the model's, else 4.5).
        init: What fills the hole of the init image: ``"warped"`` (the previous result
            carried along the flow) or ``"temporal"`` (a causal temporal fill, Telea for
            what no frame showed).
        seed: Seed of the noise, the same for every frame.
        flow_size: Long side (px) of the grey frames the flow is computed on.
        static_motion: Median background motion (full-resolution px) below which the
            previous result is reused without resampling (no bilinear blur on a still
            camera).
        max_flow_error: Cold start when the median grey error (0-255, flow resolution) of
            the aligned previous frame on consistent background exceeds this.
        min_hole_overlap: Cold start when the IoU of the hole with the previous hole carried
            along the flow is below this (a new object, a tracker jump); 0 disables it.
        anchor: The warped init's low frequencies in the hole (a Gaussian of this width
            relative to the hole's longer side) are replaced by those of the current
            frame's push-pull fill, so the colour cannot drift (0 = off; see the module
            docstring).
        detail: Gain (0-1) on the detail carried over from the previous result: below 1,
            detail the model invents and the fixed noise leaves decays instead of piling up.
    """

    strength: float = 0.5
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    init: Literal["warped", "temporal"] = "warped"
    seed: int = 0
    flow_size: int = 256
    static_motion: float = 0.2
    max_flow_error: float = 12.0
    min_hole_overlap: float = 0.05
    anchor: float = 0.125
    detail: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.strength < 1.0:
            raise InvalidArgumentError(f"strength must be in (0, 1), got {self.strength!r}")
        if self.num_inference_steps is not None and (
            not isinstance(self.num_inference_steps, int) or self.num_inference_steps < 1
        ):
            raise InvalidArgumentError(
                f"num_inference_steps must be a positive int or None, got {self.num_inference_steps!r}"
            )
        if self.guidance_scale is not None and not math.isfinite(self.guidance_scale):
            raise InvalidArgumentError(f"guidance_scale must be finite, got {self.guidance_scale!r}")
        if self.init not in INIT_SOURCES:
            raise InvalidArgumentError(f"init must be one of {INIT_SOURCES}, got {self.init!r}")
        if self.flow_size < 16:
            raise InvalidArgumentError(f"flow_size must be >= 16, got {self.flow_size}")
        if self.static_motion < 0:
            raise InvalidArgumentError(f"static_motion must be >= 0, got {self.static_motion}")
        if not self.max_flow_error > 0:
            raise InvalidArgumentError(f"max_flow_error must be > 0, got {self.max_flow_error}")
        if not self.anchor >= 0:
            raise InvalidArgumentError(f"anchor must be >= 0, got {self.anchor}")
        if not 0.0 <= self.detail <= 1.0:
            raise InvalidArgumentError(f"detail must be in [0, 1], got {self.detail}")
        if not 0.0 <= self.min_hole_overlap <= 1.0:
            raise InvalidArgumentError(
                f"min_hole_overlap must be in [0, 1], got {self.min_hole_overlap}"
            )


@dataclass
class WarmStartStats:
    """What a :class:`WarmStartFiller` did since it was built (kept across :meth:`reset`).

    Attributes:
        frames: Frames filled (including frames with an empty mask).
        cold_frames: Frames denoised from pure noise in ``N`` steps.
        warm_frames: Frames denoised from the warm init in ``ceil(strength * N)`` steps.
        total_steps: Network evaluations (denoising steps) over all frames.
        last_steps: Steps of the last frame (0 when its mask was empty).
        last_cold: Whether the last frame with a hole was a cold start.
        cold_reasons: Cold frames by reason (see :data:`COLD_REASONS`).
    """

    frames: int = 0
    cold_frames: int = 0
    warm_frames: int = 0
    total_steps: int = 0
    last_steps: int = 0
    last_cold: bool = True
    cold_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def steps_per_frame(self) -> float:
        """Mean denoising steps per filled frame (``nan`` before the first frame)."""
        return self.total_steps / self.frames if self.frames else float("nan")


def warm_schedule(num_inference_steps: int, strength: float) -> tuple[int, float]:
    """Steps a warm frame runs and the ``strength`` to hand the pipeline for exactly that.

    The pipeline (:func:`moebius_video.model.sampling.get_timesteps`) keeps the last
    ``int(N * strength)`` steps, which rounds down (``N = 4, strength = 0.3`` would run 1
    step). A warm frame runs ``k = ceil(strength * N)`` steps instead, so the pipeline is
    given ``(k + 0.5) / N``, whose ``int(N * .)`` is ``k`` free of float round-off; the
    noise level is the timestep of that ``k``-th last step either way. When ``k == N``
    there is no img2img start with all ``N`` steps (the pipeline's ``strength < 1`` keeps
    at most ``N - 1``), so the frame runs ``N`` steps from pure noise (``strength`` 1.0):
    a cold start in all but name.

    Args:
        num_inference_steps: ``N``, the schedule length.
        strength: Requested strength in (0, 1).

    Returns:
        ``(k, pipeline_strength)``.

    Raises:
        InvalidArgumentError: ``N < 1`` or ``strength`` outside (0, 1).
    """
    if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
        raise InvalidArgumentError(
            f"num_inference_steps must be a positive int, got {num_inference_steps!r}"
        )
    if not 0.0 < strength < 1.0:
        raise InvalidArgumentError(f"strength must be in (0, 1), got {strength!r}")
    n = num_inference_steps
    # 1e-9: strength * N a hair above an integer through round-off still counts as it.
    k = min(max(math.ceil(strength * n - 1e-9), 1), n)
    if k == n:
        return n, 1.0
    return k, (k + 0.5) / n


def _sample_flow(flow: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """Full-resolution sampling map of a low-resolution flow inside ``box`` only.

    Equivalent to ``cv2.resize(flow * scale, size)`` cropped to ``box`` (same half-pixel
    convention) plus the pixel grid, without building the full-resolution field.

    Args:
        flow: ``h, w, 2`` float32 flow (flow-resolution px).
        box: ``(y0, y1, x0, x1)`` full-resolution window.
        size: ``(height, width)`` of the full frame.

    Returns:
        ``y1 - y0, x1 - x0, 2`` float32 absolute source coordinates (full resolution).
    """
    y0, y1, x0, x1 = box
    h, w = size
    lh, lw = flow.shape[:2]
    sx, sy = lw / w, lh / h
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5) * sx - 0.5
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5) * sy - 0.5
    gx, gy = np.meshgrid(xs, ys)
    low = cv2.remap(flow, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    px, py = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    return cv2.merge([px + low[..., 0] / sx, py + low[..., 1] / sy])


class WarmStartFiller(Filler):
    """Moebius fill that starts each frame from the previous result (latent warm start).

    Args:
        pipeline: A ready :class:`~moebius_video.model.MoebiusInpaintingPipeline` (placed on
            its device and dtype by the caller).
        config: Settings; :class:`WarmStartConfig` by default.
        **overrides: Fields of ``config`` to replace (what ``--fill moebius-warm:key=value``
            passes).

    Raises:
        InvalidArgumentError: An unknown override or a setting out of range.
    """

    name = "moebius-warm"
    borrows = True  # its temporal fill, when it has one

    def __init__(self, pipeline: Any, config: WarmStartConfig | None = None, **overrides: Any) -> None:
        config = config or WarmStartConfig()
        if overrides:
            known = {f.name for f in dataclasses.fields(WarmStartConfig)}
            bad = sorted(set(overrides) - known)
            if bad:
                raise InvalidArgumentError(
                    f"unknown warm-start setting(s) {bad}; known: {sorted(known)}"
                )
            config = dataclasses.replace(config, **overrides)
        defaults = getattr(pipeline, "defaults", None) or {}
        steps = config.num_inference_steps
        if steps is None:
            steps = int(defaults.get("num_inference_steps", REFERENCE_STEPS))
        guidance = config.guidance_scale
        if guidance is None:
            guidance = float(defaults.get("guidance_scale", REFERENCE_GUIDANCE))
        self.pipeline = pipeline
        self.config = config
        self.num_inference_steps = int(steps)
        self.guidance_scale = float(guidance)
        self.warm_steps, self._warm_strength = warm_schedule(self.num_inference_steps, config.strength)
        #: A deterministic one-step model (``pipeline.deterministic``) has no noise and no
        #: trajectory to carry over: every frame runs cold, as ``--fill moebius`` does.
        self.deterministic = bool(getattr(pipeline, "deterministic", False))
        if self.deterministic:
            logger.warning(
                "the model is a deterministic one-step model: nothing to warm-start, every "
                "frame is filled cold (the same as --fill moebius)"
            )
        elif self.warm_steps == self.num_inference_steps:
            logger.warning(
                "strength %.3g of %d steps rounds up to all %d steps: warm frames run from "
                "pure noise (no saving)", config.strength, steps, steps,
            )
        self._flow_config = BackgroundFlowConfig(flow_size=config.flow_size)
        self._temporal = (
            TemporalFiller(flow_size=config.flow_size, spatial=OpenCVFiller("telea"))
            if config.init == "temporal"
            else None
        )
        self.stats = WarmStartStats()
        self.reset()

    @classmethod
    def from_pretrained(
        cls,
        model: str | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        **kwargs: Any,
    ) -> WarmStartFiller:
        """Load the pipeline as :meth:`MoebiusFiller.from_pretrained` does and wrap it.

        Args:
            model: Where the weights are (default: the shipped ``moebius-tiny``).
            device: ``"cpu"``, ``"cuda"``...; default CUDA when available.
            dtype: ``"fp32"``, ``"fp16"`` or ``"bf16"``; default fp16 on CUDA, fp32 on CPU.
            **kwargs: :class:`WarmStartConfig` fields.

        Raises:
            InvalidArgumentError: An unknown dtype or setting.
            CheckpointError: ``model`` cannot be loaded.
        """
        pipeline = MoebiusFiller.from_pretrained(model, device=device, dtype=dtype).pipeline
        return cls(pipeline, **kwargs)

    # -- state ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the previous frame: the next frame is a cold start (stats are kept)."""
        self._shape: tuple[int, int] | None = None
        self._estimator: FlowEstimator | None = None
        self._prev_low: LowResFrame | None = None
        self._prev_hole: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None
        if self._temporal is not None:
            self._temporal.reset()

    # -- helpers -------------------------------------------------------------------------

    def _generator(self) -> Any:
        import torch

        return torch.Generator(device="cpu").manual_seed(self.config.seed)

    def _warp_decision(
        self, low: LowResFrame, hole: np.ndarray
    ) -> tuple[str | None, np.ndarray | None, bool]:
        """Why frame ``t`` must be cold (``None``: it can be warm), the flow into ``t-1``
        (flow resolution) and whether the camera is static.

        ``hole`` is the undilated hole at flow resolution (``low.hole`` is dilated by the
        flow's exclusion margin, which would inflate the overlap of small holes).
        """
        prev = self._prev_low
        if prev is None or self._prev_out is None or self._prev_hole is None:
            return "start", None, True
        assert self._estimator is not None
        pair = self._estimator(prev, low, check_forward=False)
        if pair.cut:
            return "cut", None, False
        if not pair.known:
            return "no-motion", None, False
        flow = pair.to_a
        lh, lw = low.gray.shape
        xs, ys = self._estimator.grid(lh, lw)
        mx, my = xs + flow[..., 0], ys + flow[..., 1]
        def carried(prev_mask: np.ndarray) -> np.ndarray:
            return cv2.remap(prev_mask.view(np.uint8), mx, my, cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0

        background = pair.ok_b & ~low.hole & ~carried(prev.hole)
        if background.any():
            aligned = cv2.remap(prev.gray, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            error = float(np.median(cv2.absdiff(aligned, low.gray)[background]))
            if error > self.config.max_flow_error:
                return "flow-error", None, False
        if self.config.min_hole_overlap > 0:
            prev_hole = carried(self._prev_hole)
            union = np.count_nonzero(hole | prev_hole)
            iou = np.count_nonzero(hole & prev_hole) / union if union else 1.0
            if iou < self.config.min_hole_overlap:
                return "hole-jump", None, False
        return None, flow, pair.motion <= self.config.static_motion

    def _warped_init(self, image: np.ndarray, mask: np.ndarray, flow: np.ndarray, static: bool) -> np.ndarray:
        """The current frame with the previous result warped into its hole."""
        assert self._prev_out is not None
        init = image.copy()
        if static:
            init[mask] = self._prev_out[mask]
            return init
        found = mask_box(mask)
        assert found is not None
        box = y0, y1, x0, x1 = found.yx
        coords = _sample_flow(flow, box, mask.shape)
        warped = cv2.remap(self._prev_out, coords, None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        hole = mask[y0:y1, x0:x1]
        init[y0:y1, x0:x1][hole] = warped[hole]
        return init

    def _anchored(self, image: np.ndarray, mask: np.ndarray, init: np.ndarray) -> np.ndarray:
        """``init`` with its hole's low frequencies taken from the current frame's push-pull
        fill (and its detail scaled by ``detail``): the warm loop cannot drift in colour."""
        cfg = self.config
        if cfg.anchor <= 0 and cfg.detail >= 1:
            return init
        found = mask_box(mask)
        assert found is not None
        extent = max(found.height, found.width)
        margin = max(16, extent // 4)
        y0, y1, x0, x1 = mask_box(mask, margin=margin).yx  # type: ignore[union-attr]
        hole = mask[y0:y1, x0:x1]
        if hole.all():
            return init
        roi = image[y0:y1, x0:x1].astype(np.float32)
        pp = push_pull_fill(roi, ~hole)
        carried = init[y0:y1, x0:x1].astype(np.float32) - pp
        weight = hole.astype(np.float32)
        if cfg.anchor > 0:
            sigma = max(1.0, cfg.anchor * extent)
            num = cv2.GaussianBlur(carried * weight[..., None], (0, 0), sigma)
            den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
            carried = carried - num / np.maximum(den, 1e-6)
        new = pp + cfg.detail * carried
        out = init.copy()
        out[y0:y1, x0:x1][hole] = np.clip(np.rint(new[hole]), 0, 255).astype(np.uint8)
        return out

    def _run(self, image: np.ndarray, mask: np.ndarray, steps: int, strength: float) -> np.ndarray:
        out = self.pipeline(
            image,
            mask,
            num_inference_steps=steps,
            guidance_scale=self.guidance_scale,
            strength=strength,
            generator=self._generator(),
            output_type="np",
        )
        filled = np.clip(np.rint(out.images[0] * 255.0), 0, 255).astype(np.uint8)
        result = image.copy()
        result[mask] = filled[mask]
        return result

    # -- the filler ----------------------------------------------------------------------

    def fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        future: Sequence[FutureFrame] = (),
        trusted: bool = True,
    ) -> FillResult:
        """Fill ``image`` where ``mask`` is True, warm-started from the previous result.

        Args:
            image: ``H, W, 3`` uint8 RGB frame (the next one of the stream).
            mask: ``H, W`` bool, True where the content must be replaced.
            future: Ignored (the filler is causal).
            trusted: Passed to the temporal filler inside, when there is one.

        Returns:
            The filled frame; all hole pixels count as spatially filled.

        Raises:
            InvalidArgumentError: Bad image.
            InvalidMaskError: Bad mask.
        """
        check_frame_and_mask(image, mask)
        h, w = mask.shape
        reason: str | None = None
        if self._shape != (h, w):
            reason = "start" if self._shape is None else "size"
            self.reset()
        low_shape = flow_shape(h, w, self.config.flow_size)
        if reason is not None:
            self._shape = (h, w)
            self._estimator = FlowEstimator(self._flow_config, scale=w / low_shape[1])
        low = to_low_res(image, mask, low_shape, self._flow_config.exclude_margin)
        hole_low = (  # undilated, as to_low_res downscales it
            mask.copy() if low_shape == (h, w) else
            cv2.resize(mask.astype(np.uint8), low_shape[::-1], interpolation=cv2.INTER_AREA) > 0
        )
        temporal = (self._temporal.fill(image, mask, trusted=trusted).image
                    if self._temporal is not None else None)
        hole = int(np.count_nonzero(mask))
        stats = self.stats
        stats.frames += 1
        if hole == 0:
            result = image.copy()
            stats.last_steps = 0
        else:
            flow: np.ndarray | None = None
            static = True
            if reason is None and self.deterministic:
                reason = "deterministic"
            if reason is None:
                reason, flow, static = self._warp_decision(low, hole_low)
            if reason is None:
                if temporal is not None:
                    init = image.copy()
                    init[mask] = temporal[mask]
                else:
                    assert flow is not None
                    init = self._anchored(image, mask, self._warped_init(image, mask, flow, static))
                result = self._run(init, mask, self.num_inference_steps, self._warm_strength)
                steps = self.warm_steps
                stats.warm_frames += 1
                stats.last_cold = False
            else:
                logger.debug("cold start (%s) at frame %d", reason, stats.frames - 1)
                result = self._run(image, mask, self.num_inference_steps, 1.0)
                steps = self.num_inference_steps
                stats.cold_frames += 1
                stats.last_cold = True
                stats.cold_reasons[reason] = stats.cold_reasons.get(reason, 0) + 1
            stats.last_steps = steps
            stats.total_steps += steps
        self._prev_low = low
        self._prev_hole = hole_low
        self._prev_out = result
        return FillResult(result, spatial_pixels=hole)


__all__ = [
    "COLD_REASONS",
    "INIT_SOURCES",
    "WarmStartConfig",
    "WarmStartFiller",
    "WarmStartStats",
    "warm_schedule",
]
