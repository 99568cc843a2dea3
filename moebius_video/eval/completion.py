"""Video-completion evaluation (``moebius-video eval completion DATA_DIR``).

The protocol of ProPainter and E2FGVI, on real footage whose answer is known:

- ``masks``: the frames of a real clip, with ANOTHER clip's ground-truth object masks laid
  over them (moving object shapes). The filler fills the hole; the result is compared with
  the untouched frames.
- ``objects``: an RGBA cut-out pasted over a real clip and moving across it; the filler
  removes it (binarised alpha = mask); the result is compared with the clip without it.
- ``tracked`` (opt-in): the same pasted object, but removed end to end as a user would:
  its mask is tracked from the first frame's alpha by the default tracker, so the fill
  also pays for the tracker's misses (object pixels left outside the mask, or learnt as
  background). Hole metrics are taken on the true (dilated) object.

Every frame is composited as the engine does: the mask is dilated (elliptical kernel,
``dilate`` px), the filler gets the dilated mask, only pixels inside it are pasted.
Reported per filler: PSNR / SSIM (65-px window, data range 255) on the full frame and on
the hole (the dilated mask), the warping error of consecutive outputs (flow of the ORIGINAL
frames, non-occluded pixels) on the full frame and on the hole, the share of hole pixels
propagated, and the fill speed. Per-frame Telea is run as the baseline.

Clips are read straight from frame folders with OpenCV (``DATA_DIR/clips/<clip>/frames``,
``masks`` or ``masks_binary``; ``DATA_DIR`` may also be the ``clips`` folder itself).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError
from moebius_video.eval.metrics import FlowReference, json_ready, psnr, ssim, warping_error
from moebius_video.fill import Filler, FutureFrame, get_filler, parse_filler_spec
from tracking.data import CLIPS_DIR, FRAMES_DIR, MASK_DIRS
from tracking.geometry import dilate_mask, ellipse_kernel

logger = logging.getLogger(__name__)

_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_FILLERS = ("telea", "temporal", "temporal-offline")
PROTOCOLS = ("masks", "objects", "tracked")
DEFAULT_PROTOCOLS = ("masks", "objects")


@dataclass(frozen=True)
class CompletionConfig:
    """What :func:`evaluate_completion` runs.

    Attributes:
        fillers: Filler names (``--fill`` values), optionally ``name:key=value,...``.
        protocols: Subset of ``("masks", "objects", "tracked")``.
        size: ``(width, height)`` frames are resized to; ``None`` = native size.
        max_clips: At most this many clips (0 = all).
        max_frames: At most this many frames per clip (0 = all).
        clips: Only these clips (empty = every usable clip).
        dilate: Mask dilation in px (elliptical kernel), as the engine does.
        lookahead: Lookahead given to fillers whose name ends in ``-offline`` (``None``:
            their own default, what ``remove`` uses).
    """

    fillers: tuple[str, ...] = DEFAULT_FILLERS
    protocols: tuple[str, ...] = DEFAULT_PROTOCOLS
    size: tuple[int, int] | None = (432, 240)
    max_clips: int = 0
    max_frames: int = 0
    clips: tuple[str, ...] = ()
    dilate: int = 4
    lookahead: int | None = None

    def __post_init__(self) -> None:
        bad = [p for p in self.protocols if p not in PROTOCOLS]
        if bad or not self.protocols:
            raise InvalidArgumentError(f"protocols must be a non-empty subset of {PROTOCOLS}, got {self.protocols}")
        if not self.fillers:
            raise InvalidArgumentError("fillers must not be empty")
        if self.dilate < 0:
            raise InvalidArgumentError(f"dilate must be >= 0, got {self.dilate}")
        if self.size is not None and (self.size[0] < 16 or self.size[1] < 16):
            raise InvalidArgumentError(f"size must be at least 16x16, got {self.size}")


@dataclass
class CompletionScore:
    """Scores of one filler on one clip under one protocol (means over frames)."""

    protocol: str
    clip: str
    filler: str
    frames: int
    psnr: float
    ssim: float
    psnr_hole: float
    ssim_hole: float
    warp_error: float
    warp_error_hole: float
    propagated: float
    fps: float
    mask_source: str = ""
    #: The lowest PSNR of any frame of the clip (frames with an empty hole left out) and
    #: that frame's index.
    psnr_min: float = float("nan")
    worst_frame: int = -1
    #: Mean PSNR minus per-frame Telea's on the same clip (``None`` without Telea in the run).
    gain: float | None = None


@dataclass
class SummaryScore:
    """Mean of :class:`CompletionScore` over clips for one filler and protocol."""

    protocol: str
    filler: str
    clips: int
    psnr: float
    ssim: float
    psnr_hole: float
    ssim_hole: float
    warp_error: float
    warp_error_hole: float
    propagated: float
    fps: float
    #: Mean over clips of the PSNR gain over per-frame Telea (``None`` without Telea).
    gain: float | None = None
    #: The clip with the smallest gain over Telea (the lowest PSNR without Telea), its
    #: PSNR and gain.
    worst_clip: str = ""
    worst_clip_psnr: float = float("nan")
    worst_clip_gain: float | None = None
    #: The frame with the lowest PSNR of all clips (``clip#index``) and that PSNR.
    worst_frame: str = ""
    worst_frame_psnr: float = float("nan")


@dataclass
class CompletionReport:
    """Everything :func:`evaluate_completion` measured."""

    config: CompletionConfig
    clips: list[CompletionScore] = field(default_factory=list)
    summary: list[SummaryScore] = field(default_factory=list)
    reference_warp_error: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary (NaN/inf become ``None``)."""

        return json_ready(asdict(self))  # type: ignore[return-value]


