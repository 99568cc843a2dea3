"""Reading videos and frame folders: :func:`probe` and :func:`open_source`.

A file is demuxed and decoded by PyAV (FFmpeg) in a background thread that feeds a bounded
queue, so decoding overlaps whatever the caller does with the frames; memory is bounded by
``prefetch`` frames, never by the length of the video. A folder of images is read the same
way with OpenCV. Frames come out as upright ``H, W, 3`` uint8 RGB (:class:`Frame`).
"""

from __future__ import annotations

import collections
import heapq
import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.error
import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError, VideoDecodeError, VideoOpenError
from moebius_video.io.frames import Frame, VideoInfo

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
)
"""File suffixes (lower case) that a frame folder is made of."""
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm"})
"""File suffixes (lower case) of the video files that folder scans pick up (training data)."""

_MAX_WARNINGS = 20
_SUPPRESSED = "further decoding warnings suppressed"
_REORDER_WINDOW = 8  # frames held back to repair shuffled timestamps
_NOT_VIDEO_FORMATS = frozenset({"tty"})  # FFmpeg renders any text file as "ANSI art" video
_POLL_S = 0.05


@dataclass
class DecodeStats:
    """What happened while decoding; filled in as frames are read.

    Attributes:
        frames_decoded: Frames handed to the caller so far.
        corrupt_packets: Packets (or image files) that could not be decoded at all.
        corrupt_frames: Frames that FFmpeg decoded but flagged as corrupt (still returned).
        lost_frames: Frames the container announced but that could not be decoded (known
            only at the end, and only when the container states a frame count/duration).
        warnings: Human-readable one-line messages about anything lost or repaired.
    """

    frames_decoded: int = 0
    corrupt_packets: int = 0
    corrupt_frames: int = 0
    lost_frames: int = 0
    warnings: list[str] = field(default_factory=list)

    _suppressed: int = field(default=0, repr=False)

    def warn(self, message: str, *, summary: bool = False) -> None:
        """Record (and log) a warning; only the first few are kept verbatim.

        After ``_MAX_WARNINGS`` per-packet warnings, one "further warnings suppressed" line
        is logged and recorded, and the rest are counted. A ``summary`` (the loss report at
        the end of decoding) is always logged and recorded, with the count of suppressed ones.

        Args:
            message: One-line description of the problem.
            summary: The end-of-decoding summary: never suppressed.
        """
        if summary:
            if self._suppressed:
                message += f" ({self._suppressed} further warnings were suppressed)"
            self.warnings.append(message)
            logger.warning(message)
            return
        kept = sum(1 for w in self.warnings if w != _SUPPRESSED)
        if kept < _MAX_WARNINGS:
            self.warnings.append(message)
            logger.warning(message)
            return
        if self._suppressed == 0:
            self.warnings.append(_SUPPRESSED)
            logger.warning("%s (%d shown)", _SUPPRESSED, _MAX_WARNINGS)
        self._suppressed += 1


def natural_key(text: str) -> list[int | str]:
    """Sort key that orders embedded numbers by value (``frame2`` < ``frame10``).

    Args:
        text: A file name.

    Returns:
        A list alternating text chunks (case-folded) and integers.
    """
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", text)]


def list_image_files(folder: Path) -> list[Path]:
    """The image files of a folder in natural order (hidden files skipped).

    Args:
        folder: A directory.

    Returns:
        Paths whose suffix is in :data:`IMAGE_EXTENSIONS`, naturally sorted by name.
    """
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    files.sort(key=lambda p: natural_key(p.name))
    return files


