"""Writing frames: :func:`open_sink` to a video file (PyAV) or a folder of PNG files.

Encoding runs in a background thread behind a bounded queue, so it overlaps the caller's
processing. Output goes to a temporary name next to the target and is renamed into place
by :meth:`FrameSink.close`; :meth:`FrameSink.abort` (or an exception, Ctrl-C included,
inside a ``with`` block) deletes it, so an interrupted run never leaves a half-written
file at the target.

Timing is preserved: the output has the source's frames at the source's timestamps
(shifted so that the first frame is at 0), in the source's time base when the container
allows it; variable frame rates stay variable. Every audio and subtitle stream of
``audio_from`` is kept (copied, or for audio re-encoded when the container cannot hold its
codec), in order, with its language and dispositions, interleaved as video is written; a
stream that cannot be kept is named in a warning.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import shutil
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.error
import cv2
import numpy as np
from av.stream import Discard

from moebius_video.errors import InvalidArgumentError, MoebiusError, OutputError
from moebius_video.io.frames import Frame, VideoInfo
from moebius_video.io.paths import describe_os_error, write_file

logger = logging.getLogger(__name__)

DEFAULT_FRAME_RATE = Fraction(25)
"""Frame rate of the output when neither the caller nor the source gives one."""

_VIDEO_CODEC_BY_SUFFIX: dict[str, str] = {
    ".mp4": "libx264",
    ".m4v": "libx264",
    ".mov": "libx264",
    ".mkv": "libx264",
    # AVI stores no presentation timestamps: H.264 in AVI reads back one frame late (and,
    # with B-frames, out of order); MPEG-4 Part 2 without B-frames is what AVI holds exactly.
    ".avi": "mpeg4",
    ".ts": "libx264",
    ".webm": "libvpx-vp9",
}
_AUDIO_CODECS_BY_SUFFIX: dict[str, tuple[str, ...]] = {
    ".webm": ("libopus", "opus", "libvorbis", "vorbis"),
    ".avi": ("libmp3lame", "aac"),
}
_DEFAULT_AUDIO_CODECS = ("aac", "libopus", "libmp3lame")
_X26X = {"libx264", "libx264rgb", "libx265"}
_CONSTANT_RATE_SUFFIXES = frozenset({".avi"})
_QP2LAMBDA = 118  # FFmpeg's FF_QP2LAMBDA: a quantiser as a global_quality value
#: Containers without presentation timestamps: the encoder must not reorder frames.
_NO_REORDER_SUFFIXES = frozenset({".avi"})
# Codecs that any container able to hold audio answers about in ``supported_codecs``.
_PROBE_CODECS = ("aac", "mp3", "opus", "vorbis", "pcm_s16le", "flac", "h264", "mpeg4")
_PNG_COMPRESSION = 1  # fast; PNG is lossless at every level
_POLL_S = 0.05


def _container_holds(container: av.container.OutputContainer, codec: str) -> bool | None:
    """Whether an output format can store ``codec``; ``None`` when the format cannot say.

    Some muxers (MPEG-TS...) implement no codec query, so their ``supported_codecs`` is
    nearly empty: then the header writing decides.
    """
    supported = container.supported_codecs
    if codec in supported:
        return True
    if not any(name in supported for name in _PROBE_CODECS):
        return None
    return False


# --------------------------------------------------------------------------------------
# Encoders (run in the sink's thread)
# --------------------------------------------------------------------------------------


class _Encoder(ABC):
    """Interface of the sink's back ends; every method but ``__init__`` runs in one thread."""

    width: int
    height: int
    temp_path: Path

    @abstractmethod
    def encode(self, frame: Frame) -> None:
        """Encode one frame."""

    @abstractmethod
    def finish(self) -> None:
        """Flush everything to the temporary output and close it."""

    @abstractmethod
    def commit(self, target: Path, overwrite: bool) -> None:
        """Move the finished temporary output to ``target``."""

    @abstractmethod
    def discard(self) -> None:
        """Close whatever is open and delete the temporary output (never raises)."""