# -- data ---------------------------------------------------------------------------------


def image_files(folder: Path) -> list[Path]:
    """The images of ``folder`` (jpg, png, bmp), sorted; none when it is not a folder."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_EXT) if folder.is_dir() else []


def _clips_root(data_dir: Path) -> Path:
    if not data_dir.is_dir():
        raise InvalidArgumentError(f"data_dir {str(data_dir)!r} is not a folder")
    return data_dir / CLIPS_DIR if (data_dir / CLIPS_DIR).is_dir() else data_dir


def _mask_files(clip: Path) -> list[Path]:
    for name in MASK_DIRS:
        files = image_files(clip / name)
        if files:
            return files
    return []


def discover_clips(data_dir: Path) -> tuple[list[Path], list[Path]]:
    """Clips usable as footage and as mask sources.

    Footage: a ``frames`` folder with at least 10 frames and a mask per frame (the dev
    clips). Mask sources: any clip with at least 10 per-frame masks.

    Returns:
        ``(footage, mask_sources)``, each sorted by name.
    """
    root = _clips_root(data_dir)
    footage, sources = [], []
    for clip in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        frames, masks = image_files(clip / FRAMES_DIR), _mask_files(clip)
        if len(masks) >= 10:
            sources.append(clip)
            if len(frames) >= 10 and len(masks) == len(frames):
                footage.append(clip)
    return footage, sources


def _read_rgb(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InvalidArgumentError(f"cannot read image {str(path)!r}")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if size is not None and (img.shape[1], img.shape[0]) != size:
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


def _read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise InvalidArgumentError(f"cannot read mask {str(path)!r}")
    if (m.shape[1], m.shape[0]) != size:
        m = cv2.resize(m, size, interpolation=cv2.INTER_LINEAR)
    return m > 127


def _ping_pong(i: int, n: int) -> int:
    if n == 1:
        return 0
    period = 2 * (n - 1)
    j = i % period
    return j if j < n else period - j


def _load_objects(data_dir: Path) -> list[Path]:
    root = _clips_root(data_dir).parent / "objects"
    if not root.is_dir():
        root = data_dir / "objects"
    return sorted(root.glob("*.png")) if root.is_dir() else []


def paste_object(
    frame: np.ndarray, rgba: np.ndarray, t: float, *, phase: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Composite an RGBA cut-out over ``frame`` at its position at time ``t`` in [0, 1].

    The object crosses the frame from left to right with a vertical wobble.

    Returns:
        ``(composited frame, mask)`` with the mask = alpha > 127.
    """
    h, w = frame.shape[:2]
    oh, ow = rgba.shape[:2]
    scale = min(0.4 * h / oh, 0.3 * w / ow)
    oh2, ow2 = max(2, round(oh * scale)), max(2, round(ow * scale))
    obj = cv2.resize(rgba, (ow2, oh2), interpolation=cv2.INTER_AREA)
    cx = (0.15 + 0.7 * t) * w
    cy = (0.5 + 0.15 * math.sin(2 * math.pi * (t + phase))) * h
    x0, y0 = round(cx - ow2 / 2), round(cy - oh2 / 2)
    out = frame.copy()
    mask = np.zeros((h, w), bool)
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + ow2, w), min(y0 + oh2, h)
    if fx1 <= fx0 or fy1 <= fy0:
        return out, mask
    sub = obj[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    alpha = sub[..., 3:4].astype(np.float32) / 255.0
    region = out[fy0:fy1, fx0:fx1].astype(np.float32)
    out[fy0:fy1, fx0:fx1] = np.clip(alpha * sub[..., :3] + (1 - alpha) * region + 0.5, 0, 255).astype(np.uint8)
    mask[fy0:fy1, fx0:fx1] = sub[..., 3] > 127
    return out, mask


# -- running ------------------------------------------------------------------------------


def _track_from_first(
    frames: Sequence[np.ndarray], first: np.ndarray, dilate: int
) -> tuple[list[np.ndarray], list[bool]]:
    """The object's masks tracked from ``first`` (a dilated mask, shrunk back to the object
    by ``dilate``) by the default tracker, as ``remove --mask`` does (:func:`~moebius_video.engine.pipeline.track_file`,
    with the backfill of an object found again), and per frame whether the tracker trusts
    its mask (``remove`` borrows no pixels from the others)."""
    from moebius_video.engine.pipeline import TrackedMask, load_tracker, track_file
    from tracking import DOUBTFUL_BELOW

    if dilate > 0:
        first = cv2.erode(first.astype(np.uint8), ellipse_kernel(dilate)) > 0
    tracked = TrackedMask(load_tracker(None))
    tracked.start(first)
    items = [item for _, item, _ in track_file(tracked, frames, lambda f: f)]
    return [item.mask for item in items], [item.confidence >= DOUBTFUL_BELOW for item in items]


def _make_filler(spec: str, lookahead: int | None) -> Filler:
    name, kwargs = parse_filler_spec(spec)
    if name.endswith("-offline") and lookahead is not None:
        kwargs.setdefault("lookahead", lookahead)
    return get_filler(name, **kwargs)


def _run_filler(
    name: str,
    inputs: Sequence[np.ndarray],
    holes: Sequence[np.ndarray],
    lookahead: int | None,
    trusted: Sequence[bool] | None = None,
) -> tuple[list[np.ndarray], float, float]:
    """Fill a clip; returns (outputs, propagated share, frames per second). ``trusted``:
    per frame, False where the tracker doubts the mask (see :attr:`Filler.borrows`)."""
    filler = _make_filler(name, lookahead)
    outs: list[np.ndarray] = []
    n_prop = n_hole = 0
    elapsed = 0.0
    la = filler.lookahead
    ok = [True] * len(inputs) if trusted is None or not filler.borrows else list(trusted)
    for i, (img, hole) in enumerate(zip(inputs, holes)):
        future = [FutureFrame(inputs[j], holes[j], ok[j])
                  for j in range(i + 1, min(i + 1 + la, len(inputs)))]
        start = time.perf_counter()
        res = filler.fill_frame(img, hole, future=future, trusted=ok[i])
        elapsed += time.perf_counter() - start
        out = img.copy()
        out[hole] = res.image[hole]  # composite: paste only inside the dilated mask
        outs.append(out)
        n_prop += res.propagated_pixels
        n_hole += int(hole.sum())
    share = n_prop / n_hole if n_hole else float("nan")
    return outs, share, len(inputs) / elapsed if elapsed > 0 else float("inf")


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")


def _score_clip(
    protocol: str,
    clip: str,
    truth: Sequence[np.ndarray],
    inputs: Sequence[np.ndarray],
    holes: Sequence[np.ndarray],
    flows: Sequence[tuple[np.ndarray, np.ndarray]],
    config: CompletionConfig,
    mask_source: str,
    score_holes: Sequence[np.ndarray] | None = None,
    trusted: Sequence[bool] | None = None,
) -> list[CompletionScore]:
    scores = []
    region = holes if score_holes is None else score_holes
    for name in config.fillers:
        outs, share, fps = _run_filler(name, inputs, holes, config.lookahead, trusted)
        p = [psnr(o, g) for o, g in zip(outs, truth)]
        s = [ssim(o, g) for o, g in zip(outs, truth)]
        ph = [psnr(o, g, h) for o, g, h in zip(outs, truth, region)]
        sh = [ssim(o, g, h) for o, g, h in zip(outs, truth, region)]
        we = [warping_error(outs[i - 1], outs[i], *flows[i - 1]) for i in range(1, len(outs))]
        weh = [warping_error(outs[i - 1], outs[i], *flows[i - 1], region=region[i]) for i in range(1, len(outs))]
        finite = [(v, i) for i, v in enumerate(p) if math.isfinite(v)]
        low, worst = min(finite) if finite else (float("nan"), -1)
        score = CompletionScore(
            protocol, clip, name, len(outs), _nanmean([v for v, _ in finite]), _nanmean(s),
            _nanmean(ph), _nanmean(sh), _nanmean(we), _nanmean(weh), share, fps, mask_source,
            psnr_min=low, worst_frame=worst,
        )
        logger.info("%s %s %s: PSNR %.2f hole %.2f SSIM %.4f Ewarp %.3f (%.1f fps)",
                    protocol, clip, name, score.psnr, score.psnr_hole, score.ssim, score.warp_error, fps)
        scores.append(score)
    return scores


def evaluate_completion(data_dir: str | Path, config: CompletionConfig | None = None) -> CompletionReport:
    """Run the completion protocols on the clips of ``data_dir``.

    Args:
        data_dir: Folder holding ``clips/`` (and ``objects/``), or the ``clips`` folder.
        config: What to run; defaults to :class:`CompletionConfig`.

    Returns:
        Per-clip and summary scores.

    Raises:
        InvalidArgumentError: ``data_dir`` holds no usable clip, or bad settings.
    """
    config = config or CompletionConfig()
    data_dir = Path(data_dir)
    footage, sources = discover_clips(data_dir)
    if config.clips:
        footage = [c for c in footage if c.name in config.clips]
    if config.max_clips:
        footage = footage[: config.max_clips]
    if not footage:
        raise InvalidArgumentError(f"no usable clip (frames/ + per-frame masks) under {str(data_dir)!r}")
    pasting = {"objects", "tracked"} & set(config.protocols)
    objects = _load_objects(data_dir) if pasting else []
    if pasting and not objects:
        logger.warning("no RGBA objects found next to %s: the %s protocol is skipped",
                       data_dir, "/".join(sorted(pasting)))
    report = CompletionReport(config)
    flow_ref = FlowReference()
    for ci, clip in enumerate(footage):
        frame_files = image_files(clip / FRAMES_DIR)
        if config.max_frames:
            frame_files = frame_files[: config.max_frames]
        truth = [_read_rgb(p, config.size) for p in frame_files]
        h, w = truth[0].shape[:2]
        flows = [flow_ref(truth[i - 1], truth[i]) for i in range(1, len(truth))]
        report.reference_warp_error[clip.name] = _nanmean(
            [warping_error(truth[i - 1], truth[i], *flows[i - 1]) for i in range(1, len(truth))]
        )
        if "masks" in config.protocols:
            others = [s for s in sources if s.name != clip.name]
            src = others[ci % len(others)] if others else clip
            mask_files = _mask_files(src)
            holes = [
                dilate_mask(_read_mask(mask_files[_ping_pong(i, len(mask_files))], (w, h)), config.dilate)
                for i in range(len(truth))
            ]
            inputs = []
            for img, hole in zip(truth, holes):
                masked = img.copy()
                masked[hole] = 0  # the filler never sees what it must recover
                inputs.append(masked)
            report.clips += _score_clip("masks", clip.name, truth, inputs, holes, flows, config, src.name)
        if objects:
            obj_path = objects[(ci * 7) % len(objects)]
            rgba = cv2.imread(str(obj_path), cv2.IMREAD_UNCHANGED)
            if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
                logger.warning("skipping object %s: not an RGBA image", obj_path)
                continue
            rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA)
            n = len(truth)
            inputs, holes = [], []
            for i, img in enumerate(truth):
                comp, m = paste_object(img, rgba, i / max(n - 1, 1), phase=0.1 * ci)
                inputs.append(comp)
                holes.append(dilate_mask(m, config.dilate))
            if "objects" in config.protocols:
                report.clips += _score_clip("objects", clip.name, truth, inputs, holes, flows, config,
                                            obj_path.stem)
            if "tracked" in config.protocols:
                masks, trusted = _track_from_first(inputs, holes[0], config.dilate)
                tracked = [dilate_mask(m, config.dilate) for m in masks]
                report.clips += _score_clip("tracked", clip.name, truth, inputs, tracked, flows, config,
                                            obj_path.stem, score_holes=holes, trusted=trusted)
    report.summary = summarize(report.clips, config)
    return report


