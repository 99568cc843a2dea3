"""Live capture sources behind one small interface: webcam, network stream, file, fake.

A :class:`CaptureSource` hands out :class:`CapturedFrame` objects, each a :class:`Frame`
plus the monotonic time it was captured (the start of the glass-to-glass latency). It is
pulled by one thread (the live engine's capture stage): :meth:`CaptureSource.read` blocks
until the next frame, returns ``None`` at the end of the stream and raises on a failure.

- :class:`WebcamCapture`: OpenCV ``VideoCapture`` on a device index.
- :class:`StreamCapture`: PyAV (FFmpeg) on a URL (rtsp, rtmp, udp, tcp, http, srt...) or
  any file FFmpeg reads, with open and read timeouts so that a stalled sender is noticed.
- :class:`FileCapture`: a video file or frame folder through :func:`open_source`, every
  frame in order, optionally paced at the file's frame rate (like ``ffmpeg -re``).
- :class:`FakeCapture`: generated frames at a set rate, with injectable faults (stall,
  disconnect), for tests and benchmarks without a camera.
- :class:`ReconnectingCapture`: wraps a source factory; on a failure or a stall it reopens
  the source with exponential backoff, then gives up with a clear error.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from moebius_video.errors import InvalidArgumentError, VideoDecodeError, VideoOpenError
from moebius_video.io.frames import Frame, VideoInfo
from moebius_video.io.urls import redact

logger = logging.getLogger(__name__)

LIVE_TIME_BASE = Fraction(1, 90000)
"""Time base of the timestamps live sources give their frames (the MPEG clock)."""

_NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "tcp", "http", "https", "srt")


@dataclass(frozen=True)
class CaptureInfo:
    """What is known about a live source once it is open.

    Attributes:
        name: The device, URL or file, for messages.
        width: Frame width in pixels.
        height: Frame height in pixels.
        frame_rate: Nominal frame rate as an exact fraction, ``None`` when unknown.
        live: Whether the source runs on its own clock (camera, network) rather than being
            read as fast as the consumer wants (file).
    """

    name: str
    width: int
    height: int
    frame_rate: Fraction | None = None
    live: bool = True

    def video_info(self) -> VideoInfo:
        """The same description as a :class:`VideoInfo` (for file sinks)."""
        return VideoInfo(
            path=Path(self.name), width=self.width, height=self.height, num_frames=None,
            frame_rate=self.frame_rate, time_base=LIVE_TIME_BASE,
        )


@dataclass
class CapturedFrame:
    """One frame as it left the source.

    Attributes:
        frame: The picture (``H, W, 3`` uint8 RGB) and its source timestamp.
        captured_at: ``time.monotonic()`` when the frame was captured (or was due, for a
            paced source): the start of its glass-to-glass latency.
    """

    frame: Frame
    captured_at: float


class CaptureSource(ABC):
    """A source of live frames, read by one thread.

    Attributes:
        info: Size and nominal rate; valid once the constructor returned.
        end_note: Once :meth:`read` returned ``None``: how the source ended, in words
            (``"end of the file"``, ``"the sender closed the stream"``...).
        complete: Once :meth:`read` returned ``None``: whether that end is the source's
            genuine end (a file read to its end), rather than a stream that was cut.
    """

    info: CaptureInfo
    end_note: str = ""
    complete: bool = True

    @abstractmethod
    def read(self) -> CapturedFrame | None:
        """Block until the next frame.

        Returns:
            The frame, or ``None`` at the end of the stream.

        Raises:
            VideoDecodeError: The source stalled or broke off.
            VideoOpenError: The source cannot be (re)opened.
        """

    def interrupt(self) -> None:  # noqa: B027 - most reads return soon by themselves
        """Ask a :meth:`read` blocked in another thread to return soon. Thread-safe."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release the device or connection (from the reading thread). Idempotent."""

    def __enter__(self) -> CaptureSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def is_network_url(text: str) -> bool:
    """Whether ``text`` names a network stream (``scheme://...`` of a known protocol)."""
    scheme, sep, _ = str(text).partition("://")
    return bool(sep) and scheme.lower() in _NETWORK_SCHEMES


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise InvalidArgumentError(f"{name} must be positive, got {value!r}")


