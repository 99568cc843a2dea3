"""Shared helpers of the live-engine tests: tiny scenes, fake sinks, thread checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from moebius_video.fill.base import Filler, FillResult, FutureFrame
from moebius_video.io.frames import Frame
from moebius_video.synthetic import SceneConfig, SyntheticScene


def tiny_scene(frames: int = 30, width: int = 96, height: int = 64) -> SyntheticScene:
    return SyntheticScene(SceneConfig(width=width, height=height, num_frames=frames,
                                      object_fraction=0.1, pan_speed=1.0))


class CollectSink:
    """Keeps what it is given (copies of the indices; images optional)."""

    def __init__(self, delay: float = 0.0, keep_images: bool = False,
                 fail_at: int | None = None) -> None:
        self.delay = delay
        self.keep_images = keep_images
        self.fail_at = fail_at
        self.indices: list[int] = []
        self.pts: list[int | None] = []
        self.images: list[np.ndarray] = []
        self.closed = False
        self.aborted = False

    def write(self, frame: Frame) -> None:
        if self.fail_at is not None and len(self.indices) >= self.fail_at:
            raise OSError("sink exploded")
        if self.delay:
            time.sleep(self.delay)
        self.indices.append(frame.index)
        self.pts.append(frame.pts)
        if self.keep_images:
            self.images.append(frame.image)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class SlowFiller(Filler):
    """Copies the frame after sleeping (a filler slower than the source)."""

    name = "slow"

    def __init__(self, delay: float = 0.02, fail_at: int | None = None) -> None:
        self.delay = delay
        self.fail_at = fail_at
        self.calls = 0

    def fill(self, image: np.ndarray, mask: np.ndarray, *,
             future: Sequence[FutureFrame] = ()) -> FillResult:
        self.calls += 1
        if self.fail_at is not None and self.calls > self.fail_at:
            raise RuntimeError("filler exploded")
        time.sleep(self.delay)
        out = image.copy()
        out[mask] = 0
        return FillResult(out)


def live_threads() -> list[str]:
    # is_alive(): a thread whose join() was cut by Ctrl-C can stay listed after it ended.
    return [t.name for t in threading.enumerate() if t.name.startswith("live:") and t.is_alive()]


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Every test must leave no engine thread behind."""
    yield
    deadline = time.monotonic() + 2.0
    while live_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert live_threads() == []


@pytest.fixture
def h():
    """The helpers above, as a namespace (test modules do not import conftest)."""
    import types

    return types.SimpleNamespace(CollectSink=CollectSink, SlowFiller=SlowFiller,
                                 tiny_scene=tiny_scene, live_threads=live_threads)
