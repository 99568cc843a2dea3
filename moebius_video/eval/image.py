"""Image-inpainting evaluation (``moebius-video eval image DATA_DIR``).

Held-out photos and video frames (the evaluation split of
:func:`moebius_video.train.data.eval_samples`, never used for training) are cropped to
square ``256`` and ``512`` px samples, each with a hole of one of the mask kinds (``thin``,
``medium``, ``thick``, ``box``, ``object``). Every method gets the image with the hole
blanked out and fills it; its output is pasted over the original INSIDE the hole only, then
compared with the original:

- hole PSNR (dB, data range 255, all channels of the hole pixels);
- hole SSIM: the SSIM map of the protocol (65-px uniform window, see
  :mod:`moebius_video.eval.metrics`) of the composite against the original, averaged over
  the hole pixels (not over its bounding box);
- hole L1: mean absolute error in [0, 255] over the hole pixels;
- ms per crop: the median wall time of the method call (the first call of each model row
  is left out as warm-up).

Methods: OpenCV Telea and Navier-Stokes (``cv2.inpaint``, radius 5) and the Moebius model
at each requested step count (rows ``moebius@1``, ``moebius@4``, ...). The verdicts say
whether the model at its default step count beats Telea, and NS, on both hole PSNR and
hole SSIM at each crop size; the shipped model has to, to be the default filler.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError
from moebius_video.eval.metrics import json_ready, psnr, ssim

if TYPE_CHECKING:
    from moebius_video.model.pipeline import MoebiusInpaintingPipeline

logger = logging.getLogger(__name__)

BASELINES = ("telea", "ns")
DEFAULT_STEPS = 4
DEFAULT_GUIDANCE = 1.0
DEFAULT_MODEL = "moebius-tiny"
_CV2_FLAGS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
#: Examples grid: px between tiles and height of the label strip.
EXAMPLE_GAP = 4
EXAMPLE_HEADER = 22


class ImageSample(Protocol):
    """What the evaluation reads of a sample (``moebius_video.train.data.EvalSample``)."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    kind: str


@dataclass(frozen=True)
class ImageEvalConfig:
    """What :func:`evaluate_image` runs.

    Attributes:
        sizes: Square crop sizes in px (one sample list per size).
        count: Samples per crop size.
        steps: Step counts of the model rows (one row each).
        default_steps: The model's default step count (the row the verdict reads).
        guidance: Classifier-free guidance weight of the model.
        count_slow: At most this many samples for model rows with more steps than
            ``default_steps`` (0 = no cap): their means are over the first samples only.
        seed: Seed of the samples and of the model's noise.
        kinds: Mask kinds to sample (empty = every kind).
        radius: Inpainting radius of the OpenCV baselines.
        baselines: OpenCV methods to run (subset of ``("telea", "ns")``).
    """

    sizes: tuple[int, ...] = (256, 512)
    count: int = 24
    steps: tuple[int, ...] = (1, 4, 20)
    default_steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    count_slow: int = 8
    seed: int = 0
    kinds: tuple[str, ...] = ()
    radius: int = 5
    baselines: tuple[str, ...] = BASELINES

    def __post_init__(self) -> None:
        if not self.sizes or any(s < 16 for s in self.sizes):
            raise InvalidArgumentError(f"sizes must be a non-empty list of sizes >= 16, got {self.sizes}")
        if self.count < 1:
            raise InvalidArgumentError(f"count must be >= 1, got {self.count}")
        if any(s < 1 for s in self.steps):
            raise InvalidArgumentError(f"steps must all be >= 1, got {self.steps}")
        if self.default_steps < 1:
            raise InvalidArgumentError(f"default_steps must be >= 1, got {self.default_steps}")
        if not math.isfinite(self.guidance):
            raise InvalidArgumentError(f"guidance must be finite, got {self.guidance}")
        if self.count_slow < 0:
            raise InvalidArgumentError(f"count_slow must be >= 0, got {self.count_slow}")
        if self.radius < 1:
            raise InvalidArgumentError(f"radius must be >= 1, got {self.radius}")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise InvalidArgumentError(f"baselines must be a subset of {BASELINES}, got {self.baselines}")


