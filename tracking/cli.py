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
from .offline import FUSION_THRESHOLD
from .pasted import MOTIONS, SPLITS
from .registry import DEFAULT_TRACKER, available_trackers


def _int_at_least(low: int):  # type: ignore[no-untyped-def]
    """argparse ``type=``: an integer >= ``low`` (a bad value is a usage error, exit 2)."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    return convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the evaluation's options to ``parser`` (``eval tracking``, ``python -m tracking``)."""
    parser.add_argument("data_dir", type=Path, help="davis: folder of clip folders (frames/ + "
                        "masks/); pasted: the data folder (videos/, clips/, objects/)")
    parser.add_argument("--protocol", choices=evaluate.PROTOCOLS, default="davis",
                        help="davis: clips with true masks; pasted: RGBA objects pasted over real footage")
    pasted = parser.add_argument_group("pasted protocol")
    pasted.add_argument("--split", choices=SPLITS, default="heldout", help="tune: the sources and "
                        "objects trackers were tuned on; heldout (default): the others")
    pasted.add_argument("--motions", nargs="+", choices=MOTIONS, default=list(MOTIONS),
                        help="object motions")
    pasted.add_argument("--clip-frames", type=int, default=60, help="frames per pasted clip")
    pasted.add_argument("--max-sources", type=int, default=None,
                        help="only the first N sources of the split")
    pasted.add_argument("--draw", type=_int_at_least(0), default=0,
                        help="0 (default): the split's reference set of clips; N > 0: another "
                        "pairing of the split's objects and sources, from other start frames")
    pasted.add_argument("--issue", action="store_true", help="only issue 13's reproduction (the "
                        "dog crossing videos/box.mp4, 120 frames)")
    pasted.add_argument("--per-frame", type=Path, default=None, metavar="CSV",
                        help="also write every scored frame (coverage, area, collateral, "
                        "confidence) to this CSV file")
    parser.add_argument("--trackers", nargs="+", default=None,
                        help=f"trackers to run (default: static dis {DEFAULT_TRACKER})")
    parser.add_argument("--modes", nargs="+", choices=evaluate.MODES,
                        default=list(evaluate.DEFAULT_MODES),
                        help="first = first-frame mask only; keyframes = every N frames; step "
                        "(DAVIS protocol only, not run unless asked) = one frame from every "
                        "frame's true mask")
    parser.add_argument("--keyframe-every", type=_int_at_least(1), default=20, help="keyframe spacing")
    parser.add_argument("--dilate", type=_int_at_least(0), default=4,
                        help="dilation radius (px) for coverage and area ratio")
    parser.add_argument("--clips", nargs="+", default=None, help="only these clips")
    parser.add_argument("--max-clips", type=_int_at_least(1), default=None, help="only the first N clips")
    parser.add_argument("--max-frames", type=_int_at_least(1), default=None,
                        help="only the first N frames of each clip")
    parser.add_argument("--fusion-threshold", type=float, default=FUSION_THRESHOLD,
                        help="offline fusion vote threshold (lower = closer to the union)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _run_pasted(args: argparse.Namespace) -> int:
    from .evaluate_pasted import evaluate_pasted, format_pasted, write_frames
    from .pasted import issue_clip, iter_clips

    names = args.trackers or [DEFAULT_TRACKER]
    if "step" in args.modes:
        raise TrackingError("--modes step is for the DAVIS protocol (clips with true masks)")
    if args.per_frame is not None and (args.per_frame.is_dir() or not args.per_frame.parent.is_dir()):
        raise TrackingError(f"--per-frame {str(args.per_frame)!r}: not a file in an existing folder")
    for name in names:
        if name not in available_trackers():
            raise TrackingError(f"tracker must be one of {available_trackers()}, got {name!r}")
    if args.issue:
        if args.draw:
            raise TrackingError("--draw pairs a split's clips anew; --issue is one fixed clip")
        clips = iter([issue_clip(args.data_dir)])
        split = "issue"
    else:
        if args.clip_frames < 2:
            raise TrackingError(f"--clip-frames must be at least 2, got {args.clip_frames}")
        clips = iter_clips(args.data_dir, args.split, tuple(args.motions), n=args.clip_frames,
                           max_sources=args.max_sources, draw=args.draw)
        split = args.split if args.draw == 0 else f"{args.split} draw {args.draw}"
    keyframe_every = args.keyframe_every if "keyframes" in args.modes else None
    if "keyframes" in args.modes and "first" in args.modes and args.modes != ["keyframes"]:
        keyframe_every = None  # the pasted protocol runs one mode: first unless only keyframes
    result = evaluate_pasted(clips, names, split, dilate=args.dilate, keyframe_every=keyframe_every,
                             fusion_threshold=args.fusion_threshold, progress=True)
    if args.per_frame is not None:
        write_frames(result, args.per_frame)
    if args.json:
        print(json.dumps({"scores": [asdict(r) for r in result.scores],
                          "means": [asdict(r) for r in result.means],
                          "dilate": result.dilate, "split": result.split}, indent=1))
    else:
        print(format_pasted(result))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the evaluation from parsed arguments and print the table (or JSON); returns 0,
    or 2 on bad input (the message printed on one line)."""
    if getattr(args, "protocol", "davis") == "pasted":
        try:
            return _run_pasted(args)
        except TrackingError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if getattr(args, "per_frame", None) is not None:
        print("error: --per-frame is for --protocol pasted", file=sys.stderr)
        return 2
    try:
        result = evaluate.evaluate(
            args.data_dir, trackers=args.trackers, modes=tuple(args.modes),
            keyframe_every=args.keyframe_every, dilate=args.dilate, clips=args.clips,
            max_clips=args.max_clips, max_frames=args.max_frames,
            fusion_threshold=args.fusion_threshold,
        )
    except TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=1) if args.json else evaluate.format_table(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m tracking evaluate DATA_DIR ...``; returns the exit status."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(prog="python -m tracking",
                                     description="Mask tracking on its own (the tracking package).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_arguments(sub.add_parser("evaluate", help="tracker quality on clip folders or pasted objects",
                                 description=evaluate.__doc__))
    return run(parser.parse_args(argv))


__all__ = ["add_arguments", "main", "run"]
