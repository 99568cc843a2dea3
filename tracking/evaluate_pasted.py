"""The pasted-object protocol of ``eval tracking --protocol pasted DATA``: an exact truth.

Clips come from :mod:`tracking.pasted` (RGBA cut-outs moving over real footage along several
motions). The tracker gets the first frame's true mask only; every later frame is scored,
with the tracked mask dilated by ``dilate`` px as ``remove`` dilates it:

* ``coverage``: the fraction of the true object inside the dilated mask (mean, and ``cov_p5``
  the 5th percentile over frames); frames where the object is out are left out;
* ``area``: the dilated mask's area over the true object's dilated by the same radius (so a
  perfect tracker scores 1.0 whatever ``dilate`` is): the mean and ``area_max`` the worst
  frame;
* ``collateral``: the fraction of the frame that is more than 20 px from the true object and
  inside the dilated mask, in the worst frame: what a removal would wrongly erase;
* ``over``: how many frames have more than :data:`COLLATERAL_LIMIT` (1 %) collateral, the
  issue's bound for every frame of every clip (mean row: the sum over clips);
* ``doubtful``: the fraction of frames whose confidence is below
  :data:`tracking.DOUBTFUL_BELOW`, and ``doubt_hit``: the fraction of the bad frames
  (coverage < 0.9 or collateral > 1 %) that were flagged doubtful.

Every scored frame can be written out too (:func:`write_frames`, ``--per-frame FILE.csv``),
to find the frames behind a clip's worst figures.
"""

from __future__ import annotations

import contextlib
import csv
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .confidence import DOUBTFUL_BELOW
from .errors import TrackingError
from .geometry import dilate_mask
from .metrics import COLLATERAL_PX, collateral, jaccard
from .offline import FUSION_THRESHOLD, iter_track_frames
from .pasted import PastedClip
from .registry import get_tracker

#: The most collateral a frame may have (issue 13: every frame of every clip).
COLLATERAL_LIMIT = 0.01


@dataclass(frozen=True)
class PastedScore:
    """Scores of one tracker on one pasted clip (or the mean over clips, ``clip="mean"``).

    Attributes:
        clip: ``source/object/motion`` or ``"mean"``.
        split: ``"tune"``, ``"heldout"``, ``"issue"`` or ``"all"``.
        tracker: tracker name.
        frames: scored frames.
        J: mean IoU of the raw mask (frames where the object is visible).
        coverage: mean coverage.
        cov_p5: 5th percentile of coverage over frames (mean row: mean over clips).
        area: mean area ratio.
        area_max: worst-frame area ratio (mean row: the worst clip's).
        collateral: worst-frame collateral, fraction of the frame (mean row: worst clip's).
        doubtful: fraction of frames flagged doubtful.
        doubt_hit: fraction of bad frames flagged doubtful (``nan`` when no frame was bad).
        worst_frame: the frame of ``collateral`` (mean row: -1).
        seconds: tracking time.
        over: frames with more than :data:`COLLATERAL_LIMIT` collateral (mean row: the sum).
    """

    clip: str
    split: str
    tracker: str
    frames: int
    J: float
    coverage: float
    cov_p5: float
    area: float
    area_max: float
    collateral: float
    doubtful: float
    doubt_hit: float
    worst_frame: int
    seconds: float
    over: int = 0


@dataclass(frozen=True)
class PastedResult:
    """Everything :func:`evaluate_pasted` measured.

    Attributes:
        scores: one row per clip and tracker.
        means: per tracker, the mean row (worst clip for the worst-frame columns).
        dilate: the dilation radius.
        split: the split that was run.
        per_frame: ``tracker:clip`` -> per scored frame ``(frame index, coverage, area ratio,
            collateral, confidence)``.
    """

    scores: list[PastedScore]
    means: list[PastedScore]
    dilate: int
    split: str
    per_frame: dict[str, list[tuple[int, float, float, float, float]]] = field(default_factory=dict)

    def mean(self, tracker: str) -> PastedScore:
        """The mean row of one tracker.

        Raises:
            KeyError: the tracker was not evaluated.
        """
        for row in self.means:
            if row.tracker == tracker:
                return row
        raise KeyError(tracker)


def frame_scores(
    pred: np.ndarray, truth: np.ndarray, dilate: int
) -> tuple[float, float, float, float]:
    """Coverage, area ratio, collateral and IoU of one frame (``nan`` where undefined).

    Args:
        pred: ``H,W`` bool tracked mask (not dilated).
        truth: ``H,W`` bool true mask.
        dilate: the dilation radius applied to both for coverage and area.

    Returns:
        ``(coverage, area ratio, collateral, J)``; coverage, area and J are ``nan`` when
        ``truth`` is empty.
    """
    grown = dilate_mask(pred, dilate)
    coll = collateral(grown, truth)
    n_truth = np.count_nonzero(truth)
    if n_truth == 0:
        return float("nan"), float("nan"), float(coll), float("nan")
    cov = np.count_nonzero(grown & truth) / n_truth
    area = np.count_nonzero(grown) / max(np.count_nonzero(dilate_mask(truth, dilate)), 1)
    return float(cov), float(area), float(coll), float(jaccard(pred, truth))


