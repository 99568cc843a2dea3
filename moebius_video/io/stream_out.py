"""Live outputs: an encoder that sends to a file or a network URL.

:class:`AVStreamSink` encodes each frame as it is written (H.264, ``ultrafast`` +
``zerolatency``: one packet out per frame in, no look-ahead) and muxes it to a file
(written under a temporary name, renamed into place by :meth:`AVStreamSink.close`) or to a
URL: ``udp://`` / ``tcp://`` / ``srt://`` (MPEG-TS), ``rtmp://`` (FLV), ``http://`` (MPEG-TS
sent by FFmpeg's HTTP client, or served to one client with ``?listen=1``), ``rtsp://``.
``write`` returns once the frame's packets are handed to the muxer, so the time it returns
is the end of a frame's glass-to-glass latency.

The browser view of live frames is the web editor's live page
(:mod:`moebius_video.web.live`, served by uvicorn).
"""

from __future__ import annotations

import logging
import os
import secrets
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.error
import numpy as np

from moebius_video.errors import InvalidArgumentError, OutputError
from moebius_video.io.frames import Frame
from moebius_video.io.urls import redact

logger = logging.getLogger(__name__)

_FORMAT_BY_SCHEME = {
    "udp": "mpegts",
    "tcp": "mpegts",
    "srt": "mpegts",
    "http": "mpegts",
    "https": "mpegts",
    "rtmp": "flv",
    "rtmps": "flv",
    "rtsp": "rtsp",
}
_OUTPUT_TIME_BASE = Fraction(1, 90000)


class LiveSink(Protocol):
    """What the live engine writes processed frames to (from one thread)."""

    def write(self, frame: Frame) -> None:
        """Encode/send one frame (``H, W, 3`` uint8 RGB with ``pts`` and ``time_base``)."""

    def close(self) -> None:
        """Flush and finish the output (a file appears at its path). Idempotent."""

    def abort(self) -> None:
        """Stop without finishing (a file output is deleted). Idempotent."""


def output_format(target: str) -> str | None:
    """The muxer for a URL by its scheme (``None`` for files: FFmpeg picks by extension)."""
    scheme, sep, _ = target.partition("://")
    if not sep or scheme.lower() == "file":
        return None
    fmt = _FORMAT_BY_SCHEME.get(scheme.lower())
    if fmt is None:
        raise InvalidArgumentError(
            f"output {target!r}: unknown protocol {scheme!r}; use a file, udp://, tcp://, "
            "srt://, rtmp://, rtsp:// or http://"
        )
    return fmt