def read_image(path: Path) -> np.ndarray | None:
    """Read one image file as ``H, W, 3`` uint8 RGB.

    Grey images are expanded to three channels, alpha is dropped, 16-bit and float images
    are scaled to 8 bits. EXIF orientation is applied (OpenCV's default).

    Args:
        path: An image file.

    Returns:
        The image, or ``None`` when OpenCV cannot decode it.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)  # also works for non-ASCII paths
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        return None
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate a decoded picture so that it is upright.

    Args:
        image: ``H, W, C`` array as stored in the stream.
        rotation: Clockwise rotation in degrees (0, 90, 180 or 270), as in
            :attr:`VideoInfo.rotation`.

    Returns:
        A C-contiguous array (``W, H, C`` for 90/270).
    """
    if rotation % 360 == 0:
        return image
    # np.rot90 turns counter-clockwise for positive k.
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90) % 4))


def _clockwise_from_display(ccw_degrees: float) -> int:
    """Clockwise rotation (multiple of 90) that makes a frame upright from FFmpeg's angle."""
    return int(round(-ccw_degrees / 90.0)) * 90 % 360


# --------------------------------------------------------------------------------------
# Probing
# --------------------------------------------------------------------------------------


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise VideoOpenError(f"cannot open video: no such file: {path}")


def _open_container(path: Path) -> av.container.InputContainer:
    """Open ``path`` for demuxing, mapping FFmpeg's errors to :class:`VideoOpenError`."""
    _check_exists(path)
    if path.is_dir():
        raise VideoOpenError(f"cannot open video: {path} is a directory without image files")
    try:
        container = av.open(str(path), mode="r")
    except av.error.InvalidDataError as error:
        raise VideoOpenError(f"cannot open {path}: not a video ({error.strerror})") from error
    except av.error.PermissionError as error:
        raise VideoOpenError(f"cannot open {path}: permission denied") from error
    except (av.error.FFmpegError, OSError) as error:
        raise VideoOpenError(f"cannot open {path}: not a video ({error})") from error
    if container.format.name in _NOT_VIDEO_FORMATS:
        container.close()
        raise VideoOpenError(f"cannot open {path}: not a video (looks like text)")
    return container


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoOpenError(f"cannot open {path}: no video stream (streams: {', '.join(kinds)})")
    return container.streams.video[0]


def _stream_frame_rate(stream: av.VideoStream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def _stream_duration(
    container: av.container.InputContainer, stream: av.VideoStream
) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _first_frame_rotation(
    container: av.container.InputContainer, stream: av.VideoStream, max_packets: int = 2000
) -> int | None:
    """Decode until the first frame and return its display rotation (FFmpeg, ccw degrees).

    Returns ``None`` when no frame could be decoded from the first ``max_packets`` packets.
    """
    packets = 0
    try:
        for packet in container.demux(stream):
            packets += 1
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError:
                frames = []
            if frames:
                return frames[0].rotation
            if packets >= max_packets:
                return None
    except av.error.FFmpegError:
        return None
    return None


def _probe_file(path: Path) -> VideoInfo:
    container = _open_container(path)
    try:
        stream = _video_stream(container, path)
        rate = _stream_frame_rate(stream)
        duration = _stream_duration(container, stream)
        num_frames: int | None = stream.frames or None
        if num_frames is None and duration is not None and rate is not None:
            num_frames = max(1, round(duration * rate))
        tag = stream.metadata.get("rotate")
        ccw = _first_frame_rotation(container, stream)
        if ccw is None:
            raise VideoDecodeError(f"no decodable video frame in {path}")
        rotation = _clockwise_from_display(ccw)
        if rotation == 0 and tag is not None:
            try:
                rotation = int(round(float(tag))) % 360 // 90 * 90
            except ValueError:
                rotation = 0
        width = stream.codec_context.width
        height = stream.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        pix_fmt = stream.codec_context.pix_fmt or ""
        try:
            bit_depth = max(c.bits for c in av.VideoFormat(pix_fmt).components) if pix_fmt else 8
        except (ValueError, av.error.FFmpegError):
            bit_depth = 8
        return VideoInfo(
            path=path,
            width=width,
            height=height,
            num_frames=num_frames,
            frame_rate=rate,
            time_base=Fraction(stream.time_base) if stream.time_base else None,
            rotation=rotation,
            codec=stream.codec_context.codec.canonical_name,
            duration=duration,
            has_audio=bool(container.streams.audio),
            is_folder=False,
            pix_fmt=pix_fmt,
            bit_depth=bit_depth,
        )
    finally:
        container.close()


def _probe_folder(path: Path, frame_rate: Fraction | None) -> VideoInfo:
    files = list_image_files(path)
    if not files:
        exts = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise VideoOpenError(f"cannot open {path}: folder has no image files ({exts})")
    first = None
    for file in files:
        first = read_image(file)
        if first is not None:
            break
    if first is None:
        raise VideoDecodeError(f"no readable image in {path}")
    height, width = first.shape[:2]
    duration = len(files) / frame_rate if frame_rate else None
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        num_frames=len(files),
        frame_rate=frame_rate,
        time_base=None,
        rotation=0,
        codec=files[0].suffix.lower().lstrip("."),
        duration=float(duration) if duration is not None else None,
        has_audio=False,
        is_folder=True,
        frame_names=tuple(f.stem for f in files),
    )