def publish_folder(temp: Path, target: Path, *, overwrite: bool) -> None:
    """Move a finished temporary folder to ``target``, with the umask's permissions (not
    mkdtemp's). An existing ``target`` is set aside first and put back if the move fails,
    deleted once it succeeded: at every moment one complete folder is in place.

    Raises:
        OutputError: ``target`` exists (and is not an empty folder) without ``overwrite``.
        OSError: The move failed (``target`` is as it was).
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o777 & ~umask)
    aside: Path | None = None
    if target.exists():
        empty_dir = target.is_dir() and not any(target.iterdir())
        if not (overwrite or empty_dir):
            raise OutputError(f"output {target} appeared while writing; not replaced")
        aside = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
        os.replace(target, aside)
    try:
        os.replace(temp, target)
    except OSError:
        if aside is not None:
            os.replace(aside, target)
        raise
    if aside is not None:
        if aside.is_dir():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink(missing_ok=True)


class _PngFolderEncoder(_Encoder):
    """Writes ``<name>.png`` files (lossless) into a temporary sibling folder."""

    def __init__(self, target: Path, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.temp_path = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent)
        )
        self._names: set[str] = set()

    def encode(self, frame: Frame) -> None:
        name = frame.name or f"{frame.index:05d}"
        if name in self._names:
            raise OutputError(f"two frames named {name!r} for the folder {self.temp_path.parent}")
        self._names.add(name)
        bgr = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, _PNG_COMPRESSION])
        if not ok:
            raise OutputError(f"PNG encoding failed for frame {name}")
        write_file(self.temp_path / f"{name}.png", data)

    def finish(self) -> None:
        """Nothing to flush: every PNG was written whole."""

    def commit(self, target: Path, overwrite: bool) -> None:
        publish_folder(self.temp_path, target, overwrite=overwrite)

    def discard(self) -> None:
        shutil.rmtree(self.temp_path, ignore_errors=True)


class _NullEncoder(_Encoder):
    """Discards every frame (output ``/dev/null``: process and measure, keep nothing)."""

    def __init__(self, target: Path, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.temp_path = target

    def encode(self, frame: Frame) -> None:
        pass

    def finish(self) -> None:
        pass

    def commit(self, target: Path, overwrite: bool) -> None:
        pass

    def discard(self) -> None:
        pass


class _Route:
    """One audio or subtitle stream of the source and where its packets go."""

    def __init__(self, in_stream: av.stream.Stream, out_stream: av.stream.Stream, copy: bool) -> None:
        self.in_stream = in_stream
        self.out_stream = out_stream
        self.copy = copy


def _describe_stream(stream: av.stream.Stream) -> str:
    """``audio stream #2 (aac, fra)`` for messages."""
    language = (stream.metadata or {}).get("language")
    details = ", ".join(p for p in (stream.codec_context.name, language) if p and p != "und")
    return f"{stream.type} stream #{stream.index}" + (f" ({details})" if details else "")


