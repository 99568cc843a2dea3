"""The command line of the stand-alone tracking package (``python -m tracking``).

The library modules parse no arguments; this is where ``tracking``'s flags live (the
``moebius-video eval tracking`` command reuses :func:`add_arguments` and :func:`run`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from . import evaluate
from .errors import TrackingError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the evaluation's options to a parser.

    Args:
        parser: the (sub)parser of ``eval tracking``.
    """
    parser.add_argument("data_dir", type=Path, help="folder of clip folders (frames/ + masks/)")
    parser.add_argument(
        "--trackers",
        nargs="+",
        default=None,
        help=f"trackers to run (default: static dis {evaluate.DEFAULT_TRACKER})",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=evaluate.MODES,
        default=list(evaluate.MODES),
        help="first = first-frame mask only; keyframes = every N frames",
    )
    parser.add_argument("--keyframe-every", type=int, default=20, help="keyframe spacing")
    parser.add_argument(
        "--dilate", type=int, default=4, help="dilation radius (px) for coverage and area ratio"
    )
    parser.add_argument("--clips", nargs="+", default=None, help="only these clips")
    parser.add_argument("--max-clips", type=int, default=None, help="only the first N clips")
    parser.add_argument(
        "--max-frames", type=int, default=None, help="only the first N frames of each clip"
    )
    parser.add_argument(
        "--fusion-threshold",
        type=float,
        default=0.35,
        help="offline fusion vote threshold (lower = closer to the union)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    """Run the evaluation from parsed arguments and print the table (or JSON).

    Args:
        args: the namespace built by a parser given :func:`add_arguments`.

    Returns:
        0 on success, 2 on bad input (the message is printed on one line).
    """
    try:
        result = evaluate.evaluate(
            args.data_dir,
            trackers=args.trackers,
            modes=tuple(args.modes),
            keyframe_every=args.keyframe_every,
            dilate=args.dilate,
            clips=args.clips,
            max_clips=args.max_clips,
            max_frames=args.max_frames,
            fusion_threshold=args.fusion_threshold,
        )
    except TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(asdict(result), indent=1))
    else:
        print(evaluate.format_table(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m tracking evaluate DATA_DIR ...``: the stand-alone command line.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m tracking",
                                     description="Mask tracking on its own (the tracking package).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_arguments(sub.add_parser("evaluate", help="J, F, coverage and area ratio on clip folders",
                                 description=evaluate.__doc__))
    return run(parser.parse_args(argv))


__all__ = ["add_arguments", "main", "run"]
