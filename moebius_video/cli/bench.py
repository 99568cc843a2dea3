"""``moebius-video bench``: throughput and memory, each against a same-run baseline.

The flags of every benchmark live here; the benchmarks (``moebius_video.bench``) take
plain values and return rows, printed as a table or JSON.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from moebius_video.cli.argtypes import (
    area_fraction,
    non_negative_int,
    positive_float,
    positive_int,
    size,
    size_list,
)
from moebius_video.errors import InvalidArgumentError

_SIZES = [(640, 360), (1280, 720)]


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``bench`` and its subcommands."""
    from moebius_video.bench.pipeline import DEFAULT_FILLS
    from moebius_video.fill import DEFAULT_FILLER, DEFAULT_LIVE_FILLER

    fills = ",".join(DEFAULT_FILLS)

    p = sub.add_parser("bench", parents=[common], help="measure speed and memory",
                       description="Measure speed and memory. Without a subcommand: the file "
                       "pipeline ('pipeline').")
    p.set_defaults(func=run_pipeline, sizes=_SIZES, frames=150, fill=fills,
                   tracker=None, repeats=1, json=False)
    bsub = p.add_subparsers(dest="bench", metavar="WHAT")

    def add(name: str, text: str, run) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        b = bsub.add_parser(name, parents=[common], help=text, description=text)
        b.set_defaults(func=run)
        return b

    def json_flag(b: argparse.ArgumentParser) -> None:
        b.add_argument("--json", action="store_true", help="print JSON instead of a table")

    pipe = add("pipeline", "decode, decode+encode and remove frames/s (the default)", run_pipeline)
    pipe.add_argument("--sizes", type=size_list, default=_SIZES, metavar="WxH,...",
                      help="comma-separated sizes (default 640x360,1280x720)")
    pipe.add_argument("--frames", type=positive_int, default=150, help="frames per generated clip")
    pipe.add_argument("--fill", default=fills,
                      help="comma-separated fillers, one remove run each (default: %(default)s: the "
                      "causal fill and file mode's default)")
    pipe.add_argument("--tracker", default=None, help="tracker for the remove run")
    pipe.add_argument("--repeats", type=positive_int, default=1, help="take the best of N runs")
    json_flag(pipe)

    mem = add("memory", "peak RSS of remove on a short and a 10x longer clip", run_memory)
    mem.add_argument("--size", type=size, default=(640, 360), metavar="WxH",
                     help="size of the clips (default 640x360)")
    mem.add_argument("--frames", default="300,3000", help="comma-separated clip lengths")
    mem.add_argument("--fill", default=DEFAULT_FILLER,
                     help="filler for the remove run (default: %(default)s, file mode's default)")
    json_flag(mem)

    live = add("live", "live glass-to-glass latency and frames/s at 640x360 and 1280x720", run_live)
    live.add_argument("--sizes", type=size_list, default=_SIZES, metavar="WxH,...",
                      help="comma-separated sizes (default 640x360,1280x720)")
    live.add_argument("--frames", type=positive_int, default=120, help="frames per run")
    live.add_argument("--fps", type=positive_float, default=30.0, help="source rate of the latency runs")
    live.add_argument("--fill", default=DEFAULT_LIVE_FILLER, help="filler")
    live.add_argument("--tracker", default=None, help="tracker (default: the package's)")
    json_flag(live)

    fill = add("fill", "filler frames/s against OpenCV Telea", run_fill)
    fill.add_argument("--fill", nargs="+", default=["telea", "temporal"], metavar="NAME",
                      help="fillers (NAME or NAME:key=value,...); the first is the baseline "
                      "(default: %(default)s)")
    fill.add_argument("--size", type=size, default=(640, 360), metavar="WxH",
                      help="frame size (default 640x360)")
    fill.add_argument("--hole", type=area_fraction, default=0.10,
                      help="hole area fraction (default: %(default)s)")
    fill.add_argument("--frames", type=Path, default=None, metavar="DIR",
                      help="folder of real frames (default: a generated panning texture)")
    fill.add_argument("-n", "--num-frames", type=positive_int, default=60, help="frames (default: %(default)s)")
    fill.add_argument("--lookahead", type=non_negative_int, default=None,
                      help="lookahead of *-offline fillers (default: their own)")

    model = add("model", "ms per UNet step and per image (Moebius network)", run_model)
    model.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    model.add_argument("--dtypes", default=None,
                       help="comma-separated fp32,bf16,fp16 (default: fp32,bf16 on CPU; fp16 on CUDA)")
    model.add_argument("--config", choices=("official", "tiny"), default="official", help="network size")
    model.add_argument("--batch-size", type=positive_int, default=1, help="images per step (CFG doubles it)")
    model.add_argument("--steps", type=positive_int, default=3, help="timed UNet steps (default: 3)")
    model.add_argument("--warmup", type=non_negative_int, default=1, help="untimed warm-up steps (default: 1)")
    model.add_argument("--image-steps", type=positive_int, default=20,
                       help="steps per image for the per-image figure")
    model.add_argument("--no-vae", action="store_true", help="skip the VAE timing")
    model.add_argument("--channels-last", action="store_true", help="channels-last weights")
    model.add_argument("--compile", action="store_true", help="torch.compile the network")
    model.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")

    batch = add("batch", "many clips as a batch on Ray against remove on each in sequence", run_batch)
    batch.add_argument("--clips", type=positive_int, default=8, help="number of generated clips (default 8)")
    batch.add_argument("--frames", type=positive_int, default=300, help="frames per clip (default 300)")
    batch.add_argument("--size", type=size, default=(640, 360), metavar="WxH",
                       help="size of the clips (default 640x360)")
    batch.add_argument("--workers", type=positive_int, default=2, help="Ray workers (default 2)")
    batch.add_argument("--fill", default="temporal", help="filler of every job (default temporal)")
    batch.add_argument("--keep", type=Path, default=None,
                       help="keep the clips and outputs in this folder (default: a temporary one)")
    json_flag(batch)

    soak = add("soak", "the live engine over 20000 frames: RSS, threads, open files, latency per 1000",
               run_soak)
    soak.add_argument("--frames", type=positive_int, default=20_000, help="frames to capture (default 20000)")
    soak.add_argument("--minutes", type=positive_float, default=None, help="run this long instead of --frames")
    soak.add_argument("--size", type=size, default=(640, 360), metavar="WxH", help="WxH (default 640x360)")
    soak.add_argument("--fps", type=positive_float, default=30.0, help="source rate (default 30)")
    soak.add_argument("--every", type=positive_int, default=1000,
                      help="frames captured per row (default 1000)")
    soak.add_argument("--fill", default=DEFAULT_LIVE_FILLER, help="filler")
    soak.add_argument("--tracker", default=None, help="tracker (default: the package's)")
    soak.add_argument("--json", action="store_true", help="print JSON rows at the end")

    track = add("tracking", "tracker frames/s at 640x360 and 1280x720", run_tracking)
    track.add_argument("--trackers", nargs="+", default=None,
                       help="trackers to time (default: static dis, the default tracker, flow-fast)")
    track.add_argument("--sizes", nargs="+", type=size, default=_SIZES, metavar="WxH",
                       help="frame sizes (default 640x360 1280x720)")
    track.add_argument("--frames", type=positive_int, default=60, help="frames per run")
    track.add_argument("--clip", type=Path, default=None,
                       help="clip folder (frames/ + masks/) instead of synthetic frames")
    json_flag(track)


