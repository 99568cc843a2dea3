"""What the latent warm start buys (``moebius-video eval warmstart``).

For one step budget ``N`` (the model's recommended count by default) and one strength ``s``
four ways of filling the same frames are compared:

- ``cold-N``: every frame from pure noise in ``N`` steps (:class:`MoebiusFiller`);
- ``cold-k``: every frame from pure noise in ``k = ceil(s * N)`` steps (the warm start's
  compute, spent cold);
- ``warm``: :class:`WarmStartFiller`, the previous result warped into the hole, ``k`` steps;
- ``warm-temporal``: the same from a causal temporal fill (Telea for the unseen rest).

Reported per method: denoising steps (network evaluations, counted with a forward hook) per
frame, the median fill time per frame, flicker (warping error of the hole between
consecutive outputs, x 1000, with the flow of the original frames, as
:mod:`moebius_video.eval.completion` measures it) and hole PSNR against the ground truth.

Frames: with ``--frames-dir`` a real clip (a clip folder with ``frames/``, or a frame
folder) with an RGBA cut-out from ``objects/`` pasted over it and moving across it (the
"objects" protocol of :mod:`moebius_video.eval.completion`: the clean clip is the ground
truth); with ``--clip-masks`` the clip's own object masks instead (no ground truth: PSNR is
``nan`` and the reference flow sees the object). Without ``--frames-dir``: a generated
panning texture with a moving elliptical hole. Masks are dilated as the engine does.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from moebius_video.bench.common import moving_ellipse_masks, panning_frames
from moebius_video.errors import InvalidArgumentError
from moebius_video.eval.completion import image_files, paste_object
from moebius_video.eval.metrics import FlowReference, json_ready, psnr, warping_error
from moebius_video.fill.base import Filler
from moebius_video.fill.moebius import REFERENCE_GUIDANCE, REFERENCE_STEPS, MoebiusFiller
from moebius_video.fill.warm import WarmStartConfig, WarmStartFiller, warm_schedule
from tracking.data import FRAMES_DIR
from tracking.geometry import dilate_mask

logger = logging.getLogger(__name__)

METHODS = ("cold-N", "cold-k", "warm", "warm-temporal")


@dataclass(frozen=True)
class WarmBenchConfig:
    """What :func:`measure_warm_start` runs.

    Attributes:
        strength: Warm-start strength ``s`` in (0, 1).
        num_inference_steps: The step budget ``N`` (``None``: the model's default).
        guidance_scale: Guidance weight (``None``: the model's default).
        seed: Noise seed (the same for every method and frame).
        methods: Subset of :data:`METHODS`; ratios are relative to ``cold-N`` (run always).
    """

    strength: float = 0.5
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    seed: int = 0
    methods: tuple[str, ...] = METHODS

    def __post_init__(self) -> None:
        if not 0.0 < self.strength < 1.0:
            raise InvalidArgumentError(f"strength must be in (0, 1), got {self.strength!r}")
        if self.num_inference_steps is not None and self.num_inference_steps < 1:
            raise InvalidArgumentError(
                f"num_inference_steps must be >= 1, got {self.num_inference_steps}"
            )
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise InvalidArgumentError(f"methods must be a non-empty subset of {METHODS}, got {self.methods}")


@dataclass
class BenchClip:
    """Frames to fill.

    Attributes:
        inputs: ``H, W, 3`` uint8 RGB frames the fillers get.
        holes: ``H, W`` bool (dilated) masks, one per frame.
        truth: The frames without the object (``None``: unknown).
        source: What the frames are, in words.
    """

    inputs: list[np.ndarray]
    holes: list[np.ndarray]
    truth: list[np.ndarray] | None
    source: str


@dataclass
class WarmMethodScore:
    """One method's numbers (means over frames unless said otherwise).

    Attributes:
        method: One of :data:`METHODS`.
        steps_per_frame: Network evaluations per frame (counted).
        ms_per_frame: Median fill time per frame (ms).
        flicker: Hole warping error of consecutive outputs (x 1000).
        psnr_hole: Hole PSNR against the ground truth (dB; ``nan`` without one).
        cold_frames: Frames started from pure noise.
        warm_frames: Frames started from the warm init.
        ms_ratio: ``ms_per_frame`` over cold-N's.
        flicker_ratio: ``flicker`` over cold-N's.
    """

    method: str
    steps_per_frame: float
    ms_per_frame: float
    flicker: float
    psnr_hole: float
    cold_frames: int
    warm_frames: int
    ms_ratio: float = 1.0
    flicker_ratio: float = 1.0


@dataclass
class WarmBenchResult:
    """What :func:`measure_warm_start` measured.

    Attributes:
        source: What the frames were.
        width: Frame width.
        height: Frame height.
        frames: Frames filled per method.
        num_inference_steps: ``N``.
        warm_steps: ``k = ceil(strength * N)``.
        strength: ``s``.
        hole_fraction: Mean share of the frame inside the hole.
        reference_flicker: The ground truth's own hole warping error (the floor; ``nan``
            without ground truth).
        scores: One row per method, ``cold-N`` first.
    """

    source: str
    width: int
    height: int
    frames: int
    num_inference_steps: int
    warm_steps: int
    strength: float
    hole_fraction: float
    reference_flicker: float
    scores: list[WarmMethodScore] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite numbers become ``None``)."""

        return json_ready(asdict(self))  # type: ignore[no-any-return]


# -- data ---------------------------------------------------------------------------------


def _read(path: Path, size: tuple[int, int], flags: int) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise InvalidArgumentError(f"cannot read image {str(path)!r}")
    if (img.shape[1], img.shape[0]) != size:
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


def _find_objects(frames_dir: Path) -> list[Path]:
    for root in (frames_dir.parent.parent / "objects", frames_dir.parent / "objects",
                 frames_dir.parent.parent.parent / "objects"):
        found = sorted(root.glob("*.png")) if root.is_dir() else []
        if found:
            return found
    return []


def synthetic_clip(num_frames: int, size: tuple[int, int], *, hole: float = 0.05,
                   dilate: int = 4) -> BenchClip:
    """A panning texture with a moving elliptical hole (ground truth: the texture).

    The inputs are black inside the hole: the fillers never see what they must recover.
    """
    width, height = size
    truth = panning_frames(num_frames, width, height)
    holes = [dilate_mask(m, dilate) for m in moving_ellipse_masks(num_frames, width, height, hole)]
    inputs = []
    for img, m in zip(truth, holes, strict=True):
        masked = img.copy()
        masked[m] = 0
        inputs.append(masked)
    return BenchClip(inputs, holes, truth, f"synthetic pan, hole {100 * hole:.0f} %")


def load_warm_clip(
    frames_dir: str | Path,
    num_frames: int,
    size: tuple[int, int],
    *,
    dilate: int = 4,
    clip_masks: bool = False,
    object_path: str | Path | None = None,
) -> BenchClip:
    """Frames of a real clip with an object to remove.

    Args:
        frames_dir: A clip folder (``frames/`` and ``masks/`` inside) or a frame folder.
        num_frames: At most this many frames (from the start).
        size: ``(width, height)`` the frames are resized to.
        dilate: Mask dilation in px.
        clip_masks: Use the clip's own masks (``masks/``; no ground truth) instead of a
            pasted object.
        object_path: RGBA cut-out to paste (default: the first of ``objects/`` found one or
            two folders above the clip).

    Returns:
        The clip; ``truth`` is the untouched frames with a pasted object, else ``None``.

    Raises:
        InvalidArgumentError: No frames, no masks with ``clip_masks``, or no object.
    """
    folder = Path(frames_dir)
    frame_files = image_files(folder / FRAMES_DIR) or image_files(folder)
    if not frame_files:
        raise InvalidArgumentError(f"no frames (jpg/png) in {str(folder)!r} or its frames/")
    frame_files = frame_files[:num_frames]
    clip_root = folder if image_files(folder / FRAMES_DIR) else folder.parent
    frames = [cv2.cvtColor(_read(p, size, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in frame_files]
    if clip_masks:
        mask_files = image_files(clip_root / "masks")
        if len(mask_files) < len(frames):
            raise InvalidArgumentError(
                f"--clip-masks needs one mask per frame in {str(clip_root / 'masks')!r}, "
                f"found {len(mask_files)} for {len(frames)} frames"
            )
        holes = [dilate_mask(_read(p, size, cv2.IMREAD_GRAYSCALE) > 127, dilate) for p in mask_files[: len(frames)]]
        return BenchClip(frames, holes, None, f"{clip_root.name}, its own masks")
    if object_path is None:
        objects = _find_objects(clip_root)
        if not objects:
            raise InvalidArgumentError(
                f"no RGBA objects found near {str(clip_root)!r}: pass an object or use clip masks"
            )
        object_path = objects[0]
    rgba = cv2.imread(str(object_path), cv2.IMREAD_UNCHANGED)
    if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise InvalidArgumentError(f"object {str(object_path)!r} is not an RGBA image")
    rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA)
    inputs, holes = [], []
    n = len(frames)
    for i, img in enumerate(frames):
        comp, m = paste_object(img, rgba, i / max(n - 1, 1))
        inputs.append(comp)
        holes.append(dilate_mask(m, dilate))
    return BenchClip(inputs, holes, frames, f"{clip_root.name} + {Path(object_path).stem}")


# -- measuring ----------------------------------------------------------------------------


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else float("nan")


def measure_warm_start(
    pipeline: Any, clip: BenchClip, config: WarmBenchConfig | None = None
) -> WarmBenchResult:
    """Fill ``clip`` with each method and score speed, flicker and hole PSNR.

    Args:
        pipeline: A ready :class:`~moebius_video.model.MoebiusInpaintingPipeline`.
        clip: Frames, holes and (optionally) ground truth; at least 2 frames.
        config: What to run; :class:`WarmBenchConfig` by default.

    Returns:
        One score per method, ``cold-N`` first, with ratios to it.

    Raises:
        InvalidArgumentError: Fewer than 2 frames, or mismatched lengths.
    """
    config = config or WarmBenchConfig()
    n_frames = len(clip.inputs)
    if n_frames < 2 or len(clip.holes) != n_frames or (clip.truth is not None and len(clip.truth) != n_frames):
        raise InvalidArgumentError(
            f"need at least 2 frames with one hole (and truth) each, got {n_frames} frames, "
            f"{len(clip.holes)} holes"
        )
    defaults = getattr(pipeline, "defaults", None) or {}
    steps = config.num_inference_steps or int(defaults.get("num_inference_steps", REFERENCE_STEPS))
    guidance = (config.guidance_scale if config.guidance_scale is not None
                else float(defaults.get("guidance_scale", REFERENCE_GUIDANCE)))
    k, _ = warm_schedule(steps, config.strength)
    height, width = clip.inputs[0].shape[:2]

    reference = clip.truth if clip.truth is not None else clip.inputs
    flow_ref = FlowReference()
    flows = [flow_ref(reference[i - 1], reference[i]) for i in range(1, n_frames)]
    ref_flicker = (
        _nanmean([warping_error(clip.truth[i - 1], clip.truth[i], *flows[i - 1], region=clip.holes[i])
                  for i in range(1, n_frames)])
        if clip.truth is not None else float("nan")
    )

    def make(method: str) -> Filler:
        if method == "cold-N":
            return MoebiusFiller(pipeline, num_inference_steps=steps, guidance_scale=guidance, seed=config.seed)
        if method == "cold-k":
            return MoebiusFiller(pipeline, num_inference_steps=k, guidance_scale=guidance, seed=config.seed)
        return WarmStartFiller(pipeline, WarmStartConfig(
            strength=config.strength, num_inference_steps=steps, guidance_scale=guidance,
            init="temporal" if method == "warm-temporal" else "warped", seed=config.seed,
        ))

    calls = [0]

    def count(*_: Any) -> None:
        calls[0] += 1

    # One untimed call: first-call allocations and lazy initialisation are not the method's.
    first = next((i for i, h in enumerate(clip.holes) if h.any()), None)
    if first is not None:
        MoebiusFiller(pipeline, num_inference_steps=1, guidance_scale=guidance).fill(
            clip.inputs[first], clip.holes[first])
    network = pipeline.network
    handle = network.register_forward_hook(count)
    result = WarmBenchResult(clip.source, width, height, n_frames, steps, k, config.strength,
                             float(np.mean([h.mean() for h in clip.holes])), ref_flicker)
    try:
        methods = ["cold-N"] + [m for m in config.methods if m != "cold-N"]
        for method in methods:
            result.scores.append(_run_method(method, make, clip, flows, calls))
    finally:
        handle.remove()
    base = result.scores[0]
    for s in result.scores:
        s.ms_ratio = _ratio(s.ms_per_frame, base.ms_per_frame)
        s.flicker_ratio = _ratio(s.flicker, base.flicker)
    return result


def _run_method(
    method: str,
    make: Callable[[str], Filler],
    clip: BenchClip,
    flows: Sequence[tuple[np.ndarray, np.ndarray]],
    calls: list[int],
) -> WarmMethodScore:
    filler = make(method)
    outs, times = [], []
    calls[0] = 0
    for img, hole in zip(clip.inputs, clip.holes, strict=True):
        start = time.perf_counter()
        res = filler.fill(img, hole)
        times.append(time.perf_counter() - start)
        out = img.copy()
        out[hole] = res.image[hole]  # composite: paste only inside the (dilated) mask
        outs.append(out)
    n = len(outs)
    flicker = _nanmean([warping_error(outs[i - 1], outs[i], *flows[i - 1], region=clip.holes[i])
                        for i in range(1, n)])
    psnr_hole = (
        _nanmean([v for v in (psnr(o, g, h) for o, g, h in zip(outs, clip.truth, clip.holes, strict=True))
                  if v != float("inf")])
        if clip.truth is not None else float("nan")
    )
    with_hole = sum(1 for h in clip.holes if h.any())
    if isinstance(filler, WarmStartFiller):
        cold, warm = filler.stats.cold_frames, filler.stats.warm_frames
    else:
        cold, warm = with_hole, 0
    score = WarmMethodScore(method, calls[0] / n, float(1000 * np.median(times)), flicker, psnr_hole,
                            cold, warm)
    logger.info("%s: %.2f steps/frame, %.1f ms/frame, flicker %.3f, hole PSNR %.2f",
                method, score.steps_per_frame, score.ms_per_frame, flicker, psnr_hole)
    return score


def format_table(result: WarmBenchResult) -> str:
    """The result as a plain-text table."""
    r = result
    lines = [
        f"{r.source}: {r.frames} frames at {r.width}x{r.height}, hole {100 * r.hole_fraction:.1f} %, "
        f"N = {r.num_inference_steps}, strength {r.strength:g} -> k = {r.warm_steps} steps",
        f"{'method':14} {'steps/fr':>8} {'ms/fr':>7} {'x ms':>5} {'flicker':>8} {'x flick':>7} "
        f"{'PSNRh':>6} {'cold':>4} {'warm':>4}",
    ]
    for s in r.scores:
        lines.append(f"{s.method:14} {s.steps_per_frame:8.2f} {s.ms_per_frame:7.1f} {s.ms_ratio:5.2f} "
                     f"{s.flicker:8.3f} {s.flicker_ratio:7.2f} {s.psnr_hole:6.2f} {s.cold_frames:4d} "
                     f"{s.warm_frames:4d}")
    lines.append(f"(ms: median per frame; flicker: hole warping error x1e-3 with the flow of the "
                 f"original frames; the ground truth's own: {r.reference_flicker:.3f})")
    return "\n".join(lines)


__all__ = [
    "METHODS",
    "BenchClip",
    "WarmBenchConfig",
    "WarmBenchResult",
    "WarmMethodScore",
    "format_table",
    "load_warm_clip",
    "measure_warm_start",
    "synthetic_clip",
]
