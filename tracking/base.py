"""The tracker interface: an explicit state the caller owns, and ``init``/``step``.

Usage::

    tracker = get_tracker("flow")
    state = tracker.init(first_frame, first_mask)
    for frame in frames:
        mask, state = tracker.step(state, frame)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ._checks import check_frame, check_mask
from .errors import TrackingError


@dataclass(frozen=True, eq=False)
class TrackState:
    """Everything a tracker carries from one frame to the next (owned by the caller).

    A state is never modified in place: :meth:`MaskTracker.step` returns a new one, so an old
    state can be kept and stepped again.

    Attributes:
        index: index of the frame that ``mask`` belongs to (counts steps from ``init``).
        mask: ``H,W`` bool mask of frame ``index`` (True = object).
        prev_gray: ``h,w`` uint8 grayscale of frame ``index`` at the flow's working size.
        prev_flow: ``h,w,2`` float32 last backward flow (warm start), or ``None``; trackers
            that work on a region around the object keep that region's flow.
        prev_frame: ``H,W,3`` uint8 RGB of frame ``index`` when the tracker needs it.
        anchor_mask: the mask given at the last keyframe (``init``), full size.
        anchor_index: index of that keyframe.
        extras: tracker-specific arrays (e.g. an appearance model), by name.
        confidence: how much the tracker trusts ``mask``, in ``[0, 1]``: 1 on a keyframe;
            low when the object was lost, occluded, left the frame, jumped in area or
            stopped looking like itself (see :data:`tracking.DOUBTFUL_BELOW`). Trackers that
            cannot tell keep 1.
    """

    index: int
    mask: np.ndarray
    prev_gray: np.ndarray
    prev_flow: np.ndarray | None = None
    prev_frame: np.ndarray | None = None
    anchor_mask: np.ndarray | None = None
    anchor_index: int = 0
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    confidence: float = 1.0

    @property
    def frame_shape(self) -> tuple[int, int]:
        """``(H, W)`` of the tracked frames."""
        return int(self.mask.shape[0]), int(self.mask.shape[1])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flatten the state into named arrays (e.g. for ``np.savez``).

        Returns:
            A dict of numpy arrays; :meth:`from_arrays` rebuilds the state.
        """
        out: dict[str, np.ndarray] = {
            "index": np.asarray(self.index, dtype=np.int64),
            "anchor_index": np.asarray(self.anchor_index, dtype=np.int64),
            "confidence": np.asarray(self.confidence, dtype=np.float64),
            "mask": self.mask,
            "prev_gray": self.prev_gray,
        }
        for name in ("prev_flow", "prev_frame", "anchor_mask"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for key, value in self.extras.items():
            out[f"extras.{key}"] = value
        return out

    @classmethod
    def from_arrays(cls, arrays: Any) -> TrackState:
        """Rebuild a state written by :meth:`to_arrays`.

        Args:
            arrays: a mapping of names to arrays (a dict or an ``np.load`` result).

        Returns:
            The state.

        Raises:
            TrackingError: when a required array is missing.
        """
        keys = set(arrays.keys())
        missing = {"index", "mask", "prev_gray"} - keys
        if missing:
            raise TrackingError(f"arrays lacks the state entries {sorted(missing)}")

        def opt(name: str) -> np.ndarray | None:
            return np.asarray(arrays[name]) if name in keys else None

        return cls(
            index=int(arrays["index"]),
            mask=np.asarray(arrays["mask"], dtype=bool),
            prev_gray=np.asarray(arrays["prev_gray"]),
            prev_flow=opt("prev_flow"),
            prev_frame=opt("prev_frame"),
            anchor_mask=opt("anchor_mask"),
            anchor_index=int(arrays["anchor_index"]) if "anchor_index" in keys else 0,
            extras={k[7:]: np.asarray(arrays[k]) for k in keys if k.startswith("extras.")},
            confidence=float(arrays["confidence"]) if "confidence" in keys else 1.0,
        )


class MaskTracker(ABC):
    """Propagates an object mask from frame to frame.

    Subclasses implement :meth:`_init` and :meth:`_step`; the public :meth:`init` and
    :meth:`step` check the inputs first. A tracker instance holds configuration only, all
    temporal information is in the :class:`TrackState`.
    """

    name: ClassVar[str]

    def init(self, frame: np.ndarray, mask: np.ndarray, index: int = 0) -> TrackState:
        """Start tracking (or re-anchor on a keyframe).

        Args:
            frame: ``H,W,3`` uint8 RGB.
            mask: ``H,W`` bool mask of the object in ``frame`` (non-zero = object).
            index: the index of ``frame`` in the video, stored in the state.

        Returns:
            The initial state.

        Raises:
            TrackingError: bad frame, mask of the wrong size, or empty mask.
        """
        frame = check_frame(frame)
        mask = check_mask(mask, frame.shape[:2])
        return self._init(frame, mask, int(index))

    def step(self, state: TrackState, frame: np.ndarray) -> tuple[np.ndarray, TrackState]:
        """Track into the next frame.

        Args:
            state: the state returned by :meth:`init` or the previous :meth:`step`.
            frame: ``H,W,3`` uint8 RGB, the frame after ``state.index``.

        Returns:
            ``(mask, new_state)`` where ``mask`` is the ``H,W`` bool mask of ``frame``; it may
            be empty when the object has left the frame.

        Raises:
            TrackingError: bad frame, or a frame size different from the state's.
        """
        if not isinstance(state, TrackState):
            raise TrackingError(f"state must be a TrackState, got {type(state).__name__}")
        frame = check_frame(frame)
        if frame.shape[:2] != state.frame_shape:
            raise TrackingError(
                f"frame has size {frame.shape[1]}x{frame.shape[0]} but the tracked video is "
                f"{state.frame_shape[1]}x{state.frame_shape[0]}"
            )
        return self._step(state, frame)

    @abstractmethod
    def _init(self, frame: np.ndarray, mask: np.ndarray, index: int) -> TrackState:
        """Build the initial state from checked inputs."""

    @abstractmethod
    def _step(self, state: TrackState, frame: np.ndarray) -> tuple[np.ndarray, TrackState]:
        """Track into ``frame`` (already checked)."""


__all__ = ["MaskTracker", "TrackState"]
