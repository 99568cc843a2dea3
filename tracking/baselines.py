"""Baseline trackers: ``static`` (the mask never moves) and ``dis`` (plain DIS warping)."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np

from .base import MaskTracker, TrackState
from .flow import DISFlow, DisPreset, resize_flow, to_gray, working_size
from .warp import MaskInterp, warp_mask


class StaticTracker(MaskTracker):
    """The mask never moves: every frame gets the first mask (a lower bound)."""

    name: ClassVar[str] = "static"

    def _init(self, frame: np.ndarray, mask: np.ndarray, index: int) -> TrackState:
        return TrackState(
            index=index,
            mask=mask,
            prev_gray=np.zeros((1, 1), np.uint8),
            anchor_mask=mask,
            anchor_index=index,
        )

    def _step(self, state: TrackState, frame: np.ndarray) -> tuple[np.ndarray, TrackState]:
        new = replace(state, index=state.index + 1)
        return state.mask.copy(), new


class DISTracker(MaskTracker):
    """Plain DIS warping: backward flow new→previous, previous mask remapped, nothing else."""

    name: ClassVar[str] = "dis"

    def __init__(
        self,
        preset: DisPreset = "ultrafast",
        interpolation: MaskInterp = "linear",
        max_side: int | None = None,
    ) -> None:
        """Configure the baseline.

        Args:
            preset: DIS preset (``"ultrafast"``, ``"fast"`` or ``"medium"``).
            interpolation: ``"nearest"`` or ``"linear"`` (threshold 0.5) mask warping.
            max_side: compute the flow on a frame downscaled to this longest side.
        """
        self.flow = DISFlow(preset, use_initial_flow=True)
        self.interpolation: MaskInterp = interpolation
        self.max_side = max_side

    def _init(self, frame: np.ndarray, mask: np.ndarray, index: int) -> TrackState:
        size = working_size(*frame.shape[:2], self.max_side)
        return TrackState(
            index=index,
            mask=mask,
            prev_gray=to_gray(frame, size),
            anchor_mask=mask,
            anchor_index=index,
        )

    def _step(self, state: TrackState, frame: np.ndarray) -> tuple[np.ndarray, TrackState]:
        gray = to_gray(frame, state.prev_gray.shape[:2])
        backward = self.flow.compute(gray, state.prev_gray, state.prev_flow)
        mask = warp_mask(state.mask, resize_flow(backward, state.frame_shape), self.interpolation)
        new = replace(state, index=state.index + 1, mask=mask, prev_gray=gray, prev_flow=backward)
        return mask, new


__all__ = ["DISTracker", "StaticTracker"]