def _check_rate(frame_rate: Fraction | int | None) -> Fraction | None:
    if frame_rate is None:
        return None
    rate = Fraction(frame_rate)
    if rate <= 0:
        raise InvalidArgumentError(f"frame_rate must be positive, got {frame_rate!r}")
    return rate


def probe(path: str | os.PathLike[str], *, frame_rate: Fraction | None = None) -> VideoInfo:
    """Describe a video file or a folder of frames without decoding it all.

    For files, the first frame is decoded to read the rotation (display matrix side data,
    or the legacy ``rotate`` tag) and to make sure the file holds a decodable video.

    Args:
        path: A video file or a folder of images.
        frame_rate: Frame rate to assume for a folder (ignored for files).

    Returns:
        The source's :class:`VideoInfo`; width and height are the upright ones.

    Raises:
        VideoOpenError: Missing path, not a video, no video stream, empty folder.
        VideoDecodeError: No frame could be decoded.
        InvalidArgumentError: ``frame_rate`` is not positive.
    """
    path = Path(path)
    rate = _check_rate(frame_rate)
    _check_exists(path)
    if path.is_dir():
        return _probe_folder(path, rate)
    return _probe_file(path)


# --------------------------------------------------------------------------------------
# Frame sources
# --------------------------------------------------------------------------------------

_END = object()