def score_pasted_clip(
    clip: PastedClip,
    tracker: str,
    dilate: int = 4,
    keyframe_every: int | None = None,
    fusion_threshold: float = FUSION_THRESHOLD,
) -> tuple[PastedScore, list[tuple[int, float, float, float, float]]]:
    """Track one pasted clip from its first true mask and score every other frame.

    Args:
        clip: the clip.
        tracker: tracker name.
        dilate: dilation radius (px).
        keyframe_every: also give the true mask every this many frames (``None``: first only).
        fusion_threshold: the offline fusion's vote threshold.

    Returns:
        ``(score, per scored frame (frame index, coverage, area, collateral, confidence))``.
    """
    n = len(clip.frames)
    step = keyframe_every or n
    keys = {i: clip.masks[i] for i in range(0, n, step) if clip.masks[i].any()}
    if 0 not in keys:
        raise TrackingError(f"clip {clip.name!r} has no object on its first frame")
    engine = get_tracker(tracker)
    rows: list[tuple[int, float, float, float, float]] = []
    js: list[float] = []
    elapsed = 0.0
    start = time.perf_counter()
    for item in iter_track_frames(clip.frames, keys, engine, fusion_threshold):
        elapsed += time.perf_counter() - start
        if not item.keyframe:
            cov, area, coll, j = frame_scores(item.mask, clip.masks[item.index], dilate)
            rows.append((item.index, cov, area, coll, item.confidence))
            if not np.isnan(j):
                js.append(j)
        start = time.perf_counter()
    return _summarise(clip.name, clip.split, tracker, rows, js, elapsed), rows


def _summarise(
    name: str,
    split: str,
    tracker: str,
    rows: list[tuple[int, float, float, float, float]],
    js: list[float],
    seconds: float,
) -> PastedScore:
    arr = np.array(rows, np.float64).reshape(-1, 5)[:, 1:]
    cov = arr[:, 0][~np.isnan(arr[:, 0])]
    area = arr[:, 1][~np.isnan(arr[:, 1])]
    coll = arr[:, 2]
    doubtful = arr[:, 3] < DOUBTFUL_BELOW
    bad = (np.nan_to_num(arr[:, 0], nan=1.0) < 0.9) | (coll > COLLATERAL_LIMIT)
    nan = float("nan")
    return PastedScore(
        clip=name,
        split=split,
        tracker=tracker,
        frames=len(rows),
        J=float(np.mean(js)) if js else nan,
        coverage=float(cov.mean()) if cov.size else nan,
        cov_p5=float(np.percentile(cov, 5)) if cov.size else nan,
        area=float(area.mean()) if area.size else nan,
        area_max=float(area.max()) if area.size else nan,
        collateral=float(coll.max()) if coll.size else nan,
        doubtful=float(doubtful.mean()) if len(rows) else nan,
        doubt_hit=float(doubtful[bad].mean()) if bad.any() else nan,
        worst_frame=int(rows[int(np.argmax(coll))][0]) if coll.size else -1,
        seconds=seconds,
        over=int(np.count_nonzero(coll > COLLATERAL_LIMIT)),
    )


def mean_row(rows: list[PastedScore], tracker: str, split: str) -> PastedScore:
    """The mean over clips (worst clip for ``area_max`` and ``collateral``).

    Args:
        rows: the clips' rows of one tracker.
        tracker: its name.
        split: the split's name.

    Returns:
        The mean row (``clip="mean"``).
    """

    def avg(name: str) -> float:
        values = [getattr(r, name) for r in rows if not np.isnan(getattr(r, name))]
        return float(np.mean(values)) if values else float("nan")

    def worst(name: str) -> float:
        values = [getattr(r, name) for r in rows if not np.isnan(getattr(r, name))]
        return float(np.max(values)) if values else float("nan")

    return PastedScore(
        clip="mean",
        split=split,
        tracker=tracker,
        frames=sum(r.frames for r in rows),
        J=avg("J"),
        coverage=avg("coverage"),
        cov_p5=avg("cov_p5"),
        area=avg("area"),
        area_max=worst("area_max"),
        collateral=worst("collateral"),
        doubtful=avg("doubtful"),
        doubt_hit=avg("doubt_hit"),
        worst_frame=-1,
        seconds=float(sum(r.seconds for r in rows)),
        over=sum(r.over for r in rows),
    )