class _Pacer:
    """Sleeps until frame ``i`` is due at ``start + i / rate`` (a source's own clock)."""

    def __init__(self, rate: Fraction | None) -> None:
        self.period = float(1 / rate) if rate else 0.0
        self.start: float | None = None

    def due(self, index: int) -> float:
        """Wait for frame ``index`` and return the time it was due."""
        now = time.monotonic()
        if self.start is None:
            self.start = now
        if self.period <= 0:
            return now
        due = self.start + index * self.period
        if due > now:
            time.sleep(due - now)
        return due


# --------------------------------------------------------------------------------------
# Fake source (tests, benchmarks, demos)
# --------------------------------------------------------------------------------------


class FakeCapture(CaptureSource):
    """Frames from a list of images or a generator, delivered on a clock like a camera.

    Frame ``i`` is due at ``start + i / frame_rate``; :meth:`read` sleeps until then and
    stamps the frame with that time, so a consumer that falls behind sees the latency grow,
    as it would with a real camera. Faults can be injected for tests.

    Args:
        images: ``H, W, 3`` uint8 RGB images, or a callable ``index -> image``.
        num_frames: Frames before the end of the stream (``None`` = loop forever over a list,
            or call the callable forever).
        frame_rate: Delivery rate; ``None`` = as fast as they are read.
        stall_after: After this many frames, stop delivering (block ``stall_seconds``,
            then raise :class:`VideoDecodeError`, like a network read timeout).
        stall_seconds: How long a stall blocks before the error.
        disconnect_after: After this many frames, raise :class:`VideoDecodeError` at once.
        name: Name for messages.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray] | Callable[[int], np.ndarray],
        *,
        num_frames: int | None = None,
        frame_rate: Fraction | float | None = Fraction(30),
        stall_after: int | None = None,
        stall_seconds: float = 0.2,
        disconnect_after: int | None = None,
        name: str = "fake",
    ) -> None:
        rate = Fraction(frame_rate).limit_denominator(1001) if frame_rate is not None else None
        _check_positive("frame_rate", rate)
        if num_frames is not None and num_frames < 0:
            raise InvalidArgumentError(f"num_frames must be >= 0, got {num_frames}")
        if callable(images):
            self._get = images
            first = images(0)
        else:
            if len(images) == 0:
                raise InvalidArgumentError("images is empty")
            frames = list(images)
            self._get = lambda i: frames[i % len(frames)]
            first = frames[0]
        if not isinstance(first, np.ndarray) or first.dtype != np.uint8 or first.ndim != 3:
            raise InvalidArgumentError(
                f"images must be H,W,3 uint8 arrays, got {getattr(first, 'dtype', type(first))}"
            )
        self.info = CaptureInfo(name, int(first.shape[1]), int(first.shape[0]), rate, live=True)
        self._num_frames = num_frames
        self._stall_after = stall_after
        self._stall_seconds = stall_seconds
        self._disconnect_after = disconnect_after
        self._pacer = _Pacer(rate)
        self._index = 0
        self._closed = threading.Event()

    @classmethod
    def from_scene(
        cls, scene: object, *, prerender: int | None = None, **kwargs: object
    ) -> FakeCapture:
        """Frames of a :class:`~moebius_video.synthetic.SyntheticScene`.

        Args:
            scene: The scene (``scene.frame(i).image`` and ``len(scene)`` are used).
            prerender: Render this many frames up front and loop over them, so that
                delivering a frame costs nothing (benchmarks); ``None`` = render on demand.
            **kwargs: Passed to the constructor (``num_frames`` defaults to ``len(scene)``).
        """
        length = len(scene)  # type: ignore[arg-type]
        kwargs.setdefault("num_frames", length)
        if prerender:
            images = [scene.frame(i % length).image for i in range(prerender)]  # type: ignore[attr-defined]
            return cls(images, **kwargs)  # type: ignore[arg-type]
        return cls(lambda i: scene.frame(i % length).image, **kwargs)  # type: ignore[attr-defined,arg-type]

    def read(self) -> CapturedFrame | None:
        index = self._index
        if self._closed.is_set() or (self._num_frames is not None and index >= self._num_frames):
            return None
        if self._disconnect_after is not None and index >= self._disconnect_after:
            raise VideoDecodeError(f"{self.info.name}: connection lost after {index} frames")
        if self._stall_after is not None and index >= self._stall_after:
            self._closed.wait(self._stall_seconds)
            raise VideoDecodeError(
                f"{self.info.name}: no data for {self._stall_seconds:g} s (stalled)"
            )
        due = self._pacer.due(index)
        image = self._get(index)
        self._index += 1
        pts = round(Fraction(index) / self.info.frame_rate / LIVE_TIME_BASE) if self.info.frame_rate else index
        frame = Frame(index, image, pts, LIVE_TIME_BASE, f"{index:05d}")
        return CapturedFrame(frame, due)

    def interrupt(self) -> None:
        self._closed.set()

    def close(self) -> None:
        self._closed.set()


# --------------------------------------------------------------------------------------
# Webcam (OpenCV)
# --------------------------------------------------------------------------------------


class WebcamCapture(CaptureSource):
    """A camera through OpenCV's ``VideoCapture``.

    Args:
        device: Camera index (``0`` = the default camera).
        width: Requested width (the camera may choose another; ``info`` has the real one).
        height: Requested height.
        frame_rate: Requested rate.

    Raises:
        VideoOpenError: No such camera, or it delivers no frame.
    """

    def __init__(
        self,
        device: int = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        frame_rate: float | None = None,
    ) -> None:
        import cv2

        if device < 0:
            raise InvalidArgumentError(f"device must be >= 0, got {device}")
        name = f"camera {device}"
        if sys.platform.startswith("linux") and not os.path.exists(f"/dev/video{device}"):
            raise VideoOpenError(f"cannot open {name}: /dev/video{device} does not exist "
                                 "(no camera connected?)")
        self._cap = cv2.VideoCapture(device)
        if not self._cap.isOpened():
            self._cap.release()
            raise VideoOpenError(f"cannot open {name}: OpenCV cannot open the device")
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale queue
        if width:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if frame_rate:
            self._cap.set(cv2.CAP_PROP_FPS, frame_rate)
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self._cap.release()
            raise VideoOpenError(f"cannot open {name}: it opened but delivers no frame")
        self._first: np.ndarray | None = bgr
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        rate = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else None
        self.info = CaptureInfo(name, int(bgr.shape[1]), int(bgr.shape[0]), rate, live=True)
        self._index = 0
        self._t0: float | None = None

    def read(self) -> CapturedFrame | None:
        import cv2

        if self._first is not None:
            bgr, self._first = self._first, None
        else:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                raise VideoDecodeError(f"{self.info.name}: the camera stopped delivering frames")
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        pts = round((now - self._t0) / LIVE_TIME_BASE)
        frame = Frame(self._index, rgb, pts, LIVE_TIME_BASE, f"{self._index:05d}")
        self._index += 1
        return CapturedFrame(frame, now)

    def close(self) -> None:
        self._cap.release()


# --------------------------------------------------------------------------------------
# Network streams and files (PyAV)
# --------------------------------------------------------------------------------------


def _input_options(url: str, low_latency: bool) -> dict[str, str]:
    options: dict[str, str] = {}
    scheme = url.partition("://")[0].lower()
    if low_latency:
        # Probe briefly. (No "fflags=nobuffer": it discards the probed packets, and with
        # them the stream's first keyframe.)
        options.update({"analyzeduration": "500000", "probesize": "500000"})
    if scheme == "rtsp":
        options["rtsp_transport"] = "tcp"
    if scheme == "udp":
        options.update({"fifo_size": "1000000", "overrun_nonfatal": "1"})
    return options


class StreamCapture(CaptureSource):
    """A network stream (or any input FFmpeg opens) decoded by PyAV.

    Args:
        url: ``rtsp://``, ``rtmp://``, ``udp://``, ``tcp://``, ``http(s)://``, ``srt://``...
            or a file path.
        format: Force the demuxer (e.g. ``"mpegts"``); ``None`` = probe.
        open_timeout: Seconds to wait for the connection and the stream header.
        read_timeout: Seconds without data before the read fails (a stall).
        options: Extra FFmpeg options (they override the low-latency defaults).
        low_latency: Ask FFmpeg for small probe and no input buffering.

    Raises:
        VideoOpenError: Cannot connect, or no video stream.
    """

    def __init__(
        self,
        url: str,
        *,
        format: str | None = None,
        open_timeout: float = 5.0,
        read_timeout: float = 3.0,
        options: dict[str, str] | None = None,
        low_latency: bool = True,
    ) -> None:
        import av
        import av.error

        _check_positive("open_timeout", open_timeout)
        _check_positive("read_timeout", read_timeout)
        self.url = str(url)
        self.name = redact(self.url)  # what messages show: no credentials
        opts = _input_options(self.url, low_latency)
        # FFmpeg's own I/O timeout (microseconds): a blocked network read returns an error.
        opts["rw_timeout"] = str(int(read_timeout * 1_000_000))
        opts |= dict(options or {})
        try:
            self._container = av.open(self.url, mode="r", format=format,
                                      container_options=opts,
                                      timeout=(open_timeout, read_timeout))
        except av.error.ExitError as error:  # the open timeout fired
            raise VideoOpenError(
                f"cannot open {self.name}: no stream within {open_timeout:g} s"
            ) from error
        except (av.error.FFmpegError, OSError) as error:
            raise VideoOpenError(f"cannot open {self.name}: {redact(str(error))}") from error
        try:
            if not self._container.streams.video:
                raise VideoOpenError(f"cannot open {self.name}: no video stream")
            self._stream = self._container.streams.video[0]
            # Frame threading holds frames back (one per thread): slices only, when live.
            self._stream.codec_context.thread_type = "SLICE" if low_latency else "AUTO"
            cc = self._stream.codec_context
            rate = None
            for r in (self._stream.average_rate, self._stream.guessed_rate):
                if r:
                    rate = Fraction(r)
                    break
            self.info = CaptureInfo(self.name, int(cc.width), int(cc.height), rate,
                                    live=is_network_url(self.url))
        except BaseException:
            self._container.close()
            raise
        self._frames = self._decode()
        self._index = 0
        self._read_timeout = read_timeout
        self._last_time: Fraction | None = None

    def _reached_duration(self) -> bool:
        """Whether the frames decoded reach the duration the stream states (a file served
        over the network); a live stream states none, so its end is a cut."""
        duration = self._container.duration  # microseconds, None when unknown (live)
        if not duration or self._last_time is None:
            return False
        start = (self._container.start_time or 0) / 1_000_000
        step = 1 / self.info.frame_rate if self.info.frame_rate else Fraction(1, 10)
        return self._last_time - Fraction(start) + 2 * step >= Fraction(duration, 1_000_000)

    def _decode(self) -> Iterator[object]:
        import av.error

        try:
            for packet in self._container.demux(self._stream):
                try:
                    yield from self._stream.decode(packet)
                except av.error.InvalidDataError:
                    logger.debug("%s: undecodable packet skipped", self.name)
        except av.error.FFmpegError as error:
            try:  # the frames still inside the decoder
                yield from self._stream.decode(None)
            except av.error.FFmpegError:
                pass
            if isinstance(error, av.error.ExitError) or "timed out" in str(error).lower():
                reason = f"no data for {self._read_timeout:g} s (stalled)"
            else:
                reason = f"stream broke off ({redact(str(error))})"
            raise VideoDecodeError(f"{self.name}: {reason}") from error

    def read(self) -> CapturedFrame | None:
        av_frame = next(self._frames, None)
        if av_frame is None:
            self.complete = self._reached_duration()
            self.end_note = ("end of the stream (its stated duration was reached)" if self.complete
                             else "the sender closed the stream")
            return None
        now = time.monotonic()
        image = np.ascontiguousarray(av_frame.to_ndarray(format="rgb24"))  # type: ignore[attr-defined]
        if image.shape[:2] != (self.info.height, self.info.width):
            raise VideoDecodeError(
                f"{self.name}: frame size changed from {self.info.width}x{self.info.height} to "
                f"{image.shape[1]}x{image.shape[0]}"
            )
        pts = av_frame.pts  # type: ignore[attr-defined]
        tb = av_frame.time_base  # type: ignore[attr-defined]
        if pts is not None and tb is not None:
            self._last_time = pts * Fraction(tb)
        frame = Frame(self._index, image, pts, Fraction(tb) if tb is not None else None,
                      f"{self._index:05d}")
        self._index += 1
        return CapturedFrame(frame, now)

    def close(self) -> None:
        self._frames.close()  # type: ignore[attr-defined]
        self._container.close()


class FileCapture(CaptureSource):
    """A video file or frame folder read by :func:`open_source`, every frame in order.

    Args:
        path: The file or folder.
        realtime: Deliver frames at the file's frame rate (simulates a live source);
            otherwise as fast as they are read.
        frame_rate: Rate of a frame folder (default 25).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, realtime: bool = False,
        frame_rate: Fraction | None = None,
    ) -> None:
        from moebius_video.io.reader import open_source

        self._source = open_source(path, frame_rate=frame_rate or Fraction(25))
        info = self._source.info
        rate = info.frame_rate or frame_rate or Fraction(25)
        self.info = CaptureInfo(str(path), info.width, info.height, rate, live=realtime)
        self._frames = iter(self._source)
        self._pacer = _Pacer(rate if realtime else None)
        self._index = 0

    def read(self) -> CapturedFrame | None:
        frame = next(self._frames, None)
        if frame is None:
            self.end_note = "end of the file"
            return None
        due = self._pacer.due(self._index)
        self._index += 1
        return CapturedFrame(frame, due)

    def close(self) -> None:
        self._source.close()


