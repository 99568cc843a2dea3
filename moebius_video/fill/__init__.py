"""Fillers: what replaces the masked pixels of each frame (``--fill NAME``)."""

from __future__ import annotations

from collections.abc import Callable

from moebius_video.errors import InvalidArgumentError
from moebius_video.fill.base import Filler, FillResult, FutureFrame, check_frame_and_mask
from moebius_video.fill.moebius import MoebiusFiller
from moebius_video.fill.opencv import NSFiller, OpenCVFiller
from moebius_video.fill.pushpull import PushPullFiller
from moebius_video.fill.temporal import TEMPORAL_FILLERS
from moebius_video.fill.warm import WarmStartFiller

_REGISTRY: dict[str, Callable[..., Filler]] = {
    "telea": lambda **kw: OpenCVFiller("telea", **kw),
    "ns": lambda **kw: NSFiller(**kw),
    "pushpull": PushPullFiller,
    **TEMPORAL_FILLERS,
    "moebius": lambda **kw: MoebiusFiller.from_pretrained(**kw),
    "moebius-warm": lambda **kw: WarmStartFiller.from_pretrained(**kw),
}

#: File mode's default (``remove``, ``demo``, batch): a file has its future, so the fill
#: looks ahead. Measured with ``eval completion`` (432x240, other clips' masks): +3.07 dB
#: over per-frame Telea against +1.12 dB for the causal ``temporal``; it costs about 1.5x
#: the causal fill's CPU time a frame (``bench pipeline``).
DEFAULT_FILLER = "temporal-offline"
#: The live engine's default: the same propagation with the push-pull fallback, which
#: halves the fill stage's time (27.7 -> 14.9 ms a frame at 640x360 in ``bench live``)
#: and flickers less, for 0.2 dB (measured in ``eval completion``).
DEFAULT_LIVE_FILLER = "temporal:spatial=pushpull"


def register_filler(name: str, factory: Callable[..., Filler]) -> None:
    """Make ``factory`` available as ``--fill name``."""
    _REGISTRY[name] = factory


def available_fillers() -> list[str]:
    """Names accepted by :func:`get_filler`, sorted."""
    return sorted(_REGISTRY)


def parse_filler_spec(spec: str) -> tuple[str, dict[str, object]]:
    """Split ``"name"`` or ``"name:key=value,key=value"`` into a name and keyword arguments.

    Values are converted to ``int`` or ``float`` when they look like numbers.

    Raises:
        InvalidArgumentError: A ``key=value`` pair is malformed.
    """
    name, _, rest = spec.partition(":")
    kwargs: dict[str, object] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"filler option {item!r} in {spec!r} is not key=value")
        parsed: object = value
        for cast in (int, float):
            try:
                parsed = cast(value)
                break
            except ValueError:
                continue
        kwargs[key] = parsed
    return name, kwargs


def get_filler(name: str = DEFAULT_FILLER, **kwargs: object) -> Filler:
    """Build the filler called ``name``.

    ``name`` may carry options, ``"name:key=value,..."`` (numbers are converted), e.g.
    ``"temporal:spatial=pushpull"``; keyword arguments override them.

    Raises:
        InvalidArgumentError: ``name`` is not a known filler, or a malformed option.
    """
    if ":" in name:
        name, options = parse_filler_spec(name)
        kwargs = {**options, **kwargs}
    if name not in _REGISTRY:
        raise InvalidArgumentError(
            f"unknown filler {name!r}; choose one of: {', '.join(available_fillers())}"
        )
    if isinstance(kwargs.get("spatial"), str):  # a filler option that names a filler
        kwargs["spatial"] = get_filler(str(kwargs["spatial"]))
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as error:  # an option the filler does not take
        raise InvalidArgumentError(f"bad options for filler {name!r}: {error}") from None


__all__ = [
    "DEFAULT_FILLER",
    "DEFAULT_LIVE_FILLER",
    "FillResult",
    "Filler",
    "FutureFrame",
    "MoebiusFiller",
    "NSFiller",
    "OpenCVFiller",
    "PushPullFiller",
    "available_fillers",
    "check_frame_and_mask",
    "get_filler",
    "parse_filler_spec",
    "register_filler",
]