def evaluate_pasted(
    clips: Iterable[PastedClip],
    trackers: list[str],
    split: str,
    dilate: int = 4,
    keyframe_every: int | None = None,
    fusion_threshold: float = FUSION_THRESHOLD,
    progress: bool = False,
) -> PastedResult:
    """Score trackers on generated clips.

    Args:
        clips: the clips (generated one at a time).
        trackers: tracker names.
        split: the split's name (for the mean rows).
        dilate: dilation radius.
        keyframe_every: true masks every this many frames (``None``: the first only).
        fusion_threshold: the offline fusion's vote threshold.
        progress: log each clip's row as it is done (``logging`` INFO).

    Returns:
        The :class:`PastedResult`.

    Raises:
        TrackingError: no clip.
    """
    import logging

    log = logging.getLogger(__name__)
    scores: list[PastedScore] = []
    per_frame: dict[str, list[tuple[int, float, float, float, float]]] = {}
    for clip in clips:
        for name in trackers:
            score, rows = score_pasted_clip(clip, name, dilate, keyframe_every, fusion_threshold)
            scores.append(score)
            per_frame[f"{name}:{clip.name}"] = rows
            if progress:
                log.info("%s", format_row(score))
    if not scores:
        raise TrackingError("no pasted clip was generated")
    means = [mean_row([s for s in scores if s.tracker == t], t, split) for t in trackers]
    return PastedResult(scores, means, dilate, split, per_frame)


def write_frames(result: PastedResult, path: str | Path) -> int:
    """Write every scored frame as CSV: ``tracker, clip, frame, coverage, area, collateral,
    confidence`` (coverage and area empty where the object is out of view).

    Written to a temporary name beside ``path`` and renamed: an interrupted run leaves no
    half-written file.

    Args:
        result: an evaluation's result.
        path: the CSV file.

    Returns:
        The number of rows written.

    Raises:
        TrackingError: the file cannot be written.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    n = 0
    try:
        with tmp.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["tracker", "clip", "frame", "coverage", "area", "collateral", "confidence"])
            for key, rows in result.per_frame.items():
                tracker, clip = key.split(":", 1)
                for index, cov, area, coll, conf in rows:
                    out.writerow([tracker, clip, index, "" if np.isnan(cov) else f"{cov:.4f}",
                                  "" if np.isnan(area) else f"{area:.4f}", f"{coll:.6f}", f"{conf:.3f}"])
                    n += 1
        os.replace(tmp, target)
    except OSError as error:
        raise TrackingError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    finally:
        with contextlib.suppress(OSError):  # gone once renamed; removed after a failure or Ctrl-C
            tmp.unlink(missing_ok=True)
    return n


_HEAD = (
    f"{'clip':<52}{'tracker':<8}{'n':>4}{'J':>6}{'cov':>7}{'cov_p5':>7}{'area':>6}"
    f"{'a_max':>7}{'coll%':>7}{'@fr':>5}{'>1%':>5}{'doubt':>6}{'hit':>6}{'s':>6}"
)


def format_row(r: PastedScore) -> str:
    """One line of the table.

    Args:
        r: a row.

    Returns:
        The line.
    """
    name = r.clip if len(r.clip) <= 51 else r.clip[:24] + "~" + r.clip[-26:]
    return (
        f"{name:<52}{r.tracker:<8}{r.frames:>4}{r.J:>6.3f}{r.coverage:>7.3f}{r.cov_p5:>7.3f}"
        f"{r.area:>6.2f}{r.area_max:>7.2f}{100 * r.collateral:>7.2f}{r.worst_frame:>5}{r.over:>5}"
        f"{r.doubtful:>6.2f}{r.doubt_hit:>6.2f}{r.seconds:>6.1f}"
    )


def format_pasted(result: PastedResult) -> str:
    """The result as a text table: per clip, then the means.

    Args:
        result: the result.

    Returns:
        The table.
    """
    lines = [_HEAD, "-" * len(_HEAD)]
    lines += [format_row(r) for r in result.scores]
    lines.append("=" * len(_HEAD))
    lines += [format_row(r) for r in result.means]
    lines.append(
        f"split {result.split}; mask dilated by {result.dilate} px; area over the true object "
        f"dilated alike; coll% = worst frame's share of the frame > {COLLATERAL_PX} px from the "
        "object inside the mask (@fr: that frame); >1% = frames above 1 % collateral; mean row: "
        "worst clip for a_max and coll%, the sum for >1%; "
        f"doubt = share of frames below confidence {DOUBTFUL_BELOW}; hit = share of bad frames "
        "(cov < 0.9 or coll > 1 %) flagged doubtful"
    )
    return "\n".join(lines)


__all__ = [
    "COLLATERAL_LIMIT",
    "COLLATERAL_PX",
    "PastedResult",
    "PastedScore",
    "evaluate_pasted",
    "format_pasted",
    "frame_scores",
    "mean_row",
    "score_pasted_clip",
    "write_frames",
]
