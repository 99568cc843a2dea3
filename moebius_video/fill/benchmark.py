"""Fill speed (``moebius-video bench fill``): frames per second of fillers, Telea as baseline.

Frames are either a generated panning texture (no data needed) or the frames of a real
clip (``--frames DIR``), resized to ``--size``; the hole is a moving ellipse covering
``--hole`` of the frame. Only :meth:`Filler.fill` is timed (no decoding, no compositing).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

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


def synthetic_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` RGB frames of a textured background panning 2 px per frame."""
    rng = np.random.default_rng(seed)
    big = rng.integers(0, 256, (height // 4 + 8, (width + 2 * n) // 4 + 8, 3), dtype=np.uint8)
    big = cv2.resize(big, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), 1.0)
    return [np.ascontiguousarray(big[8 : 8 + height, 2 * i : 2 * i + width]) for i in range(n)]


def moving_ellipse_masks(n: int, width: int, height: int, fraction: float) -> list[np.ndarray]:
    """``n`` masks: an ellipse of ``fraction`` of the frame area moving left to right."""
    area = fraction * width * height
    ax = int(np.sqrt(area / np.pi * 1.5))
    ay = max(1, int(area / (np.pi * max(ax, 1))))
    masks = []
    for i in range(n):
        m = np.zeros((height, width), np.uint8)
        cx = int(width * (0.25 + 0.5 * i / max(n - 1, 1)))
        cv2.ellipse(m, (cx, height // 2), (ax, ay), 0, 0, 360, 1, -1)
        masks.append(m > 0)
    return masks


def _real_frames(folder: Path, n: int, width: int, height: int) -> list[np.ndarray]:
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
    lookahead: int = 8,
) -> list[FillSpeed]:
    """Time :meth:`Filler.fill` of each filler over the same frames; first one = baseline.

    Args:
        fillers: Filler names (``name`` or ``name:key=value,...``); ratios are relative
            to the first.
        frames: ``H, W, 3`` uint8 RGB frames.
        masks: ``H, W`` bool masks, one per frame.
        warmup: Untimed frames at the start.
        lookahead: Lookahead given to ``*-offline`` fillers.

    Returns:
        One :class:`FillSpeed` per filler.
    """
    if len(frames) != len(masks) or len(frames) <= warmup:
        raise InvalidArgumentError(f"need more than warmup={warmup} frames with one mask each")
    results = []
    for name in fillers:
        base, kwargs = parse_filler_spec(name)
        if base.endswith("-offline"):
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the fill benchmark to ``parser``."""
    from moebius_video.cli.argtypes import area_fraction, non_negative_int, positive_int

    parser.add_argument("--fill", nargs="+", default=["telea", "temporal"], metavar="NAME",
                        help="fillers (NAME or NAME:key=value,...); the first is the baseline "
                        "(default: %(default)s)")
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT (default: %(default)s)")
    parser.add_argument("--hole", type=area_fraction, default=0.10, help="hole area fraction (default: %(default)s)")
    parser.add_argument("--frames", type=Path, default=None, metavar="DIR",
                        help="folder of real frames (default: a generated panning texture)")
    parser.add_argument("-n", "--num-frames", type=positive_int, default=60, help="frames (default: %(default)s)")
    parser.add_argument("--lookahead", type=non_negative_int, default=8, help="lookahead of *-offline fillers")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed arguments and print a table. Returns the exit status."""
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise InvalidArgumentError(f"--size must be WIDTHxHEIGHT, got {args.size!r}") from None
    if not 0.0 < args.hole < 1.0:
        raise InvalidArgumentError(f"--hole must be in (0, 1), got {args.hole}")
    n = args.num_frames
    frames = (_real_frames(args.frames, n, width, height) if args.frames is not None
              else synthetic_frames(n, width, height))
    masks = moving_ellipse_masks(len(frames), width, height, args.hole)
    results = measure_fill_speed(list(args.fill), frames, masks, lookahead=args.lookahead)
    hole = float(np.mean([m.mean() for m in masks]))
    lines = [f"{width}x{height}, hole {100 * hole:.1f} %, {results[0].frames} timed frames",
             f"{'filler':18} {'fps':>7} {'ms/frame':>9} {'p95 ms':>7} {'x baseline':>10}"]
    lines += [f"{r.filler:18} {r.fps:7.1f} {r.ms_per_frame:9.2f} {r.ms_p95:7.2f} {r.ratio_to_baseline:10.2f}"
              for r in results]
    print("\n".join(lines))  # noqa: T201 - CLI output
    return 0