class _Failure:
    """Wraps an exception raised in the decode thread, to be re-raised by the caller."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _put(out: queue.Queue[object], stop: threading.Event, item: object) -> bool:
    """Put ``item`` in the queue unless stopped first (then return False)."""
    while not stop.is_set():
        try:
            out.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _decode_worker(
    frames: Iterator[Frame], out: queue.Queue[object], stop: threading.Event
) -> None:
    """Body of the decode thread. It holds no reference to the :class:`FrameSource`, so an
    abandoned source is garbage-collected, which stops the thread."""
    try:
        for frame in frames:
            if not _put(out, stop, frame):
                return
        _put(out, stop, _END)
    except BaseException as error:  # re-raised in the caller
        _put(out, stop, _Failure(error))
    finally:
        frames.close()  # runs the generator's cleanup (closes the container)


class FrameSource:
    """Iterable of decoded :class:`Frame` objects, produced by a background thread.

    Use it as a context manager (or call :meth:`close`); iterate it once. Stopping early
    (``break``, an exception, :meth:`close`) stops the decode thread and closes the file.

    Attributes:
        info: What is known about the whole source (a range does not change it).
        stats: Decode statistics, updated while iterating; final once iteration ends.
    """

    def __init__(
        self,
        info: VideoInfo,
        produce: Callable[[DecodeStats, threading.Event], Iterator[Frame]],
        *,
        prefetch: int = 8,
    ) -> None:
        """Start the decode thread.

        Args:
            info: Description of the source.
            produce: Generator function run in the thread; it yields frames, updates the
                stats and should return soon after the event is set.
            prefetch: Size of the queue between the thread and the caller (>= 1).
        """
        self.info = info
        self.stats = DecodeStats()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._started_iterating = False
        self._done = False
        self._thread = threading.Thread(
            target=_decode_worker,
            args=(produce(self.stats, self._stop), self._queue, self._stop),
            name=f"decode:{info.path.name}",
            daemon=True,
        )
        self._thread.start()

    def __iter__(self) -> Iterator[Frame]:
        if self._started_iterating:
            raise RuntimeError(f"a FrameSource can be iterated only once ({self.info.path})")
        self._started_iterating = True
        try:
            while not self._stop.is_set():
                try:
                    item = self._queue.get(timeout=_POLL_S)
                except queue.Empty:
                    if not self._thread.is_alive() and self._queue.empty():
                        if self._stop.is_set() or self._done:
                            return
                        raise RuntimeError(f"decode thread for {self.info.path} died") from None
                    continue
                if item is _END:
                    self._done = True
                    return
                if isinstance(item, _Failure):
                    self._done = True
                    raise item.error
                assert isinstance(item, Frame)
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the decode thread and release the file. Safe to call more than once."""
        self._stop.set()
        self._drain()  # a thread blocked on a full queue then notices the stop quickly
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)
            if self._thread.is_alive():  # pragma: no cover - FFmpeg stuck in a read
                logger.warning("decode thread for %s did not stop in time", self.info.path)
        self._drain()  # release frames queued meanwhile

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()


