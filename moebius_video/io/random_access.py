"""Random access to frames, for stages that must look ahead or back (offline mode).

Frame ``i`` here is frame ``i`` of :func:`moebius_video.io.open_source` (upright,
``H, W, 3`` uint8 RGB). Three back ends keep that promise:

- decord for ordinary files (it indexes key frames and seeks);
- PyAV seeking for rotated files, which decord mis-decodes (wrong buffer sizes);
- for files whose timestamps are out of display order (old AVIs with packed B-frames,
  some MP4s), seeking by timestamp lands on the wrong frames with any library: those are
  decoded sequentially with :func:`open_source` and a small cache (exact, slower when
  going backwards);
- folders: the sorted list of image files.
"""

from __future__ import annotations

import bisect
import collections
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import av.error
import numpy as np

from moebius_video.errors import InvalidArgumentError, VideoDecodeError, VideoOpenError
from moebius_video.io.frames import Frame, VideoInfo
from moebius_video.io.reader import (
    FrameSource,
    list_image_files,
    open_source,
    probe,
    read_image,
    upright,
)

logger = logging.getLogger(__name__)

_CHECKED_FRAMES = 48  # frames decoded at open to see whether timestamps can be trusted


class _Backend(ABC):
    """Interface of the back ends: a length and upright frames by index."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of frames."""

    @abstractmethod
    def get_many(self, indices: list[int]) -> list[np.ndarray]:
        """Upright RGB frames for valid ``indices`` (any order)."""

    def close(self) -> None:  # noqa: B027 - most back ends have nothing to release
        """Release files and decoders."""


class _DecordFrames(_Backend):
    def __init__(self, path: Path, threads: int) -> None:
        import cv2  # noqa: F401  - OpenCV must be loaded before decord (zlib clash)
        import decord

        self._path = path
        try:
            self._reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=threads)
        except Exception as error:  # decord raises its own DECORDError
            raise VideoOpenError(f"cannot open {path} for random access: {error}") from error

    def __len__(self) -> int:
        return len(self._reader)

    def get_many(self, indices: list[int]) -> list[np.ndarray]:
        try:
            batch = self._reader.get_batch(indices).asnumpy()
        except Exception as error:  # decord raises its own DECORDError
            raise VideoDecodeError(
                f"cannot decode frames {indices[:5]} of {self._path}: {error}"
            ) from error
        return list(batch)

    def close(self) -> None:
        self._reader = None


class _SeekingFrames(_Backend):
    """PyAV: one demux pass lists the timestamps and key frames, then each access seeks."""

    def __init__(self, path: Path, rotation: int, threads: int) -> None:
        self._path = path
        self._rotation = rotation
        self._container = av.open(str(path), mode="r")
        try:
            self._stream = self._container.streams.video[0]
            stamps: list[int] = []
            keys: list[int] = []
            for packet in self._container.demux(self._stream):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None or packet.size == 0:
                    continue
                stamps.append(stamp)
                if packet.is_keyframe:
                    keys.append(stamp)
            self._stamps = sorted(stamps)
            self._keys = sorted(keys) or self._stamps[:1]
            self._stream.codec_context.thread_type = "AUTO"
            self._stream.codec_context.thread_count = threads
        except BaseException:
            self._container.close()
            raise
        self._decoder: Iterator[av.VideoFrame] | None = None
        self._last: int | None = None

    def __len__(self) -> int:
        return len(self._stamps)

    def _get(self, index: int) -> np.ndarray:
        target = self._stamps[index]
        key = self._keys[max(0, bisect.bisect_right(self._keys, target) - 1)]
        if self._decoder is None or self._last is None or target <= self._last or key > self._last:
            self._container.seek(key, stream=self._stream, backward=True)
            self._decoder = self._container.decode(self._stream)
            self._last = None
        try:
            for frame in self._decoder:
                if frame.pts is None:
                    continue
                self._last = frame.pts
                if frame.pts == target:
                    return upright(frame.to_ndarray(format="rgb24"), self._rotation)
                if frame.pts > target:
                    break
        except av.error.FFmpegError as error:
            self._decoder = None
            raise VideoDecodeError(
                f"cannot decode frame {index} of {self._path}: {error}"
            ) from error
        self._decoder = None
        raise VideoDecodeError(f"cannot decode frame {index} of {self._path}")

    def get_many(self, indices: list[int]) -> list[np.ndarray]:
        return [self._get(i) for i in indices]

    def close(self) -> None:
        self._decoder = None
        self._container.close()


class _SequentialFrames(_Backend):
    """Exact access through :func:`open_source`: forward from where it is, or from the start.

    The last ``cache_size`` frames are kept, so that a window moving forward with a short
    look-back never restarts the decoder.
    """

    def __init__(self, path: Path, threads: int, cache_size: int = 32) -> None:
        self._path = path
        self._threads = threads
        self._cache: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._cache_size = cache_size
        self._source: FrameSource | None = None
        self._frames: Iterator[Frame] | None = None
        self._next = 0  # index the running source yields next
        with open_source(path, threads=threads) as source:
            self._length = sum(1 for _ in source)

    def __len__(self) -> int:
        return self._length

    def _restart(self, start: int) -> None:
        self._stop()
        self._source = open_source(self._path, threads=self._threads, start=start, prefetch=2)
        self._frames = iter(self._source)
        self._next = start

    def _stop(self) -> None:
        if self._source is not None:
            self._source.close()
        self._source = None
        self._frames = None

    def _get(self, index: int) -> np.ndarray:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if self._frames is None or index < self._next:
            self._restart(index)
        assert self._frames is not None
        for frame in self._frames:
            self._next = frame.index + 1
            self._cache[frame.index] = frame.image
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            if frame.index == index:
                return frame.image
        self._stop()
        raise VideoDecodeError(f"cannot decode frame {index} of {self._path}")

    def get_many(self, indices: list[int]) -> list[np.ndarray]:
        images: dict[int, np.ndarray] = {}
        for i in sorted(set(indices)):
            images[i] = self._get(i)
        return [images[i] for i in indices]

    def close(self) -> None:
        self._stop()
        self._cache.clear()


