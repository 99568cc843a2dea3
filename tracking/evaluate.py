"""Evaluate trackers (``eval tracking DATA_DIR``): two protocols.

``--protocol pasted`` (see :mod:`tracking.evaluate_pasted`): RGBA objects pasted over real
footage, an exact truth; coverage, area ratio and collateral per frame, with tune and
held-out splits.

``--protocol davis`` (the default), on clip folders with ground-truth masks. Two modes: ``first`` (only the first frame's ground-truth mask is given) and ``keyframes``
(a ground-truth mask every ``keyframe_every`` frames, tracked offline in both directions).
A third, ``step``, is a diagnosis rather than a use: the tracker is started afresh on every
frame's ground truth and scored one frame later: what one frame costs it from an exact mask,
with no history (no velocity yet), as in the frames just after a keyframe.
Scores are computed on every frame that is not a keyframe:

* ``J``: mean IoU of the raw tracked mask;
* ``F``: DAVIS boundary F-measure of the raw tracked mask;
* ``coverage``: mean fraction of true object pixels inside the tracked mask dilated by
  ``dilate`` px (elliptical kernel) — what matters for removal; ``cov_min`` is the worst frame;
* ``area``: area of the dilated tracked masks over the area of the true masks (summed over
  the frames of a clip); ``area_max`` the worst frame's ratio (mean row: the worst clip's);
* ``collateral``: the worst frame's share of the frame that lies inside the dilated tracked
  mask and more than :data:`~tracking.metrics.COLLATERAL_PX` px from the true object — what a
  removal would wrongly erase (mean row: the worst clip's); ``coll_frame`` is that frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import MaskTracker
from .data import list_clips, load_clip
from .errors import TrackingError
from .geometry import dilate_mask
from .metrics import COLLATERAL_PX, boundary_f, collateral, coverage, jaccard
from .offline import FUSION_THRESHOLD, iter_track
from .registry import DEFAULT_TRACKER, available_trackers, get_tracker

MODES = ("first", "keyframes", "step")
# what ``eval tracking`` runs unless told (``step`` costs a tracker start per frame)
DEFAULT_MODES = ("first", "keyframes")
PROTOCOLS = ("davis", "pasted")


@dataclass(frozen=True)
class ClipScore:
    """Scores of one tracker, in one mode, on one clip (or their mean, ``clip="mean"``).

    Attributes:
        clip: clip name, or ``"mean"``.
        tracker: tracker name.
        mode: ``"first"`` or ``"keyframes"``.
        frames: number of scored frames.
        J: mean IoU.
        F: mean boundary F-measure.
        coverage: mean coverage of the true mask by the dilated tracked mask.
        cov_min: worst-frame coverage.
        area_ratio: dilated tracked area / true area.
        area_max: worst frame's dilated tracked area / true area.
        seconds: wall time of tracking and decoding.
        collateral: worst frame's share of the frame masked far from the object.
        coll_frame: the frame of ``collateral`` (-1 in a mean row, or with no scored frame).
    """

    clip: str
    tracker: str
    mode: str
    frames: int
    J: float
    F: float
    coverage: float
    cov_min: float
    area_ratio: float
    area_max: float
    seconds: float
    collateral: float = 0.0
    coll_frame: int = -1


@dataclass(frozen=True)
class EvalResult:
    """Everything :func:`evaluate` measured.

    Attributes:
        scores: one :class:`ClipScore` per clip, tracker and mode.
        means: the mean over clips, per tracker and mode.
        skipped: clips left out, with the reason.
        dilate: the dilation radius used for coverage and area ratio.
    """

    scores: list[ClipScore]
    means: list[ClipScore]
    skipped: dict[str, str] = field(default_factory=dict)
    dilate: int = 4

    def mean(self, tracker: str, mode: str = "first") -> ClipScore:
        """The mean row of one tracker and mode.

        Raises:
            KeyError: when that pair was not evaluated.
        """
        for row in self.means:
            if row.tracker == tracker and row.mode == mode:
                return row
        raise KeyError((tracker, mode))


def score_clip(
    clip_dir: str | Path,
    tracker: str,
    mode: str = "first",
    keyframe_every: int = 20,
    dilate: int = 4,
    max_frames: int | None = None,
    bound_th: float = 0.008,
    tracker_kwargs: dict[str, Any] | None = None,
    fusion_threshold: float = FUSION_THRESHOLD,
) -> ClipScore:
    """Track one clip from its ground truth and score it.

    Args:
        clip_dir: a clip folder (``frames/`` + ``masks/`` or ``masks_binary/``).
        tracker: tracker name.
        mode: ``"first"``, ``"keyframes"`` or ``"step"`` (see the module doc).
        keyframe_every: keyframe spacing in ``"keyframes"`` mode.
        dilate: dilation radius (px) for coverage and area ratio.
        max_frames: use only the first frames.
        bound_th: boundary tolerance of F (fraction of the diagonal).
        tracker_kwargs: constructor arguments of the tracker.
        fusion_threshold: vote threshold of the two directions (see :func:`iter_track`).

    Returns:
        The :class:`ClipScore`.

    Raises:
        TrackingError: unknown mode, or a clip without per-frame masks.
    """
    if mode not in MODES:
        raise TrackingError(f"mode must be one of {MODES}, got {mode!r}")
    clip = load_clip(clip_dir, max_frames=max_frames)
    if not clip.has_all_masks:
        raise TrackingError(f"clip {clip.name!r} lacks per-frame masks")
    n = len(clip.frames)
    engine = get_tracker(tracker, **(tracker_kwargs or {}))
    if mode == "step":
        keys = {0: clip.mask(0)}
        tracked = _one_step_each(clip.frames, clip.mask, engine)
    else:
        spacing = n if mode == "first" else max(1, keyframe_every)
        keys = {i: clip.mask(i) for i in range(0, n, spacing)}
        tracked = iter_track(clip.frames, keys, engine, fusion_threshold)
    js: list[float] = []
    fs: list[float] = []
    covs: list[float] = []
    area_pred = 0
    area_gt = 0
    area_max = 0.0
    coll_max, coll_frame = 0.0, -1
    elapsed = 0.0
    start = time.perf_counter()
    for t, pred in enumerate(tracked):
        elapsed += time.perf_counter() - start
        if t not in keys:
            gt = clip.mask(t)
            js.append(jaccard(pred, gt))
            fs.append(boundary_f(pred, gt, bound_th))
            grown = dilate_mask(pred, dilate)
            if gt.any():
                covs.append(coverage(grown, gt))
            area_pred += int(np.count_nonzero(grown))
            area_gt += int(np.count_nonzero(gt))
            if gt.any():
                area_max = max(area_max, np.count_nonzero(grown) / np.count_nonzero(gt))
            coll = collateral(grown, gt)
            if coll_frame < 0 or coll > coll_max:
                coll_max, coll_frame = coll, t
        start = time.perf_counter()
    return ClipScore(
        clip=clip.name,
        tracker=tracker,
        mode=mode,
        frames=len(js),
        J=float(np.mean(js)) if js else float("nan"),
        F=float(np.mean(fs)) if fs else float("nan"),
        coverage=float(np.mean(covs)) if covs else float("nan"),
        cov_min=float(np.min(covs)) if covs else float("nan"),
        area_ratio=area_pred / area_gt if area_gt else float("nan"),
        area_max=float(area_max),
        seconds=elapsed,
        collateral=float(coll_max),
        coll_frame=coll_frame,
    )


def _one_step_each(
    frames: list[np.ndarray], truth: Callable[[int], np.ndarray], engine: MaskTracker
) -> Iterator[np.ndarray]:
    """Frame 0's truth, then for every later frame the tracker's mask one step from the
    previous frame's truth (a fresh start each time)."""
    yield truth(0)
    for t in range(1, len(frames)):
        state = engine.init(frames[t - 1], truth(t - 1), index=t - 1)
        mask, _ = engine.step(state, frames[t])
        yield mask