def _print(rows: list, as_json: bool, table: str) -> None:  # type: ignore[type-arg]
    from moebius_video.bench.common import to_json

    print(to_json(rows) if as_json else table)


def run_pipeline(args: argparse.Namespace) -> int:
    """``moebius-video bench pipeline``."""
    from moebius_video.bench.common import scene_clip
    from moebius_video.bench.pipeline import format_throughput, measure_throughput

    rows = []
    with tempfile.TemporaryDirectory(prefix="moebius-bench-") as tmp:
        for width, height in args.sizes:
            clip, mask = scene_clip(Path(tmp), width, height, args.frames)
            fills = tuple(f.strip() for f in args.fill.split(",") if f.strip())
            rows += measure_throughput(clip, mask, fills=fills, tracker=args.tracker,
                                       repeats=args.repeats)
    _print(rows, args.json, format_throughput(rows))
    return 0


def run_memory(args: argparse.Namespace) -> int:
    """``moebius-video bench memory``."""
    from moebius_video.bench.common import scene_clip
    from moebius_video.bench.pipeline import format_memory, measure_memory

    width, height = args.size
    rows = []
    with tempfile.TemporaryDirectory(prefix="moebius-bench-") as tmp:
        for frames in (int(v) for v in args.frames.split(",")):
            clip, mask = scene_clip(Path(tmp), width, height, frames)
            rows.append(measure_memory(clip, mask, fill=args.fill))
            clip.unlink()
    _print(rows, args.json, format_memory(rows))
    return 0


