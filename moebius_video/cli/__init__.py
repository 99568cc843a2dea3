"""The ``moebius-video`` command line: flags in, config dataclasses out, library called.

Every deliberate error (:class:`~moebius_video.errors.MoebiusError`) ends the program with
a one-line message on stderr and exit code 1; bad flags exit with 2 (argparse, and the
checks across flags that each command registers as ``validate``); Ctrl-C exits with 130,
SIGTERM with 143 and SIGHUP with 129, all handled alike: ``remove`` leaves no half-written
output, the live commands (``webcam``, ``stream``) finalise what they recorded so far, as
ffmpeg does. No output path may be or contain an input path (checked for every flag whose
type is :func:`~moebius_video.cli.argtypes.output_path` against every
:func:`~moebius_video.cli.argtypes.input_path`, before anything runs). Credentials in URLs
are redacted from every message.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from moebius_video import __version__
from moebius_video.cli import signals
from moebius_video.errors import InvalidArgumentError, MoebiusError
from moebius_video.io.urls import redact

PROG = "moebius-video"


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        message = redact(record.getMessage().replace("\n", " "))
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
    from moebius_video.cli import batch, bench, demo, edit, evaluate, live, remove, train

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
    batch.register(sub, common)
    demo.register(sub, common)
    bench.register(sub, common)
    evaluate.register(sub, common)
    live.register(sub, common)
    edit.register(sub, common)
    train.register(sub, common)
    parser.set_defaults(_subparsers=sub)
    return parser


def _path_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[dict, dict]:
    """The command's input and output paths, by flag (see ``argtypes.path_role``)."""
    inputs: dict[str, object] = {}
    outputs: dict[str, object] = {}
    for action in parser._actions:
        role = getattr(action.type, "path_role", None)
        value = getattr(args, action.dest, None)
        if role is None or value is None:
            continue
        flag = max(action.option_strings, key=len) if action.option_strings else action.dest
        values = value if isinstance(value, list) else [value]
        for k, item in enumerate(values):
            key = flag if len(values) == 1 else f"{flag} #{k + 1}"
            (inputs if role == "input" else outputs)[key] = item
    return inputs, outputs


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Checks after parsing: across flags (exit 2), then output paths against inputs."""
    from moebius_video.io.paths import check_outputs

    sub = getattr(args, "_subparsers", None)
    command = sub.choices.get(getattr(args, "command", None)) if sub is not None else None
    command = command or parser
    validate = getattr(args, "validate", None)
    if validate is not None:
        try:
            validate(args)
        except InvalidArgumentError as error:
            command.error(str(error))
    inputs, outputs = _path_flags(command, args)
    check_outputs(outputs, inputs)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "verbose", 0))
    try:
        with signals.terminate_like_ctrl_c():
            _check_args(parser, args)
            return int(args.func(args) or 0)
    except MoebiusError as error:
        print(f"{PROG}: error: {redact(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        # File mode has removed its unfinished output; live modes have finalised theirs.
        print(f"{PROG}: interrupted ({signals.describe(interrupt)})", file=sys.stderr)
        return signals.exit_code(interrupt)
    except BrokenPipeError:
        return 1


__all__ = ["build_parser", "main"]