def evaluate(
    data_dir: str | Path,
    trackers: list[str] | None = None,
    modes: tuple[str, ...] = DEFAULT_MODES,
    keyframe_every: int = 20,
    dilate: int = 4,
    clips: list[str] | None = None,
    max_clips: int | None = None,
    max_frames: int | None = None,
    bound_th: float = 0.008,
    fusion_threshold: float = FUSION_THRESHOLD,
) -> EvalResult:
    """Evaluate trackers on every usable clip of ``data_dir``.

    Args:
        data_dir: a folder of clip folders (``manifest.json`` optional).
        trackers: tracker names; default: ``static``, ``dis`` and the default tracker.
        modes: any of :data:`MODES` (``"step"``: see the module doc).
        keyframe_every: keyframe spacing of the ``keyframes`` mode.
        dilate: dilation radius for coverage and area ratio (px, elliptical kernel).
        clips: only these clip names.
        max_clips: only the first clips (after ``clips``).
        max_frames: only the first frames of each clip.
        bound_th: boundary tolerance of F.
        fusion_threshold: vote threshold of the two directions in ``keyframes`` mode.

    Returns:
        The :class:`EvalResult`.

    Raises:
        TrackingError: unknown tracker, mode or clip, or no usable clip.
    """
    names = trackers or _default_trackers()
    for name in names:
        if name not in available_trackers():
            raise TrackingError(f"tracker must be one of {available_trackers()}, got {name!r}")
    usable, skipped = list_clips(data_dir)
    if clips:
        known = {p.name for p in usable}
        unknown = [c for c in clips if c not in known]
        if unknown:
            raise TrackingError(f"clips {unknown} are not usable clips of {str(data_dir)!r}")
        usable = [p for p in usable if p.name in clips]
    usable = usable[:max_clips] if max_clips is not None else usable
    if not usable:
        raise TrackingError(f"data_dir {str(data_dir)!r} has no clip with per-frame masks")
    scores = [
        score_clip(
            path,
            name,
            mode,
            keyframe_every,
            dilate,
            max_frames,
            bound_th,
            fusion_threshold=fusion_threshold,
        )
        for mode in modes
        for name in names
        for path in usable
    ]
    means = []
    for mode in modes:
        for name in names:
            rows = [s for s in scores if s.tracker == name and s.mode == mode]
            means.append(
                ClipScore(
                    clip="mean",
                    tracker=name,
                    mode=mode,
                    frames=sum(r.frames for r in rows),
                    J=float(np.mean([r.J for r in rows])),
                    F=float(np.mean([r.F for r in rows])),
                    coverage=float(np.mean([r.coverage for r in rows])),
                    cov_min=float(np.min([r.cov_min for r in rows])),
                    area_ratio=float(np.mean([r.area_ratio for r in rows])),
                    area_max=float(np.max([r.area_max for r in rows])),
                    seconds=float(np.sum([r.seconds for r in rows])),
                    collateral=float(np.max([r.collateral for r in rows])),
                )
            )
    return EvalResult(scores, means, skipped, dilate)


