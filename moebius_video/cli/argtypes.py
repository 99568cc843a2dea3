"""argparse ``type=`` converters shared by the subcommands (bad values exit with 2)."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path


def _number(text: str, kind: type, what: str) -> int | float:  # type: ignore[type-arg]
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = int(_number(text, int, "an integer"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = int(_number(text, int, "an integer"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """A number > 0."""
    value = float(_number(text, float, "a number"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def frame_rate(text: str) -> Fraction:
    """An exact positive frame rate: ``25``, ``30000/1001``, ``29.97``."""
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a frame rate: {text!r} (e.g. 25 or 30000/1001)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"frame rate must be positive, got {text!r}")
    return value


def bounded_int(low: int, high: int, what: str = "value"):  # type: ignore[no-untyped-def]
    """A converter for an integer in ``[low, high]`` (both included)."""

    def convert(text: str) -> int:
        value = int(_number(text, int, "an integer"))
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be between {low} and {high}, got {value}")
        return value

    convert.__name__ = f"int in [{low}, {high}]"
    return convert


def probability(text: str) -> float:
    """A number in ``[0, 1]``."""
    value = float(_number(text, float, "a number"))
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


#: A TCP port (0 = any free port).
port = bounded_int(0, 65535, "a port")
#: A constant rate factor: x264/x265 accept 0..51, VP9/AV1 0..63 (checked per codec later).
crf = bounded_int(0, 63, "--crf")
#: A mask threshold: a pixel strictly above it is removed, so 255 would remove nothing.
mask_threshold = bounded_int(0, 254, "--mask-threshold")
#: Dilation radius in pixels (a radius beyond this covers any real frame).
dilation = bounded_int(0, 1024, "--dilate")


def box(text: str) -> tuple[int, int, int, int]:
    """``X,Y,W,H`` in pixels (a malformed box is a usage error, exit 2)."""
    from moebius_video.errors import InvalidArgumentError
    from moebius_video.io.masks import parse_box

    try:
        return parse_box(text)
    except InvalidArgumentError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--box ")) from None


def camera(text: str) -> str:
    """A camera index (``0``, ``1``...) or ``fake`` (a generated scene)."""
    if text != "fake" and not (text.isdigit() and int(text) >= 0):
        raise argparse.ArgumentTypeError(f"must be a camera index (0, 1...) or 'fake', got {text!r}")
    return text


def size(text: str) -> tuple[int, int]:
    """``WxH`` in pixels, both >= 2."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH (e.g. 640x360), got {text!r}") from None
    if width < 2 or height < 2:
        raise argparse.ArgumentTypeError(f"size must be at least 2x2, got {text!r}")
    return width, height


# Paths. ``path_role`` marks the flags that name inputs and outputs: after parsing, the CLI
# refuses any output that is, or contains, an input (see moebius_video.io.paths), whatever
# the command and the flag. New path flags use these types and are covered at once.


def input_path(text: str) -> Path:
    """A local file or folder that is read."""
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    return Path(text)


def input_spec(text: str) -> str:
    """A URL, a camera index or a local file/folder that is read (kept as given)."""
    if not text:
        raise argparse.ArgumentTypeError("empty input")
    return text


def output_path(text: str) -> str:
    """A file or folder that is written, kept as typed: a trailing separator means a folder
    (``out/run.v2/`` is a folder even though it has a dot). ``-`` (standard output) is refused."""
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    if text == "-":
        raise argparse.ArgumentTypeError(
            "writing to standard output (-) is not supported; give a file or a folder"
        )
    return text


input_path.path_role = "input"  # type: ignore[attr-defined]
input_spec.path_role = "input"  # type: ignore[attr-defined]
output_path.path_role = "output"  # type: ignore[attr-defined]


def size_list(text: str) -> list[tuple[int, int]]:
    """Comma-separated sizes: ``640x360,1280x720``."""
    sizes = [size(part.strip()) for part in text.split(",") if part.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT[,WIDTHxHEIGHT...], got {text!r}")
    return sizes


def non_negative_float(text: str) -> float:
    """A number >= 0."""
    value = float(_number(text, float, "a number"))
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def area_fraction(text: str) -> float:
    """A fraction of an area, strictly between 0 and 1."""
    value = float(_number(text, float, "a number"))
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text!r}")
    return value