# --------------------------------------------------------------------------------------
# Reconnection
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a lost source is reopened.

    Attributes:
        attempts: Reopen attempts after a failure before giving up (0 = never reopen).
        initial_delay: Seconds before the first attempt.
        factor: Each further delay is this much longer...
        max_delay: ...up to this many seconds.
        reconnect_on_end: Treat an unexpected end of the stream (the sender closed it
            before any stated duration was reached: a live sender that died) as a loss, like
            a stall; otherwise such an end ends the capture normally. A stream that reached
            its stated duration always ends normally.
    """

    attempts: int = 5
    initial_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    reconnect_on_end: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 0:
            raise InvalidArgumentError(f"attempts must be >= 0, got {self.attempts}")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise InvalidArgumentError("reconnect delays must be >= 0")
        if self.factor < 1:
            raise InvalidArgumentError(f"factor must be >= 1, got {self.factor}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (1-based)."""
        return min(self.initial_delay * self.factor ** (attempt - 1), self.max_delay)


@dataclass
class ReconnectLog:
    """What a :class:`ReconnectingCapture` went through.

    Attributes:
        losses: Times the source was lost (failure, stall, or end when it counts).
        attempts: Reopen attempts made.
        reconnects: Successful reopens.
        delays: Seconds waited before each attempt, in order.
        errors: One line per loss or failed attempt (the latest few).
    """

    losses: int = 0
    attempts: int = 0
    reconnects: int = 0
    delays: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class ReconnectingCapture(CaptureSource):
    """Opens a source through ``opener`` and reopens it, with backoff, when it is lost.

    Frame indices keep counting across reconnections. After ``policy.attempts`` failed
    attempts in a row, :meth:`read` raises :class:`VideoOpenError` naming the source and the
    last error. The first open is retried the same way (a sender that is not up yet).

    Args:
        opener: Builds a fresh source (e.g. ``lambda: StreamCapture(url)``).
        policy: Attempts and delays.
        name: The source's name for messages.
        stop: Set it to abandon waiting (a backoff sleep returns at once).
    """

    def __init__(
        self,
        opener: Callable[[], CaptureSource],
        policy: ReconnectPolicy | None = None,
        *,
        name: str = "source",
        stop: threading.Event | None = None,
    ) -> None:
        self.policy = policy or ReconnectPolicy()
        self.name = name
        self.log = ReconnectLog()
        self._opener = opener
        self._stop = stop or threading.Event()
        self._index = 0
        self._source: CaptureSource | None = None
        self._source = self._reopen(first=True)
        self.info = self._source.info

    def _note(self, message: str) -> None:
        self.log.errors = (self.log.errors + [message])[-10:]

    def _reopen(self, *, first: bool = False, cause: str = "") -> CaptureSource:
        try:
            if first:
                return self._opener()
        except VideoOpenError as error:
            cause = str(error)
            self._note(cause)
        attempt = 0
        while attempt < self.policy.attempts:
            attempt += 1
            delay = self.policy.delay(attempt)
            self.log.attempts += 1
            self.log.delays.append(delay)
            logger.warning("%s: %s; reconnecting in %.2g s (attempt %d of %d)",
                           self.name, cause or "lost", delay, attempt, self.policy.attempts)
            if self._stop.wait(delay):
                raise VideoOpenError(f"{self.name}: stopped while reconnecting")
            try:
                source = self._opener()
            except VideoOpenError as error:
                cause = str(error)
                self._note(cause)
                continue
            if not first:
                self.log.reconnects += 1
                logger.warning("%s: reconnected", self.name)
            return source
        raise VideoOpenError(
            f"{self.name}: gave up after {self.policy.attempts} reconnect attempt"
            f"{'s' if self.policy.attempts != 1 else ''}; last error: {cause or 'unknown'}"
        )

    def read(self) -> CapturedFrame | None:
        while True:
            if self._source is None:
                return None
            try:
                item = self._source.read()
                cause = ""
                if item is None and not self._source.complete:
                    cause = f"stream ended unexpectedly ({self._source.end_note})"
            except (VideoDecodeError, VideoOpenError) as error:
                item, cause = None, str(error)
            if item is not None:
                item.frame.index = self._index
                item.frame.name = f"{self._index:05d}"
                self._index += 1
                return item
            ended = item is None and cause.startswith("stream ended")
            if not cause or (ended and not self.policy.reconnect_on_end):
                self.end_note = self._source.end_note
                self.complete = self._source.complete
                if ended:
                    logger.warning("%s: %s; not reconnecting (--no-reconnect-on-end)",
                                   self.name, self._source.end_note)
                self.close()
                return None
            self.log.losses += 1
            self._note(cause)
            old, self._source = self._source, None
            old.close()
            source = self._reopen(cause=cause)
            if (source.info.width, source.info.height) != (self.info.width, self.info.height):
                source.close()
                raise VideoOpenError(
                    f"{self.name}: reconnected, but the frame size changed from "
                    f"{self.info.width}x{self.info.height} to "
                    f"{source.info.width}x{source.info.height}"
                )
            self._source = source

    def interrupt(self) -> None:
        self._stop.set()
        source = self._source
        if source is not None:
            source.interrupt()

    def close(self) -> None:
        self._stop.set()
        if self._source is not None:
            self._source.close()
            self._source = None