class _FolderFrames(_Backend):
    def __init__(self, files: Sequence[Path]) -> None:
        self._files = list(files)

    def __len__(self) -> int:
        return len(self._files)

    def get_many(self, indices: list[int]) -> list[np.ndarray]:
        images = []
        for i in indices:
            image = read_image(self._files[i])
            if image is None:
                raise VideoDecodeError(f"cannot read frame {i} ({self._files[i]})")
            images.append(image)
        return images

    def close(self) -> None:
        self._files = []


class RandomAccessVideo:
    """Indexable frames of a video file or folder.

    Attributes:
        info: The source's :class:`VideoInfo` (upright size, rotation...).
    """

    def __init__(self, info: VideoInfo, backend: _Backend) -> None:
        """Wrap an opened back end; use :func:`open_random_access` instead.

        Args:
            info: The source's description.
            backend: What decodes the frames.
        """
        self.info = info
        self._backend: _Backend | None = backend

    def __len__(self) -> int:
        return 0 if self._backend is None else len(self._backend)

    def _index(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"frame index {index} out of range for {n} frames of {self.info.path}")
        return index % n

    def __getitem__(self, index: int) -> np.ndarray:
        """One frame.

        Args:
            index: Frame index (negative counts from the end).

        Returns:
            ``H, W, 3`` uint8 RGB, upright.

        Raises:
            IndexError: Index out of range (or the object is closed).
            VideoDecodeError: The frame cannot be decoded.
        """
        return self.get_batch([index])[0]

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """Several frames at once.

        Args:
            indices: Frame indices (any order, repeats allowed, negative from the end).

        Returns:
            ``N, H, W, 3`` uint8 RGB, upright.

        Raises:
            IndexError: An index is out of range (or the object is closed).
            VideoDecodeError: A frame cannot be decoded or has another size.
        """
        wanted = [self._index(int(i)) for i in indices]
        out = np.empty((len(wanted), self.info.height, self.info.width, 3), dtype=np.uint8)
        if not wanted:
            return out
        assert self._backend is not None
        for k, image in enumerate(self._backend.get_many(wanted)):
            if image.shape != out.shape[1:]:
                raise VideoDecodeError(
                    f"frame {wanted[k]} of {self.info.path} is {image.shape}, "
                    f"expected {out.shape[1:]}"
                )
            out[k] = image
        return out

    def close(self) -> None:
        """Release the decoder; the object is empty afterwards."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> RandomAccessVideo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _timestamps_in_order(path: Path) -> bool:
    """Whether the first frames come out of the decoder with increasing timestamps."""
    try:
        with av.open(str(path), mode="r") as container:
            stream = container.streams.video[0]
            last: int | None = None
            for count, frame in enumerate(container.decode(stream)):
                if frame.pts is None or (last is not None and frame.pts <= last):
                    return False
                last = frame.pts
                if count >= _CHECKED_FRAMES:
                    break
    except av.error.FFmpegError:
        return False
    return True


def open_random_access(path: str | os.PathLike[str], *, threads: int = 0) -> RandomAccessVideo:
    """Open a video file or folder for random access by frame index.

    Args:
        path: Video file or folder of images.
        threads: Decoder threads for files (0 = automatic).

    Returns:
        A :class:`RandomAccessVideo` (a context manager).

    Raises:
        VideoOpenError: The path cannot be opened (see :func:`moebius_video.io.probe`).
        VideoDecodeError: No frame can be decoded.
        InvalidArgumentError: ``threads`` is negative.
    """
    if threads < 0:
        raise InvalidArgumentError(f"threads must be >= 0, got {threads}")
    path = Path(path)
    info = probe(path)
    backend: _Backend
    if info.is_folder:
        backend = _FolderFrames(list_image_files(path))
    elif not _timestamps_in_order(path):
        logger.warning(
            "%s: timestamps out of display order; random access decodes sequentially "
            "(exact, slow when going backwards)",
            path,
        )
        backend = _SequentialFrames(path, threads)
    elif info.rotation:
        try:
            backend = _SeekingFrames(path, info.rotation, threads)
        except av.error.FFmpegError as error:
            raise VideoOpenError(f"cannot open {path} for random access: {error}") from error
    else:
        backend = _decord_or_seeking(path, info.width, info.height, threads)
    return RandomAccessVideo(info, backend)


def _decord_or_seeking(path: Path, width: int, height: int, threads: int) -> _Backend:
    """decord when it decodes this file correctly, else PyAV seeking.

    decord mis-sizes some streams (e.g. x264 lossless, some 4:4:4 files: "The size must
    exactly match"); one trial read of the first frame tells, and the exact PyAV path takes
    over.
    """
    try:
        backend: _Backend = _DecordFrames(path, threads)
        first = backend.get_many([0])[0]
        if first.shape == (height, width, 3):
            return backend
        reason = f"frame shape {first.shape}"
    except (VideoOpenError, VideoDecodeError) as error:
        reason = str(error)
    logger.info("%s: decord cannot read it (%s); random access through PyAV seeking", path, reason)
    try:
        return _SeekingFrames(path, 0, threads)
    except av.error.FFmpegError as error:
        raise VideoOpenError(f"cannot open {path} for random access: {error}") from error


__all__ = ["RandomAccessVideo", "open_random_access"]