class _StreamCopier:
    """Muxes the audio and subtitle streams of another file into the output, lazily, within
    the written video's time window.

    Every audio stream (unless ``audio`` is False) and every subtitle stream is kept, in the
    source's order, with its language and other metadata and its dispositions (default,
    forced...). Packets are copied (remuxed) when the output container can hold the codec;
    audio is otherwise decoded and re-encoded; a subtitle stream the container cannot hold
    is left out with a warning that names it. One demuxer reads the kept streams in file
    order (they are interleaved by time), so memory stays bounded.
    """

    def __init__(
        self, source: Path, output: av.container.OutputContainer, suffix: str, *, audio: bool = True
    ) -> None:
        self._input = av.open(str(source), mode="r")
        self.routes: dict[int, _Route] = {}
        self.dropped: list[str] = []
        descriptions: list[str] = []
        try:
            for stream in self._input.streams:
                keep = stream.type == "subtitle" or (stream.type == "audio" and audio)
                route = self._add_route(stream, output, suffix) if keep else None
                if route is None:
                    stream.discard = Discard.all  # demux only what is kept
                    continue
                self.routes[stream.index] = route
                how = "copied" if route.copy else f"re-encoded to {route.out_stream.codec_context.name}"
                descriptions.append(f"{_describe_stream(stream)} {how}")
        except BaseException:
            self._input.close()
            raise
        self.description = "; ".join(descriptions) or "nothing"
        kept = [route.in_stream for route in self.routes.values()]
        self._packets: Iterator[av.Packet] | None = self._input.demux(*kept) if kept else None
        self._pending: av.Packet | None = None
        self._exhausted = not kept
        self.t0: Fraction | None = None
        self.end: Fraction | None = None

    def _add_route(
        self, stream: av.stream.Stream, output: av.container.OutputContainer, suffix: str
    ) -> _Route | None:
        name = stream.codec_context.name
        if _container_holds(output, name) is not False:
            try:
                out = output.add_stream_from_template(stream)
            except (av.error.FFmpegError, ValueError) as error:
                if stream.type != "audio":
                    self._drop(stream, suffix, str(error))
                    return None
            else:
                self._copy_properties(stream, out)
                return _Route(stream, out, copy=True)
        if stream.type != "audio":
            self._drop(stream, suffix, f"{suffix or 'this'} files cannot hold {name}")
            return None
        encoder = self._choose_encoder(output, suffix)
        rate = stream.codec_context.sample_rate or 48000
        if "opus" in encoder and rate not in (8000, 12000, 16000, 24000, 48000):
            rate = 48000
        out = output.add_stream(encoder, rate=rate)
        layout = stream.codec_context.layout
        if layout is not None and layout.nb_channels in (1, 2):
            out.layout = layout.name  # type: ignore[union-attr]
        else:
            out.layout = "stereo"  # type: ignore[union-attr]
        self._copy_properties(stream, out)
        return _Route(stream, out, copy=False)

    def _drop(self, stream: av.stream.Stream, suffix: str, why: str) -> None:
        text = f"{_describe_stream(stream)} of {self._input.name} cannot be kept ({why}); left out"
        self.dropped.append(text)
        logger.warning("%s", text)

    @staticmethod
    def _copy_properties(source: av.stream.Stream, out: av.stream.Stream) -> None:
        for key, value in (source.metadata or {}).items():
            if key.lower() not in ("handler_name", "vendor_id", "encoder", "duration"):
                out.metadata[key] = value
        try:
            out.disposition = source.disposition
        except (AttributeError, TypeError, ValueError):  # older PyAV
            pass

    @staticmethod
    def _choose_encoder(output: av.container.OutputContainer, suffix: str) -> str:
        candidates = _AUDIO_CODECS_BY_SUFFIX.get(suffix, ()) + _DEFAULT_AUDIO_CODECS
        for name in candidates:
            if name not in av.codecs_available:
                continue
            try:
                codec_name = av.Codec(name, "w").name
            except (av.error.FFmpegError, ValueError):
                continue
            if _container_holds(output, codec_name) is not False:
                return name
        raise OutputError(f"no audio encoder available for {suffix} files")

    def _next_packet(self) -> av.Packet | None:
        if self._pending is None and not self._exhausted:
            assert self._packets is not None
            try:
                while True:
                    packet = next(self._packets)
                    if packet.stream.index in self.routes and (
                        packet.pts is not None or packet.dts is not None
                    ):
                        self._pending = packet
                        break
            except StopIteration:
                self._exhausted = True
            except av.error.FFmpegError as error:
                logger.warning("audio/subtitles of %s end early: %s", self._input.name, error)
                self._exhausted = True
        return self._pending

    def pump(self, output: av.container.OutputContainer, until: Fraction) -> None:
        """Mux packets that start before absolute time ``until`` (seconds, source clock)."""
        assert self.t0 is not None
        while (packet := self._next_packet()) is not None:
            route = self.routes[packet.stream.index]
            time_base = Fraction(route.in_stream.time_base)
            stamp = packet.pts if packet.pts is not None else packet.dts
            start = stamp * time_base
            if start >= until:
                return
            self._pending = None
            duration = (packet.duration or 0) * time_base
            if start + duration <= self.t0 or (self.end is not None and start >= self.end):
                continue  # outside the written video's span
            if route.in_stream.type == "subtitle" and start < self.t0:
                continue  # a subtitle cannot start before the output does
            shift = round(self.t0 / time_base)
            if route.copy:
                if packet.pts is not None:
                    packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
                packet.stream = route.out_stream
                output.mux(packet)
            else:
                for frame in route.in_stream.decode(packet):
                    if frame.pts is not None:
                        frame.pts -= shift
                    for out_packet in route.out_stream.encode(frame):
                        output.mux(out_packet)

    def finish(self, output: av.container.OutputContainer, end: Fraction) -> None:
        """Mux the rest up to ``end`` and flush the re-encoders."""
        self.end = end
        if self.t0 is not None:
            self.pump(output, end)
            for route in self.routes.values():
                if not route.copy:
                    for out_packet in route.out_stream.encode(None):
                        output.mux(out_packet)
        self.close()

    def close(self) -> None:
        self._input.close()


