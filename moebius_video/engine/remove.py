"""Object removal from a video file or a frame folder, frame by frame, in bounded memory.

The flow of one frame (see DESIGN.md): decode (reader thread) -> mask (given, or tracked
from the first frame; mask thread) -> dilate -> fill -> composite (pixels outside the
dilated mask are the decoded source, bit for bit; the caller's thread) -> encode (writer
thread). The stages run concurrently, joined by bounded queues; every frame is processed,
in order. Only a window of frames is ever held: the reader's, the mask stage's and the
writer's bounded queues, plus the filler's look-ahead and batch.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError, InvalidMaskError, MoebiusError, OutputError
from moebius_video.fill import DEFAULT_FILLER, Filler, FutureFrame, get_filler
from moebius_video.io.frames import Frame, VideoInfo
from moebius_video.io.masks import (
    DEFAULT_DILATE,
    LOSSY_THRESHOLD,
    MaskFolder,
    box_mask,
    check_fillable,
    dilate_mask,
    fit_mask,
    iter_mask_video,
    load_mask,
    save_mask,
)

logger = logging.getLogger(__name__)

#: Tracked frames waiting for the fill stage (file mode): enough to absorb the jitter
#: of either stage; each is one decoded frame and its mask.
_MASK_QUEUE = 4


@dataclass(frozen=True)
class MaskInput:
    """Where the masks come from. Give exactly one of ``mask``, ``box``, ``keyframes``,
    ``masks_dir`` and ``mask_video``.

    Attributes:
        mask: First-frame mask: an image file, or an ``H, W`` bool array. Tracked.
        box: First-frame box ``(x, y, w, h)`` in pixels. Tracked.
        keyframes: Folder of masks on a few frames, each named by its frame index
            (``00014.png``) or, for frame folders, like its frame. Tracked forward and
            backward from every keyframe and fused (needs random access to the input).
        masks_dir: Folder of per-frame masks (named like the frames, or in order). No tracking.
        mask_video: A video whose frames are the per-frame masks (lossy: thresholded).
        threshold: Binarisation threshold override (default: 0 for lossless images, 127 for
            JPEG files and mask videos).
        resize: Scale masks of another size to the frame size instead of refusing them.
    """

    mask: Path | np.ndarray | None = None
    box: tuple[int, int, int, int] | None = None
    keyframes: Path | None = None
    masks_dir: Path | None = None
    mask_video: Path | None = None
    threshold: int | None = None
    resize: bool = False

    def __post_init__(self) -> None:
        given = [
            name
            for name in ("mask", "box", "keyframes", "masks_dir", "mask_video")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise InvalidArgumentError(
                "give exactly one of mask, box, keyframes, masks_dir, mask_video; got "
                + (", ".join(given) if given else "none")
            )

    @property
    def tracked(self) -> bool:
        """Whether the mask is given on the first frame only and must be tracked."""
        return self.mask is not None or self.box is not None

    @property
    def needs_tracker(self) -> bool:
        """Whether a tracker carries the given mask(s) to the other frames."""
        return self.tracked or self.keyframes is not None


@dataclass(frozen=True)
class RemoveConfig:
    """How frames are processed.

    Attributes:
        dilate: Grow every mask by this many pixels before filling (coverage over tightness).
        fill: Name of the filler (``--fill``).
        tracker: Name of the mask tracker (``--tracker``), used when only a first-frame mask
            or box is given.
        start: First frame index to process (inclusive).
        end: Frame index to stop at (exclusive); ``None`` = to the end.
        concurrent: Track (or read) the masks in a thread of their own, overlapping the
            fill; ``False`` runs both in the caller's thread, one after the other (same
            output; for debugging and profiling).
    """

    dilate: int = DEFAULT_DILATE
    fill: str = DEFAULT_FILLER
    tracker: str | None = None
    start: int = 0
    end: int | None = None
    concurrent: bool = True

    def __post_init__(self) -> None:
        if self.dilate < 0:
            raise InvalidArgumentError(f"dilate must be >= 0, got {self.dilate}")
        if self.start < 0:
            raise InvalidArgumentError(f"start must be >= 0, got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise InvalidArgumentError(f"end ({self.end}) must be greater than start ({self.start})")


@dataclass(frozen=True)
class EncodeConfig:
    """How the output is written.

    Attributes:
        codec: Video encoder (``None`` = by extension: libx264, libvpx-vp9 for .webm).
        crf: Constant rate factor (``None`` = the encoder's default chosen by the writer).
        preset: Encoder speed preset (``None`` = the writer's default).
        pix_fmt: Pixel format (``None`` = yuv420p, or yuv444p for odd sizes).
        audio: Copy the input's audio (re-encoded only when the container needs it).
        overwrite: Replace an existing output.
        frame_rate: Frame rate for frame-folder inputs (they carry no timing).
    """

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    audio: bool = True
    overwrite: bool = False
    frame_rate: Fraction | None = None


@dataclass
class StageTimings:
    """Seconds spent in each stage, summed over frames (decode/encode: time waited).

    With concurrent stages the stage times overlap: ``decode`` and ``track`` are measured
    in the mask thread, ``fill`` and ``encode`` in the caller's, and ``mask_wait`` is the
    time the fill stage waited for tracked frames.
    """

    decode: float = 0.0
    track: float = 0.0
    fill: float = 0.0
    encode: float = 0.0
    mask_wait: float = 0.0
    total: float = 0.0

    def per_frame_ms(self, frames: int) -> dict[str, float]:
        """Milliseconds per frame of each stage."""
        n = max(frames, 1)
        return {k: 1000.0 * v / n for k, v in vars(self).items()}


@dataclass
class RemoveResult:
    """What a removal did.

    Attributes:
        output: The written file or folder (``None`` when nothing was encoded).
        frames: Frames processed and written.
        masks_dir: Where the per-frame masks were saved, if asked.
        empty_mask_frames: Frames whose mask was empty (copied through unchanged).
        hole_pixels: Masked (dilated) pixels over all frames.
        propagated_pixels: Hole pixels filled from other frames.
        spatial_pixels: Hole pixels filled by a spatial method.
        timings: Time per stage.
        warnings: Things the user should know (lost frames, empty masks...).
        confidence: The tracker's confidence in each frame's mask, in order (1 for given
            masks and keyframes; see :attr:`tracking.TrackState.confidence`).
        doubtful: The doubtful frame ranges (confidence below
            :data:`tracking.DOUBTFUL_BELOW`), each with the keyframes it suggests; frame
            indices count from the input's first frame.
    """

    output: Path | None
    frames: int = 0
    masks_dir: Path | None = None
    empty_mask_frames: int = 0
    hole_pixels: int = 0
    propagated_pixels: int = 0
    spatial_pixels: int = 0
    timings: StageTimings = field(default_factory=StageTimings)
    warnings: list[str] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    doubtful: list = field(default_factory=list)  # list[tracking.DoubtfulRange]

    @property
    def frames_per_second(self) -> float:
        """End-to-end throughput."""
        return self.frames / self.timings.total if self.timings.total > 0 else 0.0


class MaskFolderWriter:
    """Writes ``00000.png``-style masks into a temporary folder, renamed into place at the end."""

    def __init__(self, folder: Path, *, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir())):
            if not overwrite:
                raise OutputError(
                    f"mask folder {self.folder} exists and is not empty (use --overwrite)"
                )
        parent = self.folder.parent if str(self.folder.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"cannot write masks to {self.folder}: {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise OutputError(f"cannot write masks to {self.folder}: {parent} is not writable")
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.partial-", dir=parent))

    def write(self, name: str, mask: np.ndarray) -> None:
        """Save one mask as ``name.png`` (0 = kept, 255 = replaced)."""
        save_mask(self._tmp / f"{name}.png", mask)

    def close(self) -> None:
        """Move the finished folder into place (with the umask's permissions, not mkdtemp's)."""
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._tmp, 0o777 & ~umask)
        if self.folder.exists():
            shutil.rmtree(self.folder) if self.folder.is_dir() else self.folder.unlink()
        os.replace(self._tmp, self.folder)

    def abort(self) -> None:
        """Delete what was written."""
        shutil.rmtree(self._tmp, ignore_errors=True)


def _first_mask(spec: MaskInput, info: VideoInfo) -> np.ndarray:
    if spec.box is not None:
        return box_mask(spec.box, info.width, info.height)
    if isinstance(spec.mask, np.ndarray):
        mask = spec.mask
        if mask.ndim != 2:
            raise InvalidMaskError(f"mask must be a 2-D array, got shape {mask.shape}")
        mask = mask.astype(bool) if mask.dtype != np.bool_ else mask
    else:
        assert spec.mask is not None
        mask = load_mask(spec.mask, threshold=spec.threshold)
    return fit_mask(mask, info.width, info.height, resize=spec.resize, what="mask")


def check_first_mask(mask: np.ndarray, where: str) -> bool:
    """Refuse an all-white mask; return False (with a warning) for an empty one."""
    if mask.all():
        raise InvalidMaskError(
            f"{where} covers the whole frame: nothing would be left to fill it from"
        )
    if not mask.any():
        logger.warning("%s is empty: nothing to remove; the video is copied through", where)
        return False
    return True


def iter_masks(
    spec: MaskInput,
    frames: Iterable[Frame],
    info: VideoInfo,
    *,
    tracker_name: str | None = None,
    start: int = 0,
    confidence: list[float] | None = None,
) -> Iterator[tuple[Frame, np.ndarray, float]]:
    """Pair every frame with its raw (undilated) mask.

    Yields ``(frame, mask, seconds spent tracking)``. A first-frame mask or box is tracked
    through the video; per-frame masks are read as they are needed. When ``confidence`` is
    a list, each frame's confidence is appended to it before the frame is yielded.

    Raises:
        InvalidMaskError: Unreadable masks, wrong sizes, an all-white first mask, a mask
            video shorter than the input.
    """
    conf = confidence if confidence is not None else []
    if spec.tracked:
        import tracking

        try:
            tracker = tracking.get_tracker(tracker_name or tracking.DEFAULT_TRACKER)
        except tracking.TrackingError as error:
            raise InvalidArgumentError(str(error)) from None
        first = _first_mask(spec, info)
        has_object = check_first_mask(first, "the mask" if spec.box is None else "the box")
        state = None
        for frame in frames:
            t0 = time.perf_counter()
            if not has_object:
                mask = first
            elif state is None:
                try:
                    state = tracker.init(frame.image, first)
                except tracking.TrackingError as error:
                    raise InvalidMaskError(str(error)) from None
                mask = first
            else:
                mask, state = tracker.step(state, frame.image)
            conf.append(1.0 if state is None else float(state.confidence))
            yield frame, mask, time.perf_counter() - t0
        return

    if spec.keyframes is not None:
        yield from _iter_keyframe_masks(
            spec, frames, info, tracker_name=tracker_name, start=start, confidence=conf
        )
        return

    if spec.masks_dir is not None:
        folder = MaskFolder(spec.masks_dir, threshold=spec.threshold)
        checked = False
        for frame in frames:
            t0 = time.perf_counter()
            path = folder.path_for(frame.index, frame.name)
            mask = fit_mask(
                load_mask(path, threshold=spec.threshold),
                info.width, info.height, resize=spec.resize, what=f"mask {path.name}",
            )
            if not checked:
                check_first_mask(mask, f"mask {path.name}")
                checked = True
            conf.append(1.0)
            yield frame, mask, time.perf_counter() - t0
        return

    assert spec.mask_video is not None
    masks = iter_mask_video(
        spec.mask_video,
        threshold=LOSSY_THRESHOLD if spec.threshold is None else spec.threshold,
    )
    try:
        for _ in range(start):
            if next(masks, None) is None:
                break
        checked = False
        for frame in frames:
            t0 = time.perf_counter()
            mask = next(masks, None)
            if mask is None:
                raise InvalidMaskError(
                    f"mask video {spec.mask_video} ends before frame {frame.index} of the input"
                )
            mask = fit_mask(mask, info.width, info.height, resize=spec.resize, what="mask video")
            if not checked:
                check_first_mask(mask, "the mask video's first frame")
                checked = True
            conf.append(1.0)
            yield frame, mask, time.perf_counter() - t0
    finally:
        masks.close()  # stops the mask video's decoder thread now, not at garbage collection


class _Window:
    """Frames ``start .. stop - 1`` of a random-access video, re-indexed from 0."""

    def __init__(self, video, start: int, stop: int) -> None:  # type: ignore[no-untyped-def]
        self.video, self.start, self.stop = video, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> np.ndarray:
        return self.video[self.start + index]


def _keyframe_index(stem: str, info: VideoInfo) -> int | None:
    if info.is_folder and stem in info.frame_names:
        return info.frame_names.index(stem)
    return int(stem) if stem.isdigit() else None


def _iter_keyframe_masks(
    spec: MaskInput,
    frames: Iterable[Frame],
    info: VideoInfo,
    *,
    tracker_name: str | None,
    start: int,
    confidence: list[float],
) -> Iterator[tuple[Frame, np.ndarray, float]]:
    """Masks propagated from keyframes in both directions (``MaskInput.keyframes``)."""
    import tracking
    from moebius_video.io import open_random_access

    assert spec.keyframes is not None
    folder = MaskFolder(spec.keyframes, threshold=spec.threshold)
    with open_random_access(info.path) as video:
        stop = len(video)
        keys: dict[int, np.ndarray] = {}
        for path in folder.files:
            index = _keyframe_index(path.stem, info)
            if index is None:
                raise InvalidMaskError(
                    f"keyframe {path.name}: name it by its frame index (e.g. 00014.png)"
                    + (" or like its frame" if info.is_folder else "")
                )
            if not 0 <= index < stop:
                raise InvalidMaskError(
                    f"keyframe {path.name} is for frame {index}, but the video has {stop} frames"
                )
            if index >= start:
                mask = fit_mask(load_mask(path, threshold=spec.threshold), info.width,
                                info.height, resize=spec.resize, what=f"keyframe {path.name}")
                if mask.all():
                    check_first_mask(mask, f"keyframe {path.name}")  # raises: all white
                keys[index - start] = mask
        if not keys:
            raise InvalidMaskError(f"no keyframe in {spec.keyframes} at or after frame {start}")
        try:
            masks = tracking.iter_track_frames(
                _Window(video, start, stop), keys,
                tracker=tracker_name or tracking.DEFAULT_TRACKER,
            )
            for frame in frames:
                t0 = time.perf_counter()
                item = next(masks, None)
                if item is None:
                    raise InvalidMaskError(
                        f"random access to {info.path} found fewer frames than decoding "
                        f"(frame {frame.index})"
                    )
                confidence.append(item.confidence)
                yield frame, item.mask, time.perf_counter() - t0
        except tracking.TrackingError as error:
            raise InvalidMaskError(str(error)) from None


def _timed(iterable: Iterable[Frame], timings: StageTimings) -> Iterator[Frame]:
    """Yield from ``iterable``, adding the time spent waiting for each item to ``decode``."""
    iterator = iter(iterable)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            timings.decode += time.perf_counter() - t0
        yield item


def composite(source: np.ndarray, filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``filled`` inside ``mask``, ``source`` (bit for bit) everywhere else."""
    out = source.copy()
    if mask.dtype == np.bool_ and filled.shape == out.shape and filled.dtype == out.dtype:
        # Same result as ``out[mask] = filled[mask]``, some 30 times faster.
        return cv2.copyTo(filled, np.ascontiguousarray(mask).view(np.uint8), out)
    out[mask] = filled[mask]
    return out


def process_frames(
    pairs: Iterable[tuple[Frame, np.ndarray, float]],
    filler: Filler,
    *,
    dilate: int,
    result: RemoveResult,
) -> Iterator[tuple[Frame, np.ndarray]]:
    """Fill each frame inside its dilated mask; yields ``(output frame, dilated mask)``.

    A filler with ``lookahead > 0`` is handed that many following frames, so output lags
    input by that many frames. A filler with ``max_batch > 1`` gets up to that many
    consecutive frames per :meth:`~moebius_video.fill.Filler.fill_batch` call (frames are
    yielded in order once their batch is done). No more than ``max_batch + lookahead`` input
    frames are held.

    Raises:
        MoebiusError: ``fill_batch`` returned a different number of results than frames.
    """
    lookahead = max(int(getattr(filler, "lookahead", 0)), 0)
    batch = max(int(getattr(filler, "max_batch", 1)), 1)
    pending: deque[tuple[Frame, np.ndarray]] = deque()

    def emit(count: int) -> list[tuple[Frame, np.ndarray]]:
        """Fill the first ``count`` pending frames: one ``fill``, or one ``fill_batch`` call."""
        t0 = time.perf_counter()
        window = list(pending)
        items = [pending.popleft() for _ in range(count)]
        futures = [
            [FutureFrame(f.image, m) for f, m in window[k + 1 : k + 1 + lookahead]]
            for k in range(count)
        ]
        if batch == 1:
            frame, mask = items[0]
            filled = [filler.fill(frame.image, mask, future=futures[0])]
        else:
            filled = filler.fill_batch([f.image for f, _ in items], [m for _, m in items], futures)
            if len(filled) != count:
                raise MoebiusError(
                    f"filler {filler.name or type(filler).__name__!r} returned {len(filled)} "
                    f"results for {count} frames"
                )
        outs = []
        for (frame, mask), done in zip(items, filled, strict=True):
            hole = int(mask.sum())
            if hole == 0:
                result.empty_mask_frames += 1
            image = composite(frame.image, done.image, mask) if hole else frame.image
            result.hole_pixels += hole
            result.propagated_pixels += done.propagated_pixels
            result.spatial_pixels += done.spatial_pixels
            out = Frame(index=frame.index, image=image, pts=frame.pts, time_base=frame.time_base, name=frame.name)
            outs.append((out, mask))
        result.timings.fill += time.perf_counter() - t0
        return outs

    for frame, raw_mask, track_seconds in pairs:
        result.timings.track += track_seconds
        t0 = time.perf_counter()
        mask = dilate_mask(raw_mask, dilate)
        check_fillable(mask, dilate=dilate, where=f"frame {frame.index}")
        result.timings.track += time.perf_counter() - t0
        pending.append((frame, mask))
        if len(pending) >= lookahead + batch:
            yield from emit(batch)
    while pending:
        yield from emit(min(batch, len(pending)))


def _prepared(
    pairs: Iterable[tuple[Frame, np.ndarray, float]], filler: Filler, *, dilate: int
) -> Iterator[tuple[Frame, np.ndarray, float]]:
    """``pairs`` with dilated masks, each also handed to :meth:`Filler.prepare` (work the
    filler can do ahead of time, in the mask stage's thread). The seconds include the
    dilation and the preparation."""
    for frame, raw_mask, seconds in pairs:
        t0 = time.perf_counter()
        mask = dilate_mask(raw_mask, dilate)
        check_fillable(mask, dilate=dilate, where=f"frame {frame.index}")
        filler.prepare(frame.image, mask)
        yield frame, mask, seconds + time.perf_counter() - t0


def _progress(total: int | None, desc: str, enabled: bool | None):  # type: ignore[no-untyped-def]
    import sys

    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, dynamic_ncols=True)


def _expected_frames(info: VideoInfo, start: int, end: int | None) -> int | None:
    if info.num_frames is None:
        return None if end is None else end - start
    stop = info.num_frames if end is None else min(end, info.num_frames)
    return max(stop - start, 0)


def remove_object(
    input: str | Path,
    output: str | Path | None,
    masks: MaskInput,
    *,
    config: RemoveConfig | None = None,
    encode: EncodeConfig | None = None,
    save_masks: str | Path | None = None,
    filler: Filler | None = None,
    progress: bool | None = None,
    review: str | Path | None = None,
    callback: Callable[[int, int | None], None] | None = None,
) -> RemoveResult:
    """Remove the masked object from a video file or a folder of frames.

    Args:
        input: A video file (anything FFmpeg reads) or a folder of images.
        output: A video file (the container follows the extension), or a folder (a path
            ending in ``/``, an existing folder, or a name without extension) for lossless
            PNG frames. ``None`` = no output: track and save masks only.
        masks: Where the masks come from.
        config: Processing options.
        encode: Output options.
        save_masks: A folder that receives the per-frame masks actually replaced (the
            dilated ones), as PNG 0/255 named like the frames.
        filler: A ready filler; by default ``config.fill`` is built.
        progress: Show a progress bar (``None`` = only on a terminal).
        review: A video file that receives each input frame with its (undilated) mask and
            the tracker's confidence drawn on it (see :mod:`moebius_video.engine.review`).
        callback: Called after every written frame with ``(frames done, frames expected or
            None)``, in the caller's thread. An exception it raises stops the removal (the
            unfinished output is deleted) and propagates: that is how a caller cancels.

    Returns:
        What was done, with timings, warnings, the per-frame confidence and the doubtful
        frame ranges.

    Raises:
        MoebiusError: Bad input or output (the message names it); nothing is left behind.
    """
    from moebius_video.io import open_sink, open_source
    from moebius_video.io.paths import check_outputs

    config = config or RemoveConfig()
    encode = encode or EncodeConfig()
    input = Path(input)
    # Nothing written may replace something read, whatever ``overwrite`` says.
    check_outputs(
        {"output": output, "save_masks": save_masks},
        {
            "input": input,
            "mask": masks.mask if not isinstance(masks.mask, np.ndarray) else None,
            "keyframes": masks.keyframes,
            "masks_dir": masks.masks_dir,
            "mask_video": masks.mask_video,
        },
    )
    result = RemoveResult(output=Path(output) if output is not None else None)
    filler = filler or get_filler(config.fill)
    filler.reset()
    t_start = time.perf_counter()

    source = open_source(input, start=config.start, end=config.end)
    sink = None
    mask_writer = None
    mask_stage = None
    review_sink = None
    try:
        info = source.info
        if output is not None:
            sink = open_sink(
                output,  # as given: a trailing separator means a folder
                like=info,
                codec=encode.codec,
                crf=encode.crf,
                preset=encode.preset,
                pix_fmt=encode.pix_fmt,
                audio_from=None if info.is_folder else input,
                audio=encode.audio,
                overwrite=encode.overwrite,
                frame_rate=encode.frame_rate,
                input_path=input,
            )
        if save_masks is not None:
            mask_writer = MaskFolderWriter(Path(save_masks), overwrite=encode.overwrite)
        total = _expected_frames(info, config.start, config.end)
        pairs: Iterable[tuple[Frame, np.ndarray, float]] = iter_masks(
            masks, _timed(source, result.timings), info,
            tracker_name=config.tracker, start=config.start, confidence=result.confidence,
        )
        if review is not None:
            from moebius_video.engine.review import reviewed
            from tracking import DOUBTFUL_BELOW

            review_sink = open_sink(
                Path(review), like=info, audio=False, overwrite=encode.overwrite,
                frame_rate=encode.frame_rate, input_path=input,
            )
            pairs = reviewed(pairs, review_sink, result.confidence, total, DOUBTFUL_BELOW)
        dilate = config.dilate
        if config.concurrent:
            from moebius_video.engine.stages import IteratorStage  # stages imports this module

            # Masks are tracked (or read), dilated and handed to the filler's ``prepare``
            # in their own thread, ahead of the fill in this one: OpenCV and numpy release
            # the GIL, so the two overlap.
            pairs = _prepared(pairs, filler, dilate=dilate)
            dilate = 0
            mask_stage = IteratorStage("masks", pairs, maxsize=_MASK_QUEUE, prefix="remove")
            pairs = mask_stage
        with _progress(total, "removing" if sink else "tracking", progress) as bar:
            for frame, mask in process_frames(pairs, filler, dilate=dilate, result=result):
                t0 = time.perf_counter()
                if sink is not None:
                    sink.write(frame)
                if mask_writer is not None:
                    mask_writer.write(frame.name or f"{frame.index:05d}", mask)
                result.timings.encode += time.perf_counter() - t0
                result.frames += 1
                bar.update(1)
                if callback is not None:
                    callback(result.frames, total)
        if result.frames == 0:
            where = ""
            if config.end is not None:
                where = f" between frames {config.start} and {config.end - 1}"
            elif config.start:
                where = f" from frame {config.start} on"
            raise InvalidArgumentError(f"no frames to process in {input}{where}")
        t0 = time.perf_counter()
        if sink is not None:
            sink.close()
            sink = None
        if mask_writer is not None:
            mask_writer.close()
            result.masks_dir = mask_writer.folder
            mask_writer = None
        if review_sink is not None:
            review_sink.close()
            review_sink = None
        result.timings.encode += time.perf_counter() - t0
    finally:
        if mask_stage is not None:
            mask_stage.close()  # stops and joins its thread (it reads from ``source``)
            result.timings.mask_wait = mask_stage.waited
        # Anything still open here failed or was interrupted: leave nothing half-written.
        if sink is not None:
            sink.abort()
        if mask_writer is not None:
            mask_writer.abort()
        if review_sink is not None:
            review_sink.abort()
        source.close()
    # Every warning was logged where it arose (an all-empty run starts with an empty first
    # mask, which is reported then); the result keeps them for callers.
    result.warnings.extend(source.stats.warnings)
    if result.frames and result.empty_mask_frames == result.frames:
        result.warnings.append("every mask was empty: the video was copied through unchanged")
    if masks.needs_tracker:
        from tracking import doubtful_ranges

        result.doubtful = doubtful_ranges(result.confidence, offset=config.start)
    result.timings.total = time.perf_counter() - t_start
    return result