def _file_frames(
    path: Path,
    info: VideoInfo,
    start: int,
    end: int | None,
    threads: int,
) -> Callable[[DecodeStats, threading.Event], Iterator[Frame]]:
    """Generator function that demuxes and decodes ``path`` (run in the decode thread)."""

    def produce(stats: DecodeStats, stop: threading.Event) -> Iterator[Frame]:
        container = _open_container(path)
        try:
            stream = _video_stream(container, path)
            stream.codec_context.thread_type = "AUTO"
            stream.codec_context.thread_count = max(0, threads)
            time_base = Fraction(stream.time_base)
            step = round(1 / info.frame_rate / time_base) if info.frame_rate else 1
            counts = {"packets": 0, "index": 0, "repaired": 0}
            span: list[int] = []  # first and last timestamp handed out
            demux_ok = True

            def packets() -> Iterator[av.Packet | None]:
                nonlocal demux_ok
                try:
                    for packet in container.demux(stream):
                        if stop.is_set():
                            return
                        if packet.size == 0:
                            continue  # end-of-stream marker, or an AVI "drop frame" chunk
                        counts["packets"] += 1
                        if packet.is_corrupt:
                            stats.corrupt_packets += 1
                            stats.warn(f"{path}: corrupt packet at pts {packet.pts}")
                        yield packet
                except av.error.FFmpegError as error:
                    demux_ok = False
                    stats.warn(f"{path}: stream ends early ({error.strerror}); file truncated?")
                yield None  # flush the decoder

            def decoded() -> Iterator[tuple[av.VideoFrame, int]]:
                """Decoder output with a timestamp each (pts, else dts, else extrapolated)."""
                last: int | None = None
                for packet in packets():
                    try:
                        frames = stream.decode(packet)
                    except av.error.FFmpegError as error:
                        stats.corrupt_packets += 1
                        where = f"at pts {packet.pts}" if packet is not None else "at the end"
                        stats.warn(f"{path}: undecodable packet {where}: {error.strerror}")
                        continue
                    for av_frame in frames:
                        stamp = av_frame.pts if av_frame.pts is not None else av_frame.dts
                        if stamp is None:
                            stamp = 0 if last is None else last + step
                        last = stamp
                        yield av_frame, stamp

            def in_order() -> Iterator[tuple[av.VideoFrame, int]]:
                """Decoder output (always presentation order) with monotonic timestamps.

                Some files store decode-order timestamps (pts == dts with B-frames): their
                frames come out with shuffled pts. The k-th frame out gets the smallest
                pending timestamp, which changes nothing for sane files.
                """
                window: collections.deque[av.VideoFrame] = collections.deque()
                stamps: list[int] = []
                for av_frame, stamp in decoded():
                    window.append(av_frame)
                    heapq.heappush(stamps, stamp)
                    if len(window) > _REORDER_WINDOW:
                        yield window.popleft(), heapq.heappop(stamps)
                while window:
                    yield window.popleft(), heapq.heappop(stamps)

            for av_frame, pts in in_order():
                if stop.is_set():
                    return
                index = counts["index"]
                if end is not None and index >= end:
                    return
                if span and pts <= span[-1]:
                    pts = span[-1] + 1  # duplicate timestamps: keep them increasing
                if pts != av_frame.pts:
                    counts["repaired"] += 1
                    if counts["repaired"] == 1:
                        stats.warn(f"{path}: timestamps out of order; reassigned in display order")
                span[1:] = [pts]
                if len(span) == 1:
                    span.insert(0, pts)
                if av_frame.is_corrupt:
                    stats.corrupt_frames += 1
                    stats.warn(f"{path}: frame {index} decoded with errors")
                counts["index"] += 1
                if index < start:
                    continue
                image = upright(av_frame.to_ndarray(format="rgb24"), info.rotation)
                stats.frames_decoded += 1
                yield Frame(
                    index=index,
                    image=np.ascontiguousarray(image),
                    pts=pts,
                    time_base=time_base,
                    name=f"{index:05d}",
                )
            if stop.is_set():
                return
            index = counts["index"]
            if end is None and span:
                _report_loss(
                    path, stats, stream, container, index, counts["packets"], span, demux_ok
                )
            if stats.frames_decoded == 0:
                if index == 0:
                    raise VideoDecodeError(f"no decodable video frame in {path}")
                raise VideoDecodeError(
                    f"no frame {_span_text(start, end)} in {path} (it has {index} frames)"
                )
        finally:
            container.close()

    return produce


def _span_text(start: int, end: int | None) -> str:
    """``from frame 200 on`` / ``between frames 10 and 19`` (no Python ``None`` in messages)."""
    if end is None:
        return f"from frame {start} on"
    return f"between frames {start} and {end - 1}"


def _report_loss(
    path: Path,
    stats: DecodeStats,
    stream: av.VideoStream,
    container: av.container.InputContainer,
    decoded: int,
    packets: int,
    span: list[int],
    demux_ok: bool,
) -> None:
    """After a full decode, record frames the file announced but that never came out.

    Two signs, the larger wins: packets that yielded no frame (only where the container
    states one packet per frame, as MP4 does), and a gap between the stated duration and
    the time span actually decoded (a truncated file; robust to variable frame rates).
    """
    lost = 0
    if stream.frames and stream.frames == packets and packets > decoded:
        lost = packets - decoded
    rate = _stream_frame_rate(stream)
    duration = _stream_duration(container, stream)
    if rate and duration:
        step = 1 / rate
        tb = Fraction(stream.time_base)
        begin = stream.start_time if stream.start_time is not None else span[0]
        covered = (span[-1] - min(begin, span[0])) * tb + step
        missing = Fraction(duration) - covered
        if missing > 2 * step:
            lost = max(lost, round(missing / step))
    if lost:
        stats.lost_frames = lost
        stats.warn(f"{path}: decoded {decoded} frames; about {lost} announced frames lost",
                   summary=True)
    elif not demux_ok and stats.frames_decoded:
        stats.warn(f"{path}: stream ended with an error after {decoded} frames", summary=True)
    elif stats.corrupt_packets or stats.corrupt_frames:
        stats.warn(f"{path}: decoded {decoded} frames; {stats.corrupt_packets} corrupt packets "
                   f"skipped, {stats.corrupt_frames} frames decoded with errors", summary=True)