@dataclass
class MethodScore:
    """Means of one method at one crop size, over all samples (``kind == "all"``) or one kind.

    Attributes:
        method: ``telea``, ``ns`` or ``moebius@<steps>``.
        size: Crop size in px.
        kind: Mask kind, or ``"all"``.
        samples: Samples scored (fewer than ``count`` for a capped slow row).
        psnr: Mean hole PSNR in dB (infinite values, i.e. exact fills, left out).
        ssim: Mean hole SSIM.
        l1: Mean hole L1 in [0, 255].
        ms: Median ms per crop over all samples of the method at this size (the
            per-kind rows repeat it; the model's first call is left out as warm-up).
        steps: Model step count; ``None`` for the baselines.
        default: Whether this is the model row at its default step count.
        capped: Whether ``count_slow`` limited this row.
    """

    method: str
    size: int
    kind: str
    samples: int
    psnr: float
    ssim: float
    l1: float
    ms: float
    steps: int | None = None
    default: bool = False
    capped: bool = False


@dataclass
class ImageEvalReport:
    """Everything :func:`evaluate_image` measured.

    Attributes:
        config: The settings of the run.
        scores: One row per method and crop size over all samples.
        per_kind: One row per method, crop size and mask kind.
        beats_telea: Per crop size, whether the model at its default step count beats
            Telea on both hole PSNR and hole SSIM (``None``: that row was not run).
        beats_ns: The same against OpenCV Navier-Stokes (the stronger baseline).
        model: What the model rows ran (``--model`` value), empty without a model.
    """

    config: ImageEvalConfig
    scores: list[MethodScore] = field(default_factory=list)
    per_kind: list[MethodScore] = field(default_factory=list)
    beats_telea: dict[int, bool | None] = field(default_factory=dict)
    model: str = ""
    beats_ns: dict[int, bool | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (NaN/inf become ``None``)."""

        return json_ready(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageEvalReport:
        """Rebuild a report from :meth:`to_dict`'s output (``None`` numbers become NaN).

        Raises:
            InvalidArgumentError: ``data`` is not a report.
        """
        try:
            cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in data["config"].items()}
            config = ImageEvalConfig(**cfg)

            def score(row: Mapping[str, Any]) -> MethodScore:
                values = dict(row)
                for name in ("psnr", "ssim", "l1", "ms"):
                    values[name] = float("nan") if values[name] is None else float(values[name])
                return MethodScore(**values)

            return cls(
                config=config,
                scores=[score(r) for r in data["scores"]],
                per_kind=[score(r) for r in data["per_kind"]],
                beats_telea={int(k): v for k, v in data["beats_telea"].items()},
                model=str(data.get("model", "")),
                beats_ns={int(k): v for k, v in (data.get("beats_ns") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidArgumentError(f"not an image-evaluation report: {error}") from None

    def row(self, method: str, size: int, kind: str = "all") -> MethodScore | None:
        """The row of ``method`` at ``size`` (and ``kind``), or ``None``."""
        rows = self.scores if kind == "all" else self.per_kind
        for r in rows:
            if r.method == method and r.size == size and r.kind == kind:
                return r
        return None


# -- filling and scoring ------------------------------------------------------------------


def _check_sample(sample: ImageSample) -> None:
    img, mask = sample.image, sample.mask
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise InvalidArgumentError(
            f"sample {sample.name!r}: image must be an H,W,3 uint8 array, got {img.dtype} {img.shape}"
        )
    if mask.shape != img.shape[:2]:
        raise InvalidArgumentError(
            f"sample {sample.name!r}: mask shape {mask.shape} does not match image {img.shape[:2]}"
        )


def blank_hole(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image a method gets: hole pixels set to 0 (nothing of the answer leaks)."""
    out = image.copy()
    out[mask] = 0
    return out


def fill_opencv(image: np.ndarray, mask: np.ndarray, method: str, radius: int = 5) -> np.ndarray:
    """Fill the hole with ``cv2.inpaint`` (Telea or Navier-Stokes).

    Args:
        image: ``H, W, 3`` uint8 RGB.
        mask: ``H, W`` bool hole.
        method: ``"telea"`` or ``"ns"``.
        radius: Inpainting radius in px.

    Returns:
        ``H, W, 3`` uint8 RGB.

    Raises:
        InvalidArgumentError: Unknown method.
    """
    if method not in _CV2_FLAGS:
        raise InvalidArgumentError(f"method must be one of {BASELINES}, got {method!r}")
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    out = cv2.inpaint(bgr, mask.astype(np.uint8) * 255, radius, _CV2_FLAGS[method])
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def fill_model(
    pipeline: MoebiusInpaintingPipeline,
    image: np.ndarray,
    mask: np.ndarray,
    steps: int,
    guidance: float,
    seed: int,
) -> np.ndarray:
    """Fill the hole with the Moebius pipeline (seeded noise).

    Args:
        pipeline: A loaded :class:`~moebius_video.model.pipeline.MoebiusInpaintingPipeline`.
        image: ``H, W, 3`` uint8 RGB.
        mask: ``H, W`` bool hole.
        steps: DDIM steps.
        guidance: Classifier-free guidance weight.
        seed: Seed of the generator.

    Returns:
        ``H, W, 3`` uint8 RGB.
    """
    import torch

    generator = torch.Generator(device=pipeline.device).manual_seed(seed)
    # The pipeline's paste softens the edge by blending in the frame's own pixels just
    # inside the hole: background when the mask was dilated (as in the video path), but
    # here the hole is exact and blanked, so that blend would only mix black in. Off here.
    feather, pipeline.feather = pipeline.feather, 0.0
    try:
        out = pipeline(
            image,
            mask,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=generator,
            output_type="np",
        ).images[0]
    finally:
        pipeline.feather = feather
    return np.clip(np.round(np.asarray(out) * 255.0), 0, 255).astype(np.uint8)


@dataclass
class HoleScore:
    """Hole-only scores of one fill (see the module docstring)."""

    psnr: float
    ssim: float
    l1: float


def score_fill(original: np.ndarray, filled: np.ndarray, mask: np.ndarray) -> HoleScore:
    """Score a fill inside the hole only.

    The fill is first pasted over the original inside the hole, so nothing a method does
    outside the hole changes the score.

    Args:
        original: ``H, W, 3`` uint8 RGB ground truth.
        filled: ``H, W, 3`` uint8 RGB method output.
        mask: ``H, W`` bool hole.

    Returns:
        Hole PSNR (dB), hole SSIM (map averaged over the hole pixels), hole L1 in [0, 255];
        NaN for an empty hole.

    Raises:
        InvalidArgumentError: Shapes differ.
    """
    if filled.shape != original.shape or mask.shape != original.shape[:2]:
        raise InvalidArgumentError(
            f"shapes differ: original {original.shape}, filled {filled.shape}, mask {mask.shape}"
        )
    if not mask.any():
        return HoleScore(float("nan"), float("nan"), float("nan"))
    comp = original.copy()
    comp[mask] = filled[mask]
    l1 = float(np.abs(comp[mask].astype(np.float64) - original[mask].astype(np.float64)).mean())
    return HoleScore(psnr(comp, original, mask), ssim(comp, original, mask), l1)


def _mean(values: Sequence[float]) -> float:
    arr = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")


def _model_name(steps: int) -> str:
    return f"moebius@{steps}"


def _rows(
    method: str,
    size: int,
    samples: Sequence[ImageSample],
    scores: Sequence[HoleScore],
    times: Sequence[float],
    **extra: Any,
) -> list[MethodScore]:
    ms = 1000.0 * statistics.median(times) if times else float("nan")

    def make(kind: str, idx: list[int]) -> MethodScore:
        return MethodScore(
            method, size, kind, len(idx),
            _mean([scores[i].psnr for i in idx]),
            _mean([scores[i].ssim for i in idx]),
            _mean([scores[i].l1 for i in idx]),
            ms, **extra,
        )

    rows = [make("all", list(range(len(scores))))]
    kinds = list(dict.fromkeys(samples[i].kind for i in range(len(scores))))
    rows += [make(k, [i for i in range(len(scores)) if samples[i].kind == k]) for k in kinds]
    return rows


def _run_method(
    samples: Sequence[ImageSample],
    fill: Any,
    warmup: bool,
) -> tuple[list[HoleScore], list[float]]:
    scores, times = [], []
    for i, s in enumerate(samples):
        inp = blank_hole(s.image, s.mask)
        start = time.perf_counter()
        out = fill(i, inp, s.mask)
        elapsed = time.perf_counter() - start
        if not (warmup and i == 0 and len(samples) > 1):
            times.append(elapsed)
        scores.append(score_fill(s.image, out, s.mask))
    return scores, times


def evaluate_image(
    samples_by_size: Mapping[int, Sequence[ImageSample]],
    pipeline: MoebiusInpaintingPipeline | None,
    config: ImageEvalConfig | None = None,
) -> ImageEvalReport:
    """Score the OpenCV baselines and the model on the given samples.

    Args:
        samples_by_size: Crop size -> samples (``EvalSample``-like: ``name``, ``image``
            ``H, W, 3`` uint8 RGB, ``mask`` ``H, W`` bool, ``kind``).
        pipeline: The model, or ``None`` for the baselines only.
        config: Settings; defaults to :class:`ImageEvalConfig`.

    Returns:
        The report (overall rows, per-kind rows and the verdict per size).

    Raises:
        InvalidArgumentError: No samples, or a malformed sample.
    """
    config = config or ImageEvalConfig()
    if not samples_by_size or not any(samples_by_size.values()):
        raise InvalidArgumentError("no samples to evaluate")
    report = ImageEvalReport(config)
    for size, samples in samples_by_size.items():
        for s in samples:
            _check_sample(s)
        rows: list[MethodScore] = []
        for name in config.baselines:
            scores, times = _run_method(
                samples, lambda _i, img, m, name=name: fill_opencv(img, m, name, config.radius), warmup=False
            )
            rows += _rows(name, size, samples, scores, times)
            logger.info("%d px %s: hole PSNR %.2f SSIM %.4f", size, name, rows[-1].psnr, rows[-1].ssim)
        if pipeline is not None:
            for steps in config.steps:
                subset = samples
                capped = False
                if config.count_slow and steps > config.default_steps and len(samples) > config.count_slow:
                    subset, capped = samples[: config.count_slow], True
                scores, times = _run_method(
                    subset,
                    lambda i, img, m, steps=steps: fill_model(
                        pipeline, img, m, steps, config.guidance, config.seed + i
                    ),
                    warmup=True,
                )
                rows += _rows(_model_name(steps), size, subset, scores, times, steps=steps,
                              default=steps == config.default_steps, capped=capped)
                logger.info("%d px moebius@%d: hole PSNR %.2f SSIM %.4f", size, steps,
                            rows[-1].psnr, rows[-1].ssim)
        report.scores += [r for r in rows if r.kind == "all"]
        report.per_kind += [r for r in rows if r.kind != "all"]
        model = report.row(_model_name(config.default_steps), size)
        for baseline, verdicts in (("telea", report.beats_telea), ("ns", report.beats_ns)):
            base = report.row(baseline, size)
            if pipeline is None or base is None or model is None:
                verdicts[size] = None
            else:
                verdicts[size] = bool(model.psnr > base.psnr and model.ssim > base.ssim)
    return report


# -- output -------------------------------------------------------------------------------


def _label(row: MethodScore) -> str:
    return row.method + (" (default)" if row.default else "") + (" *" if row.capped else "")


def format_table(report: ImageEvalReport, per_kind: bool = False) -> str:
    """The report as a plain-text table (plus the per-kind table and the verdict)."""
    head = f"{'size':>4} {'method':22} {'n':>3} {'PSNRh':>6} {'SSIMh':>6} {'L1h':>6} {'ms/crop':>9}"
    lines = [head, "-" * len(head)]

    def line(r: MethodScore, name: str) -> str:
        return f"{r.size:4d} {name:22} {r.samples:3d} {r.psnr:6.2f} {r.ssim:6.4f} {r.l1:6.2f} {r.ms:9.1f}"

    for r in report.scores:
        lines.append(line(r, _label(r)))
    if per_kind and report.per_kind:
        lines += ["", f"{'size':>4} {'method / kind':22} {'n':>3} {'PSNRh':>6} {'SSIMh':>6} {'L1h':>6} {'ms/crop':>9}"]
        for r in report.per_kind:
            lines.append(line(r, f"{r.method} / {r.kind}"))
    notes = ["h = inside the hole only: PSNR dB, SSIM map (65 px window) averaged over the hole "
             "pixels, L1 in [0,255]; ms = median per crop (model: first call left out)"]
    if any(r.capped for r in report.scores):
        notes.append(f"* = first {report.config.count_slow} samples only (--count-slow)")
    lines += [f"({n})" for n in notes]
    name = _model_name(report.config.default_steps)
    for baseline, verdicts in (("Telea", report.beats_telea), ("NS", report.beats_ns)):
        for size, verdict in verdicts.items():
            if verdict is None:
                if baseline == "Telea":
                    lines.append(f"verdict {size} px: {name} not measured")
                continue
            word = "BEATS" if verdict else "does NOT beat"
            lines.append(f"verdict {size} px: {name} {word} {baseline} on hole PSNR and SSIM")
    return "\n".join(lines)


def write_examples(
    samples: Sequence[ImageSample],
    pipeline: MoebiusInpaintingPipeline | None,
    config: ImageEvalConfig,
    path: str | Path,
) -> Path:
    """Write a before/after grid PNG: one row per sample.

    Columns: masked input | Telea | NS | ``moebius@<default>`` (with a pipeline) | original,
    each labelled in a header strip. All samples must share one size.

    Args:
        samples: The samples to show (``H, W, 3`` uint8 RGB images of one size).
        pipeline: The model, or ``None`` (no model column).
        config: Radius, default steps, guidance and seed.
        path: The PNG to write (folders are created).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InvalidArgumentError: No samples or samples of different sizes.
        OutputError: The PNG cannot be written.
    """
    from moebius_video.errors import OutputError

    if not samples:
        raise InvalidArgumentError("write_examples needs at least one sample")
    shape = samples[0].image.shape
    if any(s.image.shape != shape for s in samples):
        raise InvalidArgumentError("write_examples needs samples of one size")
    h, w = shape[:2]
    labels = ["masked input", "telea", "ns"]
    if pipeline is not None:
        labels.append(_model_name(config.default_steps))
    labels.append("original")
    gap, header = EXAMPLE_GAP, EXAMPLE_HEADER
    grid = np.full((header + len(samples) * (h + gap) - gap, len(labels) * (w + gap) - gap, 3), 255, np.uint8)
    scale = max(0.35, min(0.6, w / 400))
    for c, text in enumerate(labels):
        cv2.putText(grid, text, (c * (w + gap) + 3, header - 6), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    for r, s in enumerate(samples):
        _check_sample(s)
        inp = blank_hole(s.image, s.mask)
        shown = s.image.copy()
        shown[s.mask] = (255, 0, 255)
        tiles = [shown, fill_opencv(inp, s.mask, "telea", config.radius), fill_opencv(inp, s.mask, "ns", config.radius)]
        if pipeline is not None:
            tiles.append(fill_model(pipeline, inp, s.mask, config.default_steps, config.guidance, config.seed + r))
        tiles.append(s.image)
        y = header + r * (h + gap)
        for c, tile in enumerate(tiles):
            x = c * (w + gap)
            if tile is not s.image and tile is not shown:
                comp = s.image.copy()
                comp[s.mask] = tile[s.mask]
                tile = comp
            grid[y : y + h, x : x + w] = tile
    from moebius_video.io.paths import write_file

    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot write {str(out)!r}: {error}") from None
    ok, data = cv2.imencode(out.suffix or ".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError(f"cannot encode {str(out)!r}")
    write_file(out, data)  # every byte checked: a full disk is an error, not a short file
    return out



# -- command line -------------------------------------------------------------------------



__all__ = [
    "ImageEvalConfig",
    "ImageEvalReport",
    "ImageSample",
    "MethodScore",
    "HoleScore",
    "blank_hole",
    "evaluate_image",
    "fill_model",
    "fill_opencv",
    "format_table",
    "score_fill",
    "write_examples",
]