def _default_trackers() -> list[str]:
    names = ["static", "dis"]
    if DEFAULT_TRACKER not in names:
        names.append(DEFAULT_TRACKER)
    return names


def format_table(result: EvalResult) -> str:
    """Render an :class:`EvalResult` as a text table (per clip, then the means).

    Args:
        result: the evaluation result.

    Returns:
        The table as one string.
    """
    width = max([11, *(len(row.tracker) + 2 for row in result.scores)])
    head = (
        f"{'clip':<20}{'tracker':<{width}}{'mode':<10}{'frames':>6}{'J':>7}{'F':>7}"
        f"{'cov':>7}{'cov_min':>8}{'area':>7}{'a_max':>7}{'coll%':>7}{'@':>5}{'s':>7}"
    )
    lines = [head, "-" * len(head)]
    for row in [*result.scores, *result.means]:
        if row.clip == "mean" and lines[-1][0] != "=" and row is result.means[0]:
            lines.append("=" * len(head))
        lines.append(
            f"{row.clip:<20}{row.tracker:<{width}}{row.mode:<10}{row.frames:>6}{row.J:>7.3f}"
            f"{row.F:>7.3f}{row.coverage:>7.3f}{row.cov_min:>8.3f}{row.area_ratio:>7.2f}"
            f"{row.area_max:>7.2f}{100 * row.collateral:>7.2f}{row.coll_frame:>5}"
            f"{row.seconds:>7.1f}"
        )
    lines.append(
        f"coverage and area with the tracked mask dilated by {result.dilate} px; a_max: worst "
        f"frame; coll%: worst frame's share of the frame masked > {COLLATERAL_PX} px from the "
        "object, @ that frame (mean row: worst clip)"
    )
    for name, reason in result.skipped.items():
        lines.append(f"skipped {name}: {reason}")
    return "\n".join(lines)