class AVStreamSink:
    """Encodes frames with PyAV as they come and sends them to a file or a URL.

    Args:
        target: A file path, or a URL (see the module docstring).
        width: Frame width.
        height: Frame height.
        frame_rate: Nominal rate (sets the keyframe interval and the rate stated in the
            header; frames keep their own timestamps).
        format: Force the muxer (default: by scheme or extension).
        codec: Video encoder.
        preset: x264 speed preset.
        crf: x264 constant quality.
        keyframe_seconds: Seconds between keyframes (a receiver joining late waits this).
        overwrite: Replace an existing file.
        options: Extra muxer/protocol options.

    Raises:
        OutputError: The file exists (without ``overwrite``), its folder is missing, or the
            URL cannot be opened.
        InvalidArgumentError: Bad size, codec or protocol.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        width: int,
        height: int,
        *,
        frame_rate: Fraction | None = None,
        format: str | None = None,
        codec: str = "libx264",
        preset: str = "ultrafast",
        crf: int = 23,
        keyframe_seconds: float = 1.0,
        overwrite: bool = False,
        options: dict[str, str] | None = None,
    ) -> None:
        if width <= 0 or height <= 0:
            raise InvalidArgumentError(f"output size must be positive, got {width}x{height}")
        self.target = os.fspath(target)
        self.name = redact(self.target)  # what messages show: no credentials
        self.width, self.height = int(width), int(height)
        fmt = format or output_format(self.target)
        self.is_file = "://" not in self.target or self.target.startswith("file://")
        self._final: Path | None = None
        open_path = self.target
        if self.is_file and os.path.realpath(self.target.removeprefix("file://")) == os.devnull:
            # Encode and throw away (measuring): written directly, never renamed over.
            open_path, fmt = os.devnull, fmt or "mpegts"
        elif self.is_file:
            final = Path(self.target.removeprefix("file://"))
            if final.exists() and not final.is_file():
                raise OutputError(
                    f"output {final} exists and is not a regular file (a folder, device or "
                    "pipe); refusing to replace it"
                )
            if final.exists() and not overwrite:
                raise OutputError(f"output {final} exists; use --overwrite to replace it")
            if not final.resolve().parent.is_dir():
                raise OutputError(f"cannot write {final}: its folder does not exist")
            self._final = final
            open_path = str(final.with_name(f".{final.stem}.partial-{secrets.token_hex(4)}{final.suffix}"))
        self._open_path = open_path
        rate = Fraction(frame_rate) if frame_rate else Fraction(30)
        self._last_pts: int | None = None
        self._first: Fraction | None = None
        self.frames_written = 0
        self._state = "open"
        try:
            self._container = av.open(open_path, mode="w", format=fmt, options=dict(options or {}))
        except (av.error.FFmpegError, OSError, ValueError) as error:
            self._state = "aborted"
            raise OutputError(f"cannot open output {self.name}: {redact(str(error))}") from error
        try:
            stream = self._container.add_stream(codec, rate=rate)
            stream.width, stream.height = self.width, self.height
            even = self.width % 2 == 0 and self.height % 2 == 0
            stream.pix_fmt = "yuv420p" if even else "yuv444p"
            stream.time_base = _OUTPUT_TIME_BASE
            stream.codec_context.time_base = _OUTPUT_TIME_BASE
            stream.codec_context.framerate = rate
            stream.codec_context.gop_size = max(1, round(keyframe_seconds * rate))
            if codec in ("libx264", "libx265"):
                stream.codec_context.options = {"preset": preset, "tune": "zerolatency",
                                                "crf": str(crf)}
                if codec == "libx265":  # no "x265 [info]" lines of its own on stderr
                    stream.codec_context.options |= {"x265-params": "log-level=error"}
            self._stream = stream
            self._container.start_encoding()
        except (av.error.FFmpegError, OSError, ValueError) as error:
            self.abort()
            raise OutputError(f"cannot set up {codec} output to {self.name}: {redact(str(error))}") from error
        except BaseException:
            self.abort()
            raise

    def write(self, frame: Frame) -> None:
        """Encode ``frame`` and mux its packets now.

        Raises:
            InvalidArgumentError: Wrong image shape or dtype.
            OutputError: The output failed (receiver gone, disk full...).
        """
        if self._state != "open":
            raise OutputError(f"cannot write to {self.name}: the output is {self._state}")
        image = frame.image
        if image.dtype != np.uint8 or image.shape != (self.height, self.width, 3):
            raise InvalidArgumentError(
                f"frame {frame.index}: expected a ({self.height}, {self.width}, 3) uint8 image, "
                f"got {image.shape} {image.dtype}"
            )
        if frame.pts is not None and frame.time_base is not None:
            seconds = frame.pts * Fraction(frame.time_base)
        else:
            seconds = Fraction(frame.index) / Fraction(self._stream.codec_context.framerate or 30)
        if self._first is None:
            self._first = seconds
        pts = round((seconds - self._first) / _OUTPUT_TIME_BASE)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        av_frame.pts = pts
        av_frame.time_base = _OUTPUT_TIME_BASE
        try:
            for packet in self._stream.encode(av_frame):
                self._container.mux(packet)
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"sending to {self.name} failed: {redact(str(error))}") from error
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder, finish the container, move a file into place. Idempotent."""
        if self._state != "open":
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self._state = "closed"
            if self._final is not None:
                if self.frames_written == 0:
                    raise OutputError(f"no frame was written to {self._final}; nothing was created")
                os.replace(self._open_path, self._final)
                logger.info("wrote %d frames to %s", self.frames_written, self._final)
        except (av.error.FFmpegError, OSError) as error:
            self._state = "open"
            self.abort()
            raise OutputError(f"finishing {self.name} failed: {redact(str(error))}") from error
        except BaseException:
            self._state = "open"
            self.abort()
            raise

    def abort(self) -> None:
        """Close without flushing; a file output is deleted. Idempotent, never raises."""
        if self._state == "aborted":
            return
        was_open = self._state == "open"
        self._state = "aborted"
        if was_open:
            try:
                self._container.close()
            except Exception:  # cleanup must not raise
                logger.debug("closing %s failed", self.name, exc_info=True)
        if self._final is not None:
            Path(self._open_path).unlink(missing_ok=True)


def open_stream_sink(
    target: str | os.PathLike[str],
    width: int,
    height: int,
    **kwargs: object,
) -> AVStreamSink:
    """Open a live output (see :class:`AVStreamSink` for the arguments)."""
    return AVStreamSink(target, width, height, **kwargs)  # type: ignore[arg-type]


__all__ = ["AVStreamSink", "LiveSink", "open_stream_sink", "output_format"]