class _VideoFileEncoder(_Encoder):
    """Encodes frames with PyAV into a temporary file next to the target."""

    def __init__(
        self,
        target: Path,
        like: VideoInfo,
        *,
        codec: str | None,
        crf: int | None,
        preset: str | None,
        pix_fmt: str | None,
        frame_rate: Fraction | None,
        audio_from: Path | None,
        audio: bool = True,
    ) -> None:
        self.width = like.width
        self.height = like.height
        suffix = target.suffix.lower()
        self.temp_path = target.with_name(
            f".{target.stem}.partial-{secrets.token_hex(4)}{target.suffix}"
        )
        if codec is None:
            codec = _VIDEO_CODEC_BY_SUFFIX.get(suffix, "libx264")
            if codec == "mpeg4" and (like.width % 2 or like.height % 2):
                codec = "libx264"  # MPEG-4 Part 2 needs even sizes; x264 has yuv444p
        try:
            av_codec = av.Codec(codec, "w")
        except (av.error.FFmpegError, ValueError) as error:
            raise InvalidArgumentError(
                f"codec={codec!r} is not an encoder of this FFmpeg build"
            ) from error
        if av_codec.type != "video":
            raise InvalidArgumentError(f"codec={codec!r} is not a video encoder")
        pix_fmt = self._choose_pix_fmt(av_codec, pix_fmt, like.width, like.height,
                                       source_pix_fmt=like.pix_fmt, source_depth=like.bit_depth)
        self.rate = Fraction(frame_rate or like.frame_rate or DEFAULT_FRAME_RATE)
        if like.time_base and suffix not in _CONSTANT_RATE_SUFFIXES:
            self.time_base = Fraction(like.time_base)
        else:  # one tick per frame (AVI can only store a constant rate)
            self.time_base = 1 / self.rate

        self._container: av.container.OutputContainer | None = None
        self._audio: _StreamCopier | None = None
        try:
            self._container = av.open(str(self.temp_path), mode="w")
        except (av.error.FFmpegError, OSError, ValueError) as error:
            raise OutputError(f"cannot write {target}: {error}") from error
        except BaseException:  # interrupted as the file appeared: leave nothing
            self.discard()
            raise
        try:
            container = self._container
            if _container_holds(container, av_codec.name) is False:
                raise InvalidArgumentError(
                    f"codec={codec!r} cannot be stored in a {suffix or 'suffix-less'} file"
                )
            stream = container.add_stream(codec, rate=self.rate)
            stream.width = like.width
            stream.height = like.height
            stream.pix_fmt = pix_fmt
            stream.time_base = self.time_base
            stream.codec_context.time_base = self.time_base
            stream.codec_context.framerate = self.rate
            stream.codec_context.thread_type = "AUTO"
            stream.codec_context.options = self._codec_options(av_codec.name, crf, preset, suffix)
            if av_codec.name == "mpeg4":
                # Constant quantiser (FFmpeg's -q:v): 2 is near-transparent; --crf sets it.
                stream.codec_context.qscale = True
                stream.codec_context.global_quality = _QP2LAMBDA * (
                    2 if crf is None else min(max(crf, 1), 31)
                )
            if suffix in _NO_REORDER_SUFFIXES and av_codec.name in ("h264", "libx264", "libx265"):
                logger.warning(
                    "%s in %s: frames come back in order (no B-frames) but players start the "
                    "video one frame late against the audio; the default for %s is mpeg4",
                    av_codec.name, suffix, suffix,
                )
            self._stream = stream
            if audio_from is not None:
                self._audio = self._open_audio(audio_from, container, suffix, audio=audio)
            container.start_encoding()  # opens the encoders and writes the header now
        except MoebiusError:
            self.discard()
            raise
        except av.error.FFmpegError as error:
            self.discard()
            raise OutputError(f"cannot set up {codec} output for {target}: {error}") from error
        except ValueError as error:  # PyAV's own checks (codec not allowed in the format...)
            self.discard()
            raise InvalidArgumentError(f"cannot write {codec} into {target}: {error}") from error
        except BaseException:
            self.discard()
            raise
        self._first_time: Fraction | None = None
        self._pending: av.VideoFrame | None = None
        self._last_pts: int | None = None
        self._last_duration: int | None = None
        self._durations: dict[int, int] = {}
        self._count = 0

    @staticmethod
    def _choose_pix_fmt(
        codec: av.Codec,
        pix_fmt: str | None,
        width: int,
        height: int,
        *,
        source_pix_fmt: str = "",
        source_depth: int = 8,
    ) -> str:
        formats = [f.name for f in (codec.video_formats or ())]
        odd = width % 2 == 1 or height % 2 == 1
        if pix_fmt is None and source_depth > 8:
            # Keep a high bit depth where the encoder can (x264/x265: 10-bit formats).
            wanted = ["yuv444p10le"] if odd else ["yuv420p10le", "yuv444p10le"]
            if "444" in source_pix_fmt:
                wanted = ["yuv444p10le"]
            elif "422" in source_pix_fmt and not odd:
                wanted = ["yuv422p10le", *wanted]
            for name in wanted:
                if name in formats:
                    logger.warning(
                        "the input is %d-bit (%s): the output is %s, but frames are processed "
                        "with 8 bits per channel, so its gradients can show 8-bit steps",
                        source_depth, source_pix_fmt, name,
                    )
                    return name
            logger.warning(
                "the input is %d-bit (%s) but %s cannot encode more than 8 bits here: the "
                "output is reduced to 8 bits (use --codec libx264 or libx265 to keep 10 bits)",
                source_depth, source_pix_fmt, codec.name,
            )
        if pix_fmt is not None:
            if formats and pix_fmt not in formats:
                raise InvalidArgumentError(
                    f"pix_fmt={pix_fmt!r} is not supported by {codec.name} "
                    f"(supported: {', '.join(formats)})"
                )
            fmt = av.VideoFormat(pix_fmt, width, height)
            subsampled = any(c.width < width or c.height < height for c in fmt.components)
            if odd and subsampled:
                raise InvalidArgumentError(
                    f"pix_fmt={pix_fmt!r} subsamples chroma and cannot hold the odd size "
                    f"{width}x{height} exactly; use yuv444p"
                )
            return pix_fmt
        if not formats or "yuv420p" in formats:
            if not odd:
                return "yuv420p"
            if "yuv444p" in formats:
                logger.warning(
                    "odd frame size %dx%d: encoding %s as yuv444p (yuv420p needs even sizes); "
                    "some players cannot play 4:4:4",
                    width,
                    height,
                    codec.name,
                )
                return "yuv444p"
            raise InvalidArgumentError(
                f"{codec.name} cannot encode the odd size {width}x{height} without resizing"
            )
        return formats[0]

    @staticmethod
    def _codec_options(
        name: str, crf: int | None, preset: str | None, suffix: str = ""
    ) -> dict[str, str]:
        options: dict[str, str] = {}
        if name in _X26X:
            options["crf"] = str(18 if crf is None else crf)
            options["preset"] = preset or "medium"
            if suffix in _NO_REORDER_SUFFIXES:
                # AVI stores no presentation timestamps: with B-frames the frames come back
                # out of order and video starts a frame late against the audio.
                options["bf"] = "0"
            if name == "libx265":
                # x265 prints its own "x265 [info]" lines on stderr unless told not to.
                params = ["log-level=error"]
                if suffix in _NO_REORDER_SUFFIXES:
                    params.append("bframes=0")
                options["x265-params"] = ":".join(params)
        elif name == "mpeg4":
            options["bf"] = "0"  # B-frames would need timestamps AVI cannot store
        elif name in ("libvpx-vp9", "libvpx"):
            options["crf"] = str(24 if crf is None else crf)
            options["b"] = "0"  # constant quality
            options["row-mt"] = "1"
            options["deadline"] = preset or "good"  # good | best | realtime
            options["cpu-used"] = "4"  # libvpx's default (1) is several times slower
        else:
            if crf is not None:
                options["crf"] = str(crf)
            if preset is not None:
                options["preset"] = preset
        return options

    @staticmethod
    def _open_audio(
        audio_from: Path, container: av.container.OutputContainer, suffix: str, *, audio: bool
    ) -> _StreamCopier | None:
        try:
            probe_input = av.open(str(audio_from), mode="r")
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"cannot read audio from {audio_from}: {error}") from error
        with probe_input:
            wanted = [s for s in probe_input.streams
                      if s.type == "subtitle" or (s.type == "audio" and audio)]
        if not wanted:
            logger.info("%s has no %s stream; writing video only", audio_from,
                        "audio or subtitle" if audio else "subtitle")
            return None
        copier = _StreamCopier(audio_from, container, suffix, audio=audio)
        if not copier.routes:
            copier.close()
            return None
        logger.info("from %s: %s", audio_from, copier.description)
        return copier

    def _mux_video(self, packets: list[av.Packet]) -> None:
        assert self._container is not None
        for packet in packets:
            if packet.pts is not None and packet.pts in self._durations:
                packet.duration = self._durations.pop(packet.pts)
            self._container.mux(packet)

    def _send(self, frame: av.VideoFrame | None) -> None:
        self._mux_video(self._stream.encode(frame))

    def encode(self, frame: Frame) -> None:
        if frame.pts is not None and frame.time_base is not None:
            seconds = frame.pts * Fraction(frame.time_base)
        else:  # image folders: frame i is shown at i / rate
            seconds = Fraction(frame.index) / self.rate
        if self._first_time is None:
            self._first_time = seconds
            if self._audio is not None:
                self._audio.t0 = seconds
        pts = round((seconds - self._first_time) / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            logger.warning(
                "frame %d: timestamp %d not after %d; shifted", frame.index, pts, self._last_pts
            )
            pts = self._last_pts + 1
        av_frame = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
        av_frame.pts = pts
        av_frame.time_base = self.time_base
        if self._pending is not None:
            self._flush_pending(pts - self._pending.pts)
        self._pending = av_frame
        self._last_pts = pts
        self._count += 1

    def _flush_pending(self, duration: int) -> None:
        assert self._pending is not None
        self._pending.duration = duration
        self._durations[self._pending.pts] = duration
        self._last_duration = duration
        self._send(self._pending)
        if self._audio is not None and self._first_time is not None:
            assert self._container is not None
            until = self._first_time + (self._pending.pts + duration) * self.time_base
            self._audio.pump(self._container, until)
        self._pending = None

    def finish(self) -> None:
        assert self._container is not None
        if self._pending is not None:
            last = self._last_duration or max(1, round(1 / self.rate / self.time_base))
            end_pts = self._pending.pts + last
            self._flush_pending(last)
            self._send(None)
            if self._audio is not None and self._first_time is not None:
                self._audio.finish(self._container, self._first_time + end_pts * self.time_base)
        elif self._audio is not None:
            self._audio.close()
        self._audio = None
        self._container.close()
        self._container = None

    def commit(self, target: Path, overwrite: bool) -> None:
        if target.exists() and not overwrite:
            raise OutputError(f"output {target} appeared while writing; not replaced")
        os.replace(self.temp_path, target)

    def discard(self) -> None:
        if self._audio is not None:
            try:
                self._audio.close()
            except Exception:  # cleanup must not raise
                logger.debug("closing audio input failed", exc_info=True)
            self._audio = None
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # cleanup must not raise
                logger.debug("closing %s failed", self.temp_path, exc_info=True)
            self._container = None
        try:
            self.temp_path.unlink(missing_ok=True)
        except OSError:
            logger.warning("could not delete the temporary file %s", self.temp_path)


# --------------------------------------------------------------------------------------
# The sink
# --------------------------------------------------------------------------------------

_END = object()


class _EncodeWorker:
    """Body of the encoding thread. It holds no reference to the :class:`FrameSink`, so an
    abandoned sink is garbage-collected, which aborts it."""

    def __init__(self, encoder: _Encoder, frames: queue.Queue[object]) -> None:
        self.encoder = encoder
        self.frames = frames
        self.abort = threading.Event()
        self.error: BaseException | None = None
        self.written = 0

    def run(self) -> None:
        try:
            while not self.abort.is_set():
                try:
                    item = self.frames.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if item is _END:
                    self.encoder.finish()
                    return
                assert isinstance(item, Frame)
                self.encoder.encode(item)
                self.written += 1
        except BaseException as error:  # re-raised in the caller
            self.error = error


class FrameSink:
    """Destination of processed frames; encoding runs in a background thread.

    Use it as a context manager: leaving the block normally calls :meth:`close` (the output
    appears at :attr:`path`), leaving it by an exception (``KeyboardInterrupt`` included)
    calls :meth:`abort` (nothing appears, the temporary output is deleted).

    Attributes:
        path: The final output path.
        width: Width every written frame must have.
        height: Height every written frame must have.
    """

    def __init__(
        self, path: Path, encoder: _Encoder, *, overwrite: bool, queue_size: int = 8
    ) -> None:
        """Start the encoding thread.

        Args:
            path: Final output path.
            encoder: Back end (owns the temporary output).
            overwrite: Whether an existing output may be replaced at commit.
            queue_size: Frames buffered between the caller and the encoder (>= 1).
        """
        self.path = path
        self.width = encoder.width
        self.height = encoder.height
        self._encoder = encoder
        self._overwrite = overwrite
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, queue_size))
        self._worker = _EncodeWorker(encoder, self._queue)
        self._state = "open"  # open -> closed | aborted
        self._thread = threading.Thread(
            target=self._worker.run, name=f"encode:{path.name}", daemon=True
        )
        self._thread.start()

    @property
    def frames_written(self) -> int:
        """Frames encoded so far (all accepted frames once :meth:`close` returned)."""
        return self._worker.written

    @property
    def _error(self) -> BaseException | None:
        return self._worker.error

    @property
    def _written(self) -> int:
        return self._worker.written

    def _raise_error(self) -> None:
        error = self._error
        if error is None:
            return
        self.abort()
        if isinstance(error, MoebiusError):
            raise error
        if isinstance(error, (av.error.FFmpegError, OSError)):
            raise OutputError(f"writing {self.path} failed: {describe_os_error(error)}") from error
        raise error

    def write(self, frame: Frame) -> None:
        """Queue one frame for encoding (blocks while the queue is full).

        Args:
            frame: Frame whose ``image`` is ``height, width, 3`` uint8 RGB. Its ``pts`` and
                ``time_base`` (or, for folder sources, its position) give its time.

        Raises:
            InvalidArgumentError: Wrong image shape or dtype.
            OutputError: The sink is closed, or encoding failed (the error of the
                encoding thread, re-raised here; the output is then aborted).
        """
        if self._state != "open":
            raise OutputError(f"cannot write to {self.path}: the sink is {self._state}")
        self._raise_error()
        image = frame.image
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise InvalidArgumentError(
                f"frame {frame.index}: image must be a uint8 numpy array, got "
                f"{getattr(image, 'dtype', type(image).__name__)}"
            )
        if image.shape != (self.height, self.width, 3):
            raise InvalidArgumentError(
                f"frame {frame.index}: image shape {image.shape} does not match the output "
                f"size ({self.height}, {self.width}, 3) of {self.path}"
            )
        if not image.flags.c_contiguous:
            frame = Frame(
                frame.index, np.ascontiguousarray(image), frame.pts, frame.time_base, frame.name
            )
        while True:
            try:
                self._queue.put(frame, timeout=_POLL_S)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise_error()
                    raise OutputError(f"encoder of {self.path} stopped unexpectedly") from None

    def close(self) -> None:
        """Finish encoding and move the output into place. Idempotent.

        Raises:
            OutputError: Encoding or the final rename failed, or no frame was written (the
                output is then aborted: nothing appears at :attr:`path`).
        """
        if self._state != "open":
            return
        try:
            self._raise_error()
            while self._thread.is_alive():
                try:
                    self._queue.put(_END, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            self._thread.join()
            self._raise_error()
            if self._written == 0:
                raise OutputError(f"no frame was written to {self.path}; nothing was created")
            try:
                self._encoder.commit(self.path, self._overwrite)
            except OSError as error:
                raise OutputError(
                    f"cannot move the output into place at {self.path}: {error}"
                ) from error
            self._state = "closed"
            logger.info("wrote %d frames to %s", self._written, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop encoding and delete the temporary output; nothing appears at :attr:`path`."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._worker.abort.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30.0)
        self._encoder.discard()

    def __enter__(self) -> FrameSink:
        return self

    def __del__(self) -> None:  # pragma: no cover - an abandoned sink leaves nothing
        if getattr(self, "_state", None) == "open":
            try:
                self.abort()
            except Exception:  # interpreter shutdown...
                pass

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------------------
# open_sink
# --------------------------------------------------------------------------------------


def partial_outputs(target: str | os.PathLike[str]) -> list[Path]:
    """The temporary outputs that writing ``target`` leaves behind when its process is
    killed (SIGKILL, a crashed machine): ``.<stem>.partial-*<suffix>`` files and
    ``.<name>.partial-*`` folders beside it. Whoever knows that no writer of ``target``
    is running (``batch``, which locks its output folder) may delete them.
    """
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return []
    stem, suffix, name = target.stem, target.suffix, target.name
    found = []
    for entry in parent.iterdir():
        n = entry.name
        if entry.is_dir() and n.startswith(f".{name}.partial-"):
            found.append(entry)
        elif (entry.is_file() and n.startswith(f".{stem}.partial-") and n.endswith(suffix)
              and len(n) == len(f".{stem}.partial-") + 8 + len(suffix)):
            found.append(entry)
    return sorted(found)


def _is_folder_target(raw: str, path: Path) -> bool:
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return raw[-1:] in seps or path.is_dir() or path.suffix == ""


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_target(path: Path, *, folder: bool, overwrite: bool, inputs: list[Path]) -> None:
    for source in inputs:
        if _same_file(path, source):
            raise OutputError(f"output {path} is the input; refusing to overwrite it")
    if path.exists() and not path.is_file() and not path.is_dir():
        raise OutputError(
            f"output {path} exists and is not a regular file or folder (a device or pipe); "
            "refusing to replace it"
        )
    parent = path.resolve().parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: the directory {parent} is not writable")
    if folder:
        if path.exists() and not path.is_dir():
            raise OutputError(f"output folder {path} exists and is not a folder")
        if path.is_dir() and any(path.iterdir()) and not overwrite:
            raise OutputError(
                f"output folder {path} exists and is not empty; use --overwrite to replace it"
            )
    else:
        if path.exists() and not overwrite:
            raise OutputError(f"output {path} exists; use --overwrite to replace it")


def open_sink(
    path: str | os.PathLike[str],
    *,
    like: VideoInfo,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
    audio_from: str | os.PathLike[str] | None = None,
    audio: bool = True,
    overwrite: bool = False,
    frame_rate: Fraction | None = None,
    queue_size: int = 8,
    input_path: str | os.PathLike[str] | None = None,
) -> FrameSink:
    """Open an output for frames: a video file, or a folder of PNG files.

    ``path`` is a folder (lossless ``<frame.name>.png`` files) when it ends with a path
    separator, is an existing directory, or has no suffix; ``/dev/null`` discards the
    frames (to process and measure only); otherwise a video file whose
    container follows the suffix. The output has ``like``'s width and height (odd sizes
    included: x264 then uses yuv444p), the frames' timestamps relative to the first frame
    (variable rates preserved) and the audio of ``audio_from``.

    Args:
        path: Output file or folder.
        like: Description of the source (size, frame rate, time base).
        codec: FFmpeg encoder; default libx264 (libvpx-vp9 for .webm, mpeg4 without
            B-frames for .avi, which stores no presentation timestamps).
        crf: Constant-quality level; default 18 for x264/x265 (visually lossless).
        preset: Encoder speed preset; default ``"medium"`` for x264/x265.
        pix_fmt: Pixel format; default yuv420p, yuv444p for odd sizes.
        audio_from: File whose audio and subtitle streams are copied into the output
            (usually the input).
        audio: Set to False to leave the audio out (subtitles are still kept).
        overwrite: Replace an existing output.
        frame_rate: Output frame rate for frames without timestamps (folder sources);
            default ``like.frame_rate`` or 25.
        queue_size: Frames buffered between the caller and the encoding thread.
        input_path: The source, to refuse writing over it.

    Returns:
        A :class:`FrameSink` (use it as a context manager).

    Raises:
        OutputError: Output is the input, exists without ``overwrite``, its directory is
            missing or not writable, or the output cannot be created.
        InvalidArgumentError: Bad size, codec, pixel format, frame rate or queue size.
    """
    raw = os.fspath(path)
    if not raw:
        raise InvalidArgumentError("output path is empty")
    if raw == "-":
        raise InvalidArgumentError(
            "writing to standard output (-) is not supported; give a file or a folder"
        )
    target = Path(raw)
    if like.width <= 0 or like.height <= 0:
        raise InvalidArgumentError(f"like has an invalid size {like.width}x{like.height}")
    if queue_size < 1:
        raise InvalidArgumentError(f"queue_size must be >= 1, got {queue_size}")
    if frame_rate is not None and Fraction(frame_rate) <= 0:
        raise InvalidArgumentError(f"frame_rate must be positive, got {frame_rate!r}")
    if os.path.realpath(raw) == os.devnull:
        return FrameSink(target, _NullEncoder(target, like.width, like.height), overwrite=True,
                         queue_size=queue_size)
    folder = _is_folder_target(raw, target)
    inputs = [Path(p) for p in (input_path, audio_from) if p is not None]
    _check_target(target, folder=folder, overwrite=overwrite, inputs=inputs)
    encoder: _Encoder
    if folder:
        try:
            encoder = _PngFolderEncoder(target, like.width, like.height)
        except OSError as error:
            raise OutputError(f"cannot write the folder {target}: {error}") from error
    else:
        audio_path = Path(audio_from) if audio_from is not None else None
        encoder = _VideoFileEncoder(
            target,
            like,
            codec=codec,
            crf=crf,
            preset=preset,
            pix_fmt=pix_fmt,
            frame_rate=Fraction(frame_rate) if frame_rate is not None else None,
            audio_from=audio_path,
            audio=audio,
        )
    try:
        return FrameSink(target, encoder, overwrite=overwrite, queue_size=queue_size)
    except BaseException:  # Ctrl-C or SIGTERM between the first bytes and a sink to abort
        encoder.discard()
        raise


__all__ = ["DEFAULT_FRAME_RATE", "FrameSink", "open_sink", "publish_folder"]
