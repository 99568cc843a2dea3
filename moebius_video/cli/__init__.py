"""The ``moebius-video`` command line: flags in, config dataclasses out, library called.

Every deliberate error (:class:`~moebius_video.errors.MoebiusError`) ends the program with
a one-line message on stderr and exit code 1; bad flags exit with 2 (argparse); Ctrl-C
exits with 130: ``remove`` leaves no half-written output, the live commands (``webcam``,
``stream``) finalise what they recorded so far, as ffmpeg does.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from moebius_video import __version__
from moebius_video.errors import MoebiusError

PROG = "moebius-video"


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        message = record.getMessage().replace("\n", " ")
        if record.levelno >= logging.WARNING:
            return f"{PROG}: {level}: {message}"
        return f"{PROG}: {message}"


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_moebius", False):
            root.removeHandler(old)
    handler._moebius = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    for name in ("moebius_video", "tracking"):
        logging.getLogger(name).setLevel(level)
    # FFmpeg's own chatter stays quiet unless asked for.
    logging.getLogger("libav").setLevel(logging.ERROR if verbosity < 2 else logging.INFO)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands included)."""
    from moebius_video.cli import bench, demo, edit, evaluate, live, remove, train

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Remove objects from video: track a mask, fill the hole, re-encode.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more messages (-vv for debugging)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    remove.register(sub, common)
    demo.register(sub, common)
    bench.register(sub, common)
    evaluate.register(sub, common)
    live.register(sub, common)
    edit.register(sub, common)
    train.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "component", None):
        # Component benchmarks/evaluations parse their own flags (including --help).
        args.rest = list(extra) + list(args.rest)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(getattr(args, "verbose", 0))
    try:
        return int(args.func(args) or 0)
    except MoebiusError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # File mode has removed its unfinished output; live modes have finalised theirs.
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


__all__ = ["build_parser", "main"]