def open_capture(
    spec: str | int,
    *,
    realtime: bool = False,
    reconnect: ReconnectPolicy | None = None,
    open_timeout: float = 5.0,
    read_timeout: float = 3.0,
    format: str | None = None,
) -> CaptureSource:
    """Open a live source from a command-line style spec.

    Args:
        spec: A camera index (``0`` or ``"0"``), a network URL, or a file/folder path.
        realtime: For files: deliver at the file's frame rate.
        reconnect: For network URLs: how to reopen a lost stream (default
            :class:`ReconnectPolicy`).
        open_timeout: Network: seconds to connect.
        read_timeout: Network: seconds without data before it counts as a stall.
        format: Network: force the demuxer.

    Returns:
        An open source.

    Raises:
        VideoOpenError: The source cannot be opened (after the reconnect attempts).
    """
    if isinstance(spec, int) or str(spec).isdigit():
        return WebcamCapture(int(spec))
    text = str(spec)
    if is_network_url(text):
        return ReconnectingCapture(
            lambda: StreamCapture(text, format=format, open_timeout=open_timeout,
                                  read_timeout=read_timeout),
            reconnect or ReconnectPolicy(),
            name=redact(text),
        )
    if "://" in text:
        return StreamCapture(text, format=format, open_timeout=open_timeout,
                             read_timeout=read_timeout, low_latency=False)
    return FileCapture(text, realtime=realtime)


__all__ = [
    "LIVE_TIME_BASE",
    "CaptureInfo",
    "CaptureSource",
    "CapturedFrame",
    "FakeCapture",
    "FileCapture",
    "ReconnectLog",
    "ReconnectPolicy",
    "ReconnectingCapture",
    "StreamCapture",
    "WebcamCapture",
    "is_network_url",
    "open_capture",
]
