"""argparse ``type=`` converters shared by the subcommands (bad values exit with 2)."""

from __future__ import annotations

import argparse
from fractions import Fraction


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


def size(text: str) -> tuple[int, int]:
    """A frame size ``WIDTHxHEIGHT`` (``640x360``), both >= 1; the only "WxH" parser."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def size_list(text: str) -> list[tuple[int, int]]:
    """Comma-separated sizes: ``640x360,1280x720``."""
    sizes = [size(part.strip()) for part in text.split(",") if part.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT[,WIDTHxHEIGHT...], got {text!r}")
    return sizes
