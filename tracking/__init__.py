"""Optical-flow mask propagation for moebius-video (importable on its own).

Streaming: ``tracker = get_tracker()``, ``state = tracker.init(frame, mask)``, then
``mask, state = tracker.step(state, frame)`` per frame. Offline (files):
``track(frames, keyframes={index: mask})`` tracks forward and backward from every keyframe
and fuses both directions; ``iter_track_frames`` yields each frame's mask with its
confidence (:class:`TrackedFrame`), and :func:`backfill` tracks an object found again
backward through the frames it was missed in. ``state.confidence`` (0-1) says how much the tracker
trusts each mask; :func:`doubtful_ranges` turns confidences into doubtful frame ranges with
suggested keyframes. Frames are ``H,W,3`` uint8 RGB, masks ``H,W`` bool (True = object).
The evaluation is :mod:`tracking.evaluate` (``python -m tracking evaluate``, flags in
:mod:`tracking.cli`); mask geometry shared with ``moebius_video`` (boxes, dilation) is
:mod:`tracking.geometry`, the clip-folder layout :mod:`tracking.data`.
"""

from __future__ import annotations

from .backfill import backfill
from .base import MaskTracker, TrackState
from .baselines import DISTracker, StaticTracker
from .confidence import (
    DOUBTFUL_BELOW,
    DoubtfulRange,
    TrackedFrame,
    doubtful_ranges,
    format_ranges,
)
from .errors import TrackingError
from .flow import FlowConfig
from .flow_tracker import FastFlowTracker, FlowTracker, FlowTrackerConfig
from .grabcut_tracker import GrabCutConfig, GrabCutFlowTracker
from .offline import iter_track, iter_track_frames, track
from .registry import DEFAULT_TRACKER, available_trackers, get_tracker

__all__ = [
    "DEFAULT_TRACKER",
    "DOUBTFUL_BELOW",
    "DoubtfulRange",
    "TrackedFrame",
    "backfill",
    "doubtful_ranges",
    "format_ranges",
    "iter_track_frames",
    "DISTracker",
    "FastFlowTracker",
    "FlowConfig",
    "FlowTracker",
    "FlowTrackerConfig",
    "GrabCutConfig",
    "GrabCutFlowTracker",
    "MaskTracker",
    "StaticTracker",
    "TrackState",
    "TrackingError",
    "available_trackers",
    "get_tracker",
    "iter_track",
    "track",
]
