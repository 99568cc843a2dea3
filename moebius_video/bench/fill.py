"""Fill speed (``bench fill``): frames per second of fillers, Telea as baseline.

Frames are either a generated panning texture (no data needed) or the frames of a real
clip (``--frames DIR``), resized to ``--size``; the hole is a moving ellipse covering
``--hole`` of the frame. Only :meth:`Filler.fill` is timed (no decoding, no compositing).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from moebius_video.bench.common import format_table
from moebius_video.errors import InvalidArgumentError
from moebius_video.fill import FutureFrame, get_filler, parse_filler_spec

logger = logging.getLogger(__name__)


@dataclass
class FillSpeed:
    """Speed of one filler.

    Attributes:
        filler: Filler name.
        frames: Frames timed (after warm-up).
        fps: Frames per second.
        ms_per_frame: Milliseconds per frame (mean).
        ms_p95: 95th percentile of the per-frame time.
        ratio_to_baseline: ``fps`` divided by the baseline's ``fps``.
    """

    filler: str
    frames: int
    fps: float
    ms_per_frame: float
    ms_p95: float
    ratio_to_baseline: float = 1.0


def real_frames(folder: Path, n: int, width: int, height: int) -> list[np.ndarray]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    if not files:
        raise InvalidArgumentError(f"no frames (jpg/png) in {str(folder)!r}")
    frames = []
    for p in files:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise InvalidArgumentError(f"cannot read {str(p)!r}")
        frames.append(cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (width, height), interpolation=cv2.INTER_AREA))
    return frames


def measure_fill_speed(
    fillers: list[str],
    frames: list[np.ndarray],
    masks: list[np.ndarray],
    *,
    warmup: int = 3,
    lookahead: int | None = None,
) -> list[FillSpeed]:
    """Time :meth:`Filler.fill` of each filler over the same frames; first one = baseline.

    Args:
        fillers: Filler names (``name`` or ``name:key=value,...``); ratios are relative
            to the first.
        frames: ``H, W, 3`` uint8 RGB frames.
        masks: ``H, W`` bool masks, one per frame.
        warmup: Untimed frames at the start.
        lookahead: Lookahead given to ``*-offline`` fillers (``None``: their own default).

    Returns:
        One :class:`FillSpeed` per filler.
    """
    if len(frames) != len(masks) or len(frames) <= warmup:
        raise InvalidArgumentError(f"need more than warmup={warmup} frames with one mask each")
    results = []
    for name in fillers:
        base, kwargs = parse_filler_spec(name)
        if base.endswith("-offline") and lookahead is not None:
            kwargs.setdefault("lookahead", lookahead)
        filler = get_filler(base, **kwargs)
        times = []
        for i, (img, m) in enumerate(zip(frames, masks)):
            future = [FutureFrame(frames[j], masks[j]) for j in range(i + 1, min(i + 1 + filler.lookahead, len(frames)))]
            start = time.perf_counter()
            filler.fill(img, m, future=future)
            if i >= warmup:
                times.append(time.perf_counter() - start)
        t = np.asarray(times)
        results.append(FillSpeed(name, len(t), float(1.0 / t.mean()), float(1000 * t.mean()),
                                 float(1000 * np.percentile(t, 95))))
    base = results[0].fps
    for r in results:
        r.ratio_to_baseline = r.fps / base
    return results


def format_speeds(results: list[FillSpeed]) -> str:
    """A text table of filler speeds (the first is the baseline)."""
    return format_table(results, [("filler", "filler", "s"), ("fps", "fps", ".1f"),
                                  ("ms/frame", "ms_per_frame", ".2f"), ("p95 ms", "ms_p95", ".2f"),
                                  ("x baseline", "ratio_to_baseline", ".2f")])