def _folder_frames(
    info: VideoInfo, start: int, end: int | None
) -> Callable[[DecodeStats, threading.Event], Iterator[Frame]]:
    """Generator function that reads the images of a folder (run in the decode thread)."""

    def produce(stats: DecodeStats, stop: threading.Event) -> Iterator[Frame]:
        files = list_image_files(info.path)[start:end]
        for offset, file in enumerate(files):
            if stop.is_set():
                return
            image = read_image(file)
            if image is None:
                stats.corrupt_packets += 1
                stats.lost_frames += 1
                stats.warn(f"unreadable image skipped: {file}")
                continue
            if image.shape[:2] != (info.height, info.width):
                raise VideoOpenError(
                    f"image {file} is {image.shape[1]}x{image.shape[0]} but the folder's "
                    f"frames are {info.width}x{info.height}; all frames must have one size"
                )
            stats.frames_decoded += 1
            yield Frame(index=start + offset, image=image, name=file.stem)
        if stats.frames_decoded == 0:
            raise VideoDecodeError(f"no readable image in {info.path} ({_span_text(start, end)})")

    return produce


def open_source(
    path: str | os.PathLike[str],
    *,
    threads: int = 0,
    prefetch: int = 8,
    start: int = 0,
    end: int | None = None,
    frame_rate: Fraction | None = None,
) -> FrameSource:
    """Open a video file or a folder of frames for sequential decoding.

    Decoding runs in a background thread (FFmpeg's own threading on top) and fills a queue
    of ``prefetch`` frames. Frame indices count from the start of the source, so a range
    yields indices ``start .. end-1``; names are ``f"{index:05d}"`` for files and the file
    stems for folders. ``info`` describes the whole source, whatever the range.

    Args:
        path: Video file (anything FFmpeg reads) or folder of images.
        threads: FFmpeg decoder threads; 0 = automatic.
        prefetch: Frames decoded ahead of the caller (queue size, >= 1).
        start: First frame index to yield (earlier frames are decoded and skipped).
        end: Index to stop before; ``None`` = to the end.
        frame_rate: Frame rate of a folder's frames (ignored for files).

    Returns:
        A :class:`FrameSource`; iterate it once, close it (or use ``with``).

    Raises:
        VideoOpenError: Missing path, not a video, no video stream, empty folder.
        VideoDecodeError: No frame could be decoded (at open, or while iterating when the
            range is empty).
        InvalidArgumentError: Bad ``start``/``end``/``prefetch``/``threads``/``frame_rate``.
    """
    if start < 0:
        raise InvalidArgumentError(f"start must be >= 0, got {start}")
    if end is not None and end <= start:
        raise InvalidArgumentError(f"end must be > start ({start}), got {end}")
    if prefetch < 1:
        raise InvalidArgumentError(f"prefetch must be >= 1, got {prefetch}")
    if threads < 0:
        raise InvalidArgumentError(f"threads must be >= 0, got {threads}")
    path = Path(path)
    info = probe(path, frame_rate=frame_rate)
    if info.is_folder:
        if info.num_frames is not None and start >= info.num_frames:
            raise VideoDecodeError(
                f"no frame {_span_text(start, end)} in {path} (it has {info.num_frames} images)"
            )
        produce = _folder_frames(info, start, end)
    else:
        produce = _file_frames(path, info, start, end, threads)
    return FrameSource(info, produce, prefetch=prefetch)


__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "DecodeStats",
    "FrameSource",
    "list_image_files",
    "natural_key",
    "open_source",
    "probe",
    "read_image",
    "upright",
]
