"""Live outputs: an encoder that sends to a file or a network URL, and an MJPEG web server.

:class:`AVStreamSink` encodes each frame as it is written (H.264, ``ultrafast`` +
``zerolatency``: one packet out per frame in, no look-ahead) and muxes it to a file
(written under a temporary name, renamed into place by :meth:`AVStreamSink.close`) or to a
URL: ``udp://`` / ``tcp://`` / ``srt://`` (MPEG-TS), ``rtmp://`` (FLV), ``http://`` (MPEG-TS
sent by FFmpeg's HTTP client, or served to one client with ``?listen=1``), ``rtsp://``.
``write`` returns once the frame's packets are handed to the muxer, so the time it returns
is the end of a frame's glass-to-glass latency.

:class:`MjpegServer` serves the latest frames of one or more named channels to browsers as
``multipart/x-mixed-replace`` JPEG streams (MJPEG), with an HTML page at ``/``. Each client
gets the newest frame when it is ready for one: a slow client skips frames, nothing queues.
"""

from __future__ import annotations

import html
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

import av
import av.error
import cv2
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


# --------------------------------------------------------------------------------------
# MJPEG over HTTP
# --------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;background:#111;color:#eee;margin:1em}}
figure{{display:inline-block;margin:0 1em 1em 0}} img{{max-width:46vw;border:1px solid #444}}
#stats{{font-family:monospace}}</style></head>
<body><h1>{title}</h1>{figures}<p id="stats"></p>
<script>
async function poll(){{
  try{{const r=await fetch('/stats.json');const s=await r.json();
      document.getElementById('stats').textContent=JSON.stringify(s);}}catch(e){{}}
  setTimeout(poll,1000);}}
poll();
</script></body></html>
"""


class _Channel:
    """The latest picture of one channel, JPEG-encoded on demand (once per picture)."""

    def __init__(self) -> None:
        self.image: np.ndarray | None = None
        self.seq = 0
        self._jpeg: bytes | None = None
        self._jpeg_seq = -1

    def jpeg(self, quality: int) -> tuple[bytes | None, int]:
        if self.image is None:
            return None, 0
        if self._jpeg_seq != self.seq:
            bgr = cv2.cvtColor(self.image, cv2.COLOR_RGB2BGR)
            ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            self._jpeg = data.tobytes() if ok else None
            self._jpeg_seq = self.seq
        return self._jpeg, self.seq


class MjpegServer:
    """A small HTTP server that shows live frames in a browser (MJPEG).

    Routes: ``/`` (a page with one ``<img>`` per channel), ``/<channel>.mjpg`` (the stream),
    ``/<channel>.jpg`` (the latest picture), ``/stats.json`` (``status()`` as JSON).

    Args:
        host: Address to bind (default loopback only).
        port: Port (0 = any free port; see :attr:`port`).
        channels: Channel names, in page order.
        quality: JPEG quality.
        title: Page title.
        status: Called for ``/stats.json``; returns something JSON-serialisable.

    Raises:
        OutputError: The port cannot be bound.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        channels: Sequence[str] = ("output",),
        quality: int = 80,
        title: str = "moebius-video live",
        status: Callable[[], object] | None = None,
    ) -> None:
        if not channels:
            raise InvalidArgumentError("channels is empty")
        if not 1 <= quality <= 100:
            raise InvalidArgumentError(f"quality must be in 1..100, got {quality}")
        self.channels = tuple(channels)
        self.quality = quality
        self.title = title
        self.status = status
        self._channels = {name: _Channel() for name in self.channels}
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        handler = _make_handler(self)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as error:
            raise OutputError(f"cannot serve on {host}:{port}: {error}") from error
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"mjpeg:{self.port}", daemon=True)
        self._thread.start()
        logger.info("serving the live view at %s", self.url)

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{self.host}:{self.port}/"

    def publish(self, channel: str, image: np.ndarray) -> None:
        """Make ``image`` (``H, W, 3`` uint8 RGB) the latest picture of ``channel``.

        Cheap: the image is kept by reference and encoded only when a client asks.
        """
        if channel not in self._channels:
            raise InvalidArgumentError(f"unknown channel {channel!r}; have {self.channels}")
        with self._cond:
            ch = self._channels[channel]
            ch.image = image
            ch.seq += 1
            self._cond.notify_all()

    def write(self, frame: Frame) -> None:
        """Publish ``frame`` on the first channel (so the server is also a sink)."""
        self.publish(self.channels[0], frame.image)

    def wait_frame(self, channel: str, after: int, timeout: float) -> tuple[bytes | None, int]:
        """The JPEG of ``channel`` once its sequence number exceeds ``after`` (or ``None``)."""
        with self._cond:
            ch = self._channels[channel]
            self._cond.wait_for(lambda: ch.seq > after or self._stopping.is_set(), timeout)
            if ch.seq <= after:
                return None, after
            return ch.jpeg(self.quality)

    def page(self) -> str:
        """The HTML page."""
        figures = "".join(
            f'<figure><img src="/{html.escape(c)}.mjpg" alt="{html.escape(c)}">'
            f"<figcaption>{html.escape(c)}</figcaption></figure>"
            for c in self.channels
        )
        return _PAGE.format(title=html.escape(self.title), figures=figures)

    def close(self) -> None:
        """Stop serving; open client streams end. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    abort = close

    def __enter__(self) -> MjpegServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _make_handler(server: MjpegServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("http %s: " + format, self.client_address[0], *args)

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?", 1)[0]
            name, _, ext = path.lstrip("/").rpartition(".")
            try:
                if path in ("/", "/index.html"):
                    self._send(200, "text/html; charset=utf-8", server.page().encode())
                elif path == "/stats.json":
                    data = server.status() if server.status is not None else {}
                    self._send(200, "application/json", json.dumps(data).encode())
                elif name in server.channels and ext == "jpg":
                    jpeg, _ = server.wait_frame(name, 0, 5.0)
                    if jpeg is None:
                        self._send(503, "text/plain", b"no frame yet\n")
                    else:
                        self._send(200, "image/jpeg", jpeg)
                elif name in server.channels and ext == "mjpg":
                    self._stream(name)
                else:
                    self._send(404, "text/plain", b"not found\n")
            except (BrokenPipeError, ConnectionResetError):
                logger.debug("http client %s went away", self.client_address[0])

        def _stream(self, channel: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seq = 0
            while not server._stopping.is_set():
                jpeg, seq = server.wait_frame(channel, seq, 0.5)
                if jpeg is None:
                    continue
                self.wfile.write(
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n"
                )
                self.wfile.flush()

    return Handler


__all__ = ["AVStreamSink", "LiveSink", "MjpegServer", "open_stream_sink", "output_format"]
