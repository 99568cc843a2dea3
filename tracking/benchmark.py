"""Time the trackers (``bench tracking``): frames per second of ``step`` at given sizes.

Frames are prepared before timing (decoded from a clip folder and resized, or generated: a
textured object moving over a panning textured background), so only tracking is timed.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ._checks import positive_int_arg
from .data import load_clip
from .errors import TrackingError
from .registry import DEFAULT_TRACKER, available_trackers, get_tracker


@dataclass(frozen=True)
class BenchResult:
    """Speed of one tracker at one size.

    Attributes:
        tracker: tracker name.
        width: frame width.
        height: frame height.
        frames: number of timed steps.
        fps: frames per second of ``step``.
        ms_per_frame: milliseconds per ``step``.
    """

    tracker: str
    width: int
    height: int
    frames: int
    fps: float
    ms_per_frame: float


def synthetic_frames(
    n: int, width: int, height: int, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """A textured ellipse (about 6 % of the frame) crossing a panning textured background.

    Args:
        n: number of frames.
        width: frame width.
        height: frame height.
        seed: random seed.

    Returns:
        ``(frames, first_mask)``: ``n`` ``H,W,3`` uint8 RGB frames and the ``H,W`` bool mask
        of the object on the first one.
    """
    rng = np.random.default_rng(seed)
    pan = max(1, width // 320)
    big_w, big_h = width + pan * n + 8, height + 8
    coarse = rng.random((big_h // 16 + 2, big_w // 16 + 2, 3)).astype(np.float32)
    fine = rng.random((big_h, big_w, 3)).astype(np.float32)
    tex = 0.6 * cv2.resize(coarse, (big_w, big_h)) + 0.4 * cv2.GaussianBlur(fine, (0, 0), 1.5)
    background = (tex / tex.max() * 220).astype(np.uint8)
    rx, ry = width // 8, height // 6
    yy, xx = np.mgrid[0:height, 0:width]
    frames: list[np.ndarray] = []
    first = np.zeros((height, width), bool)
    for t in range(n):
        frame = background[4 : 4 + height, 4 + pan * t : 4 + pan * t + width].copy()
        cx = width // 4 + (t * 2 * pan) % (width // 2)
        cy = height // 2
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        frame[inside] = (255 - frame[inside]) // 2 + np.array([0, 0, 120], np.uint8)
        frames.append(frame)
        if t == 0:
            first = inside
    return frames, first


def clip_frames(
    folder: str | Path, n: int, width: int, height: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``n`` frames of a clip folder, resized, with the first mask.

    Args:
        folder: clip folder (``frames/`` + ``masks/``).
        n: number of frames.
        width: target width.
        height: target height.

    Returns:
        ``(frames, first_mask)``.
    """
    clip = load_clip(folder, max_frames=n)
    frames = [
        cv2.resize(clip.frames[i], (width, height), interpolation=cv2.INTER_AREA)
        for i in range(len(clip.frames))
    ]
    mask = (
        cv2.resize(clip.mask(0).astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        > 0
    )
    return frames, mask


def bench(
    trackers: list[str],
    sizes: list[tuple[int, int]],
    n_frames: int = 60,
    clip: str | Path | None = None,
    warmup: int = 3,
) -> list[BenchResult]:
    """Time ``step`` of each tracker at each size.

    Args:
        trackers: tracker names.
        sizes: ``(width, height)`` pairs.
        n_frames: frames per run (timed: ``n_frames - 1 - warmup`` steps).
        clip: a clip folder to take frames from (default: synthetic frames).
        warmup: untimed steps first.

    Returns:
        One :class:`BenchResult` per tracker and size.

    Raises:
        TrackingError: unknown tracker or too few frames.
    """
    for name in trackers:
        if name not in available_trackers():
            raise TrackingError(f"tracker must be one of {available_trackers()}, got {name!r}")
    results = []
    for width, height in sizes:
        if clip is None:
            frames, mask = synthetic_frames(n_frames, width, height)
        else:
            frames, mask = clip_frames(clip, n_frames, width, height)
        if len(frames) < warmup + 2:
            raise TrackingError(f"n_frames must be at least {warmup + 2}, got {len(frames)}")
        for name in trackers:
            tracker = get_tracker(name)
            state = tracker.init(frames[0], mask)
            for frame in frames[1 : 1 + warmup]:
                _, state = tracker.step(state, frame)
            timed = frames[1 + warmup :]
            start = time.perf_counter()
            for frame in timed:
                _, state = tracker.step(state, frame)
            elapsed = max(time.perf_counter() - start, 1e-9)
            results.append(
                BenchResult(
                    name,
                    width,
                    height,
                    len(timed),
                    len(timed) / elapsed,
                    1e3 * elapsed / len(timed),
                )
            )
    return results


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's options to a parser.

    Args:
        parser: the (sub)parser of ``bench tracking``.
    """
    parser.add_argument(
        "--trackers",
        nargs="+",
        default=["static", "dis", DEFAULT_TRACKER, "flow-fast"],
        help="trackers to time",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=_size,
        default=[(640, 360), (1280, 720)],
        help="frame sizes WIDTHxHEIGHT",
    )
    parser.add_argument("--frames", type=positive_int_arg, default=60, help="frames per run")
    parser.add_argument(
        "--clip",
        type=Path,
        default=None,
        help="clip folder (frames/ + masks/) instead of synthetic frames",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark from parsed arguments and print frames/s.

    Args:
        args: the namespace built by a parser given :func:`add_arguments`.

    Returns:
        0 on success, 2 on bad input.
    """
    try:
        results = bench(list(dict.fromkeys(args.trackers)), args.sizes, args.frames, args.clip)
    except TrackingError as error:
        print(f"error: {error}")
        return 2
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=1))
        return 0
    print(f"{'tracker':<10}{'size':>11}{'frames':>8}{'frames/s':>10}{'ms/frame':>10}")
    for r in results:
        print(
            f"{r.tracker:<10}{f'{r.width}x{r.height}':>11}{r.frames:>8}{r.fps:>10.1f}"
            f"{r.ms_per_frame:>10.2f}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m tracking.benchmark``).

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="tracking.benchmark", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
