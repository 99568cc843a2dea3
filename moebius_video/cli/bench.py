"""``moebius-video bench``: throughput and memory, each against a same-run baseline."""

from __future__ import annotations

import argparse
import importlib
import json
import tempfile
from pathlib import Path

#: Benchmarks that live with the component they measure: name -> (module, help).
COMPONENT_BENCHMARKS = {
    "model": ("moebius_video.model.benchmark", "ms per UNet step and per image (Moebius network)"),
    "tracking": ("tracking.benchmark", "tracker frames/s at 640x360 and 1280x720"),
    "fill": ("moebius_video.fill.benchmark", "filler frames/s against OpenCV Telea"),
    "live": ("moebius_video.engine.live_bench",
             "live glass-to-glass latency and frames/s at 640x360 and 1280x720"),
    "batch": ("moebius_video.batch.bench",
              "many clips as a batch on Ray against remove on each in sequence"),
    "warmstart": ("moebius_video.fill.warm_bench",
                  "latent warm start vs cold start: steps, ms and flicker per frame"),
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``bench`` and its subcommands."""
    p = sub.add_parser("bench", parents=[common], help="measure speed and memory",
                       description="Measure speed and memory. Without a subcommand: the file "
                       "pipeline ('pipeline').")
    p.set_defaults(func=run_pipeline, sizes="640x360,1280x720", frames=150, fill="telea,temporal",
                   tracker=None, repeats=1, json=False)
    bsub = p.add_subparsers(dest="bench", metavar="WHAT")
    pipe = bsub.add_parser("pipeline", parents=[common],
                           help="decode, decode+encode and remove frames/s (the default)")
    pipe.add_argument("--sizes", default="640x360,1280x720", help="comma-separated WxH list")
    pipe.add_argument("--frames", type=int, default=150, help="frames per generated clip")
    pipe.add_argument("--fill", default="telea,temporal",
                      help="comma-separated fillers, one remove run each (default telea,temporal)")
    pipe.add_argument("--tracker", default=None, help="tracker for the remove run")
    pipe.add_argument("--repeats", type=int, default=1, help="take the best of N runs")
    pipe.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pipe.set_defaults(func=run_pipeline)
    mem = bsub.add_parser("memory", parents=[common],
                          help="peak RSS of remove on a short and a 10x longer clip")
    mem.add_argument("--size", default="640x360", help="WxH of the clips")
    mem.add_argument("--frames", default="300,3000", help="comma-separated clip lengths")
    mem.add_argument("--fill", default="temporal", help="filler for the remove run (default temporal)")
    mem.add_argument("--json", action="store_true", help="print JSON instead of a table")
    mem.set_defaults(func=run_memory)
    for name, (module, text) in COMPONENT_BENCHMARKS.items():
        comp = bsub.add_parser(name, help=text, add_help=False)
        comp.add_argument("rest", nargs=argparse.REMAINDER)
        comp.set_defaults(func=run_component, component=module, prog=f"moebius-video bench {name}")


def _sizes(text: str) -> list[tuple[int, int]]:
    from moebius_video.cli.demo import parse_size

    return [parse_size(part) for part in text.split(",") if part.strip()]


def run_pipeline(args: argparse.Namespace) -> int:
    """``moebius-video bench pipeline``."""
    from moebius_video.engine.bench import (
        format_throughput,
        make_clip,
        measure_throughput,
        rows_as_dicts,
    )

    rows = []
    with tempfile.TemporaryDirectory(prefix="moebius-bench-") as tmp:
        for width, height in _sizes(args.sizes):
            clip, mask = make_clip(Path(tmp), width, height, args.frames)
            fills = tuple(f.strip() for f in args.fill.split(",") if f.strip())
            rows += measure_throughput(clip, mask, fills=fills, tracker=args.tracker,
                                       repeats=args.repeats)
    print(json.dumps(rows_as_dicts(rows), indent=2) if args.json else format_throughput(rows))
    return 0


def run_memory(args: argparse.Namespace) -> int:
    """``moebius-video bench memory``."""
    from moebius_video.cli.demo import parse_size
    from moebius_video.engine.bench import format_memory, make_clip, measure_memory, rows_as_dicts

    width, height = parse_size(args.size)
    rows = []
    with tempfile.TemporaryDirectory(prefix="moebius-bench-") as tmp:
        for frames in (int(v) for v in args.frames.split(",")):
            clip, mask = make_clip(Path(tmp), width, height, frames)
            rows.append(measure_memory(clip, mask, fill=args.fill))
            clip.unlink()
    print(json.dumps(rows_as_dicts(rows), indent=2) if args.json else format_memory(rows))
    return 0


def run_component(args: argparse.Namespace) -> int:
    """Hand the remaining arguments to a component's own benchmark."""
    from moebius_video.errors import InvalidArgumentError

    try:
        module = importlib.import_module(args.component)
    except ModuleNotFoundError as error:
        raise InvalidArgumentError(f"{args.prog} is not available: {error}") from None
    parser = argparse.ArgumentParser(prog=args.prog)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(args.rest)) or 0)