def run_live(args: argparse.Namespace) -> int:
    """``moebius-video bench live``."""
    from moebius_video.bench.live import format_rows, measure

    rows = []
    for width, height in args.sizes:
        rows += measure(width, height, frames=args.frames, fps=args.fps, fill=args.fill,
                        tracker=args.tracker)
    _print(rows, args.json, format_rows(rows, args.fps))
    return 0


def run_fill(args: argparse.Namespace) -> int:
    """``moebius-video bench fill``."""
    import numpy as np

    from moebius_video.bench.common import moving_ellipse_masks, panning_frames
    from moebius_video.bench.fill import format_speeds, measure_fill_speed, real_frames

    width, height = args.size
    n = args.num_frames
    frames = (real_frames(args.frames, n, width, height) if args.frames is not None
              else panning_frames(n, width, height))
    masks = moving_ellipse_masks(len(frames), width, height, args.hole)
    results = measure_fill_speed(list(args.fill), frames, masks, lookahead=args.lookahead)
    hole = float(np.mean([m.mean() for m in masks]))
    print(f"{width}x{height}, hole {100 * hole:.1f} %, {results[0].frames} timed frames")
    print(format_speeds(results))
    return 0


def run_model(args: argparse.Namespace) -> int:
    """``moebius-video bench model``."""
    from moebius_video.bench.model import ModelBenchConfig, format_rows, measure_model

    config = ModelBenchConfig(
        device=args.device, dtypes=tuple(args.dtypes.split(",")) if args.dtypes else None,
        config=args.config, batch_size=args.batch_size, steps=args.steps, warmup=args.warmup,
        image_steps=args.image_steps, no_vae=args.no_vae, channels_last=args.channels_last,
        compile=args.compile, threads=args.threads,
    )
    rows, device = measure_model(config)
    print(format_rows(rows, config, device))
    return 0


def run_tracking(args: argparse.Namespace) -> int:
    """``moebius-video bench tracking``."""
    import tracking
    from moebius_video.bench.tracking import format_rows, measure_trackers

    names = args.trackers or ["static", "dis", tracking.DEFAULT_TRACKER, "flow-fast"]
    try:
        rows = measure_trackers(list(dict.fromkeys(names)), args.sizes, args.frames, args.clip)
    except tracking.TrackingError as error:
        raise InvalidArgumentError(str(error)) from None
    _print(rows, args.json, format_rows(rows))
    return 0


def run_batch(args: argparse.Namespace) -> int:
    """``moebius-video bench batch``."""
    import json
    from dataclasses import asdict

    from moebius_video.batch.runner import _import_ray
    from moebius_video.bench.batch import format_rows, measure

    _import_ray()
    rows, facts = measure(args.clips, args.frames, args.size, args.workers, args.fill, args.keep)
    if args.json:
        print(json.dumps({"facts": facts, "rows": [asdict(r) for r in rows]}, indent=2))
    else:
        print(format_rows(rows, facts))
    return 0


def run_soak(args: argparse.Namespace) -> int:
    """``moebius-video bench soak``: a row per window as it is measured, then the verdict."""
    from moebius_video.bench.common import to_json
    from moebius_video.bench.soak import format_row, header, soak, verdict

    width, height = args.size
    if not args.json:
        print(header(), flush=True)
    rows = soak(frames=None if args.minutes else args.frames, minutes=args.minutes, width=width,
                height=height, fps=args.fps, every=args.every, fill=args.fill,
                tracker=args.tracker,
                on_row=(lambda row: None) if args.json else (lambda row: print(format_row(row), flush=True)))
    print(to_json(rows) if args.json else verdict(rows))
    return 0
