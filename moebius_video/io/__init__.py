"""Video input/output: decoding sources, encoding sinks and random access.

Sequential reading (:func:`open_source`) and writing (:func:`open_sink`) run in background
threads behind bounded queues; frames are ``H, W, 3`` uint8 RGB, upright, with exact
timestamps (:class:`Frame`).
"""

from moebius_video.io.frames import Frame, VideoInfo
from moebius_video.io.random_access import RandomAccessVideo, open_random_access
from moebius_video.io.reader import DecodeStats, FrameSource, open_source, probe
from moebius_video.io.writer import FrameSink, open_sink

__all__ = [
    "DecodeStats",
    "Frame",
    "FrameSink",
    "FrameSource",
    "RandomAccessVideo",
    "VideoInfo",
    "open_random_access",
    "open_sink",
    "open_source",
    "probe",
]