def summarize(clips: Sequence[CompletionScore], config: CompletionConfig) -> list[SummaryScore]:
    """Per protocol and filler: means over clips, the gain over per-frame Telea, the worst
    clip and the worst frame. Fills in each clip's ``gain`` when Telea was run."""
    baseline = next((f for f in config.fillers if parse_filler_spec(f) == ("telea", {})), None)
    telea = {(c.protocol, c.clip): c.psnr for c in clips if c.filler == baseline}
    for c in clips:
        ref = telea.get((c.protocol, c.clip))
        c.gain = None if ref is None else c.psnr - ref
    summary = []
    for protocol in config.protocols:
        for name in config.fillers:
            rows = [c for c in clips if c.protocol == protocol and c.filler == name]
            if not rows:
                continue
            gains = [c.gain for c in rows if c.gain is not None]
            worst = min(rows, key=lambda c: (c.gain if c.gain is not None else c.psnr))
            framed = [c for c in rows if math.isfinite(c.psnr_min)]
            frame = min(framed, key=lambda c: c.psnr_min) if framed else None
            summary.append(SummaryScore(
                protocol, name, len(rows),
                *(_nanmean([getattr(r, f) for r in rows]) for f in (
                    "psnr", "ssim", "psnr_hole", "ssim_hole", "warp_error", "warp_error_hole",
                    "propagated", "fps")),
                gain=_nanmean(gains) if len(gains) == len(rows) else None,
                worst_clip=worst.clip, worst_clip_psnr=worst.psnr, worst_clip_gain=worst.gain,
                worst_frame=f"{frame.clip}#{frame.worst_frame}" if frame else "",
                worst_frame_psnr=frame.psnr_min if frame else float("nan"),
            ))
    return summary


