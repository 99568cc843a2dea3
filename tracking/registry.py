"""Tracker registry: names to classes."""

from __future__ import annotations

from typing import Any

from .base import MaskTracker
from .baselines import DISTracker, StaticTracker
from .errors import TrackingError
from .flow_tracker import FastFlowTracker, FlowTracker
from .grabcut_tracker import GrabCutFlowTracker

_TRACKERS: dict[str, type[MaskTracker]] = {
    StaticTracker.name: StaticTracker,
    DISTracker.name: DISTracker,
    FlowTracker.name: FlowTracker,
    FastFlowTracker.name: FastFlowTracker,
    GrabCutFlowTracker.name: GrabCutFlowTracker,
}

DEFAULT_TRACKER: str = "flow"


def available_trackers() -> list[str]:
    """Names accepted by :func:`get_tracker`, sorted.

    Returns:
        The tracker names.
    """
    return sorted(_TRACKERS)


def get_tracker(name: str = DEFAULT_TRACKER, **kwargs: Any) -> MaskTracker:
    """Build a tracker by name.

    Args:
        name: one of :func:`available_trackers`.
        **kwargs: keyword arguments of that tracker's constructor.

    Returns:
        A new tracker.

    Raises:
        TrackingError: unknown name or unknown keyword argument.
    """
    cls = _TRACKERS.get(name)
    if cls is None:
        raise TrackingError(f"tracker must be one of {available_trackers()}, got {name!r}")
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise TrackingError(f"bad arguments for tracker {name!r}: {error}") from None


__all__ = ["DEFAULT_TRACKER", "available_trackers", "get_tracker"]
