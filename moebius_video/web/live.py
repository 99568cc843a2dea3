"""The live before/after view of ``webcam``/``stream``, served by the web app.

The live engine publishes its frames here (cheap: kept by reference, JPEG-encoded once per
picture when a browser asks); the page shows them as MJPEG streams, with the engine's
statistics, and lets the user draw a box on the "before" picture to choose the object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError

CHANNELS = ("before", "after")


class LiveControl(Protocol):
    """What the page may ask of the live engine."""

    def set_box(self, box: tuple[int, int, int, int], *, reference: np.ndarray | None = None) -> None:
        """Remove the object inside ``box`` (in the source's pixels)."""

    def clear_mask(self) -> None:
        """Remove nothing."""


class _Channel:
    def __init__(self) -> None:
        self.image: np.ndarray | None = None
        self.seq = 0
        self.jpeg: bytes | None = None
        self.jpeg_seq = -1


class LiveView:
    """The latest before/after pictures of a live engine, for the browser.

    Args:
        status: Called for the page's statistics; returns something JSON-serialisable.
        control: The engine (``set_box``/``clear_mask``), or ``None`` for a view only.
        quality: JPEG quality.
        title: What the page calls this source.
    """

    def __init__(self, *, status: Callable[[], Any] | None = None,
                 control: LiveControl | None = None, quality: int = 80,
                 title: str = "live") -> None:
        if not 1 <= quality <= 100:
            raise InvalidArgumentError(f"quality must be in 1..100, got {quality}")
        self.status = status
        self.control = control
        self.quality = quality
        self.title = title
        self._channels = {name: _Channel() for name in CHANNELS}
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def publish(self, channel: str, image: np.ndarray) -> None:
        """Make ``image`` (``H, W, 3`` uint8 RGB) the latest picture of ``channel``.

        Raises:
            InvalidArgumentError: Unknown channel.
        """
        if channel not in self._channels:
            raise InvalidArgumentError(f"unknown channel {channel!r}; have {CHANNELS}")
        with self._lock:
            ch = self._channels[channel]
            ch.image = image
            ch.seq += 1

    def observe(self, output: Any) -> None:
        """A live-engine observer: publish one :class:`~moebius_video.engine.live.LiveOutput`."""
        self.publish("before", output.source)
        self.publish("after", output.output)

    def seq(self, channel: str) -> int:
        """How many pictures ``channel`` has received."""
        with self._lock:
            return self._channels[channel].seq

    def latest(self, channel: str) -> np.ndarray | None:
        """The latest picture of ``channel`` (RGB), or ``None``."""
        with self._lock:
            return self._channels[channel].image

    def jpeg(self, channel: str) -> tuple[bytes | None, int]:
        """The latest picture of ``channel`` as JPEG, and its sequence number."""
        if channel not in self._channels:
            raise InvalidArgumentError(f"unknown channel {channel!r}; have {CHANNELS}")
        with self._lock:
            ch = self._channels[channel]
            image, seq = ch.image, ch.seq
            if image is None:
                return None, 0
            if ch.jpeg_seq == seq:
                return ch.jpeg, seq
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        jpeg = data.tobytes() if ok else None
        with self._lock:
            if ch.jpeg_seq < seq:
                ch.jpeg, ch.jpeg_seq = jpeg, seq
        return jpeg, seq

    def stats(self) -> dict[str, Any]:
        """The page's view of the engine: whether it runs, its statistics, the frame size."""
        before = self.latest("before")
        data: dict[str, Any] = {"title": self.title, "running": not self.closed,
                                "controllable": self.control is not None,
                                "size": None if before is None else [int(before.shape[1]),
                                                                     int(before.shape[0])]}
        if self.status is not None:
            try:
                data["stats"] = self.status()
            except Exception as error:  # statistics are informative only
                data["stats"] = {"error": str(error)}
        return data

    @property
    def closed(self) -> bool:
        """Whether the source has ended (streams end too)."""
        return self._closed.is_set()

    def close(self) -> None:
        """Mark the view ended: open MJPEG streams finish."""
        self._closed.set()


__all__ = ["CHANNELS", "LiveControl", "LiveView"]