def _signed(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:+.2f}"


def format_table(report: CompletionReport, per_clip: bool = False) -> str:
    """The report as a plain-text table.

    ``+telea`` is the mean PSNR gain over per-frame Telea; ``worst clip`` the clip with
    the smallest gain (its gain, or its PSNR without Telea in the run); ``worst frame``
    the lowest-PSNR frame of any clip (per clip: that clip's, ``#index PSNR``).
    """
    head = (f"{'protocol':8} {'filler':17} {'clips':>5} {'PSNR':>6} {'+telea':>6} {'SSIM':>6} "
            f"{'PSNRh':>6} {'SSIMh':>6} {'Ewarp':>6} {'Ewarph':>6} {'prop%':>5} {'fps':>6}  "
            f"{'worst clip':17} {'worst frame':20}")
    lines = [head, "-" * len(head)]

    def row(protocol: str, name: str, n: object, s: SummaryScore | CompletionScore, tail: str) -> str:
        return (f"{protocol:8} {name:17} {n!s:>5} {s.psnr:6.2f} {_signed(s.gain):>6} {s.ssim:6.4f} "
                f"{s.psnr_hole:6.2f} {s.ssim_hole:6.4f} {s.warp_error:6.3f} {s.warp_error_hole:6.3f} "
                f"{100 * s.propagated:5.1f} {s.fps:6.1f}  {tail}").rstrip()

    for s in report.summary:
        clip = (f"{s.worst_clip[:10]} {_signed(s.worst_clip_gain)}" if s.worst_clip_gain is not None
                else f"{s.worst_clip[:10]} {s.worst_clip_psnr:.2f}")
        frame = f"{s.worst_frame[:14]} {s.worst_frame_psnr:.2f}" if s.worst_frame else "-"
        lines.append(row(s.protocol, s.filler, s.clips, s, f"{clip:17} {frame:20}"))
    if per_clip:
        lines.append("")
        for c in report.clips:
            frame = f"#{c.worst_frame} {c.psnr_min:.2f}" if c.worst_frame >= 0 else "-"
            lines.append(row(c.protocol, c.filler, c.clip[:5], c, f"{'':17} {frame:20}"))
    ref = _nanmean(list(report.reference_warp_error.values()))
    lines.append(f"(Ewarp x1e-3 on [0,1]; original frames' own Ewarp: {ref:.3f}; h = hole only; "
                 "+telea: PSNR gain over per-frame Telea)")
    return "\n".join(lines)


