"""One frame pipeline: where each frame's mask comes from, and what is done to the frame.

File mode (:func:`~moebius_video.engine.remove.remove_object`) and live mode
(:class:`~moebius_video.engine.live.LiveEngine`) are two drivers of these parts; they differ
only in their source, their sink and their drop policy (every frame / newest frame)::

    frames ─► masks ──────────────► FrameStep.prepare ──────► FrameStep.run ──────────► out
              MaskSource (file):     dilate, check, the       look-ahead window,
              tracker, keyframes,    filler's prepare         fill / fill_batch,
              folder, mask video;    (mask/track thread)      composite (the source's
              TrackedMask (live:                              pixels outside the mask)
              re-init at any frame)
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from moebius_video.errors import InvalidArgumentError, InvalidMaskError, MoebiusError
from moebius_video.fill import DEFAULT_FILLER, Filler, FutureFrame
from moebius_video.io.frames import Frame, VideoInfo
from moebius_video.io.masks import (
    DEFAULT_DILATE,
    LOSSY_THRESHOLD,
    MaskFolder,
    check_fillable,
    fit_mask,
    iter_mask_video,
    load_mask,
)
from tracking import (
    DEFAULT_TRACKER,
    TrackedFrame,
    TrackingError,
    backfill,
    get_tracker,
    iter_track_frames,
)
from tracking.geometry import box_mask, dilate_mask

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessConfig:
    """What is done to every frame, in file and live mode alike.

    Attributes:
        dilate: Grow every mask by this many pixels before filling (coverage over tightness).
        fill: Name of the filler (``--fill``, with options ``name:key=value``).
        tracker: Name of the mask tracker (``--tracker``; ``None`` = the package's default).
    """

    dilate: int = DEFAULT_DILATE
    fill: str = DEFAULT_FILLER
    tracker: str | None = None

    def __post_init__(self) -> None:
        if self.dilate < 0:
            raise InvalidArgumentError(f"dilate must be >= 0, got {self.dilate}")


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



def load_tracker(name: str | None) -> Any:
    """The tracker called ``name`` (``None``: the default).

    Raises:
        InvalidArgumentError: Unknown tracker.
    """
    try:
        return get_tracker(name or DEFAULT_TRACKER)
    except TrackingError as error:
        raise InvalidArgumentError(str(error)) from None


class TrackedMask:
    """A mask carried from frame to frame by a tracker; the tracker's state lives here.

    :meth:`start` gives a new mask (drawn on the next frame, or on an earlier ``reference``
    frame: it is then carried from there in one step); :meth:`clear` stops; calling the
    object with each frame returns that frame's mask (``None`` while nothing is tracked).

    Args:
        tracker: A ``tracking`` tracker (:func:`load_tracker`).
    """

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker
        self.state: Any = None
        self._new: tuple[np.ndarray, np.ndarray | None] | None = None

    def start(self, mask: np.ndarray, reference: np.ndarray | None = None) -> None:
        """Track ``mask`` from the next frame on (re-initialises the tracker)."""
        self._new = (mask, reference)

    def clear(self) -> None:
        """Track nothing from the next frame on."""
        self.state, self._new = None, None

    @property
    def confidence(self) -> float:
        """The tracker's confidence in the last mask (1 for a mask given, or none)."""
        return 1.0 if self.state is None else float(getattr(self.state, "confidence", 1.0))

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        """The mask of ``image`` (``H, W, 3`` uint8 RGB), or ``None``.

        Raises:
            InvalidMaskError: The tracker refuses a new mask (e.g. its size).
        """
        if self._new is not None:
            (mask, reference), self._new = self._new, None
            try:
                if reference is None or reference is image:
                    self.state = self.tracker.init(image, mask)
                    return mask
                self.state = self.tracker.init(reference, mask)
            except TrackingError as error:
                raise InvalidMaskError(str(error)) from None
        if self.state is None:
            return None
        mask, self.state = self.tracker.step(self.state, image)
        return mask  # type: ignore[no-any-return]


def track_file(
    tracked: TrackedMask, items: Iterable[T], image: Callable[[T], np.ndarray]
) -> Iterator[tuple[T, TrackedFrame, float]]:
    """A started :class:`TrackedMask` over a file's frames, as file mode tracks: a file is
    not shown as it is read, so an object found again is also tracked back into the frames
    it was missed in (:func:`tracking.backfill`; frames are held back only while that is
    pending).

    Args:
        tracked: started (:meth:`TrackedMask.start`).
        items: the frames in order, as anything ``image`` turns into ``H,W,3`` RGB.
        image: an item's picture.

    Yields:
        ``(item, tracked frame, seconds spent tracking it)`` in order (index from 0).
    """

    def forward() -> Iterator[tuple[tuple[T, float], TrackedFrame]]:
        for index, item in enumerate(items):
            t0 = time.perf_counter()
            mask = tracked(image(item))
            yield (item, time.perf_counter() - t0), TrackedFrame(index, mask, tracked.confidence)

    for (item, seconds), frame, extra in backfill(
        forward(), tracked.tracker, lambda payload: image(payload[0])
    ):
        yield item, frame, seconds + extra


def _first_mask(spec: MaskInput, info: VideoInfo) -> np.ndarray:
    if spec.box is not None:
        try:
            return box_mask(spec.box, info.width, info.height)
        except ValueError as error:
            raise InvalidMaskError(str(error)) from None
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


class MaskSource:
    """The owner of the masks of a file-mode run: each frame's raw (undilated) mask.

    A first-frame mask or box is tracked (:class:`TrackedMask`); keyframes are tracked
    both ways and fused (random access to the input); per-frame masks are read from a
    folder or a mask video as they are needed.

    Args:
        spec: Where the masks come from.
        info: The input's description (size, frame names, path).
        tracker: Tracker name (``None`` = the tracking package's default).
        start: Index of the first processed frame in the input.
        confidence: A list that receives each frame's confidence in its mask before the
            frame is yielded (1 for given masks and keyframes; see
            :attr:`tracking.TrackState.confidence`).
    """

    def __init__(self, spec: MaskInput, info: VideoInfo, *, tracker: str | None = None,
                 start: int = 0, confidence: list[float] | None = None) -> None:
        self.spec, self.info, self.tracker, self.start = spec, info, tracker, start
        self.confidence = confidence if confidence is not None else []

    def __call__(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, np.ndarray, float]]:
        """Pair every frame with its raw mask: ``(frame, mask, seconds spent on it)``.

        Raises:
            InvalidMaskError: Unreadable masks, wrong sizes, an all-white first mask, a mask
                video shorter than the input.
        """
        spec, info, tracker_name, start = self.spec, self.info, self.tracker, self.start
        conf = self.confidence
        if spec.tracked:
            tracked = TrackedMask(load_tracker(tracker_name))
            first = _first_mask(spec, info)
            has_object = check_first_mask(first, "the mask" if spec.box is None else "the box")
            if not has_object:
                for frame in frames:
                    conf.append(1.0)
                    yield frame, first, 0.0
                return
            tracked.start(first)
            for frame, item, seconds in track_file(tracked, frames, lambda f: f.image):
                conf.append(item.confidence)
                yield frame, item.mask, seconds
            return

        if spec.keyframes is not None:
            yield from _iter_keyframe_masks(spec, frames, info, tracker_name=tracker_name,
                                            start=start, confidence=conf)
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
            masks = iter_track_frames(
                _Window(video, start, stop), keys,
                tracker=tracker_name or DEFAULT_TRACKER,
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
        except TrackingError as error:
            raise InvalidMaskError(str(error)) from None


def composite(source: np.ndarray, filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``filled`` inside ``mask``, ``source`` (bit for bit) everywhere else."""
    out = source.copy()
    if mask.dtype == np.bool_ and filled.shape == out.shape and filled.dtype == out.dtype:
        # Same result as ``out[mask] = filled[mask]``, some 30 times faster.
        return cv2.copyTo(filled, np.ascontiguousarray(mask).view(np.uint8), out)
    out[mask] = filled[mask]
    return out


@dataclass
class FrameStats:
    """What the frame step did, summed over frames.

    Attributes:
        hole_pixels: Masked (dilated) pixels.
        propagated_pixels: Hole pixels filled from other frames.
        spatial_pixels: Hole pixels filled by a spatial method.
        empty_mask_frames: Frames whose mask was empty (copied through).
        fill_seconds: Time in :meth:`FrameStep.run`'s fills and composites.
        last_fill_seconds: The same for the last frame (batch) emitted.
    """

    hole_pixels: int = 0
    propagated_pixels: int = 0
    spatial_pixels: int = 0
    empty_mask_frames: int = 0
    fill_seconds: float = 0.0
    last_fill_seconds: float = 0.0


class FrameStep:
    """dilate → prepare → fill / fill_batch → composite, with the filler's look-ahead window.

    :meth:`prepare` runs where the mask is made (file mode's mask thread, live mode's track
    thread); :meth:`run` is the fill stage. A filler with ``lookahead > 0`` is handed that
    many following frames (output lags input by that many); one with ``max_batch > 1`` gets
    up to that many consecutive frames per ``fill_batch`` call. No more than ``max_batch +
    lookahead`` frames are held.

    Args:
        filler: The filler (already reset by the driver).
        dilate: Dilation radius in pixels.
        batch: Frames per fill call (``None``: the filler's ``max_batch``; live mode uses 1).
        refuse_full: Refuse a dilated mask that covers the whole frame (file mode).
    """

    def __init__(self, filler: Filler, *, dilate: int, batch: int | None = None,
                 refuse_full: bool = True) -> None:
        self.filler = filler
        self.dilate = dilate
        self.lookahead = max(int(getattr(filler, "lookahead", 0)), 0)
        self.batch = max(int(batch or getattr(filler, "max_batch", 1)), 1)
        self.refuse_full = refuse_full
        self.stats = FrameStats()

    def prepare(self, index: int, image: np.ndarray, raw_mask: np.ndarray) -> np.ndarray:
        """Dilate frame ``index``'s mask and hand both to :meth:`Filler.prepare`; returns the
        dilated mask.

        Raises:
            InvalidMaskError: (``refuse_full``) The dilated mask covers the whole frame.
        """
        mask = dilate_mask(raw_mask, self.dilate)
        if self.refuse_full:
            check_fillable(mask, dilate=self.dilate, where=f"frame {index}")
        self.filler.prepare(image, mask)
        return mask

    def prepared(self, pairs: Iterable[tuple[Frame, np.ndarray, float]]
                 ) -> Iterator[tuple[Frame, np.ndarray, float]]:
        """``pairs`` (frame, raw mask, seconds) with prepared masks; the seconds include it."""
        for frame, raw_mask, seconds in pairs:
            t0 = time.perf_counter()
            mask = self.prepare(frame.index, frame.image, raw_mask)
            yield frame, mask, seconds + time.perf_counter() - t0

    def run(self, items: Iterable[tuple[T, np.ndarray, np.ndarray | None]],
            trusted: Callable[[T], bool] | None = None,
            ) -> Iterator[tuple[T, np.ndarray, np.ndarray | None]]:
        """Fill each ``(key, image, prepared mask)``; yields ``(key, output image, mask)`` in
        order. A ``None`` mask (nothing selected) passes the image through unfilled.

        ``trusted(key)`` False marks a frame whose mask the tracker doubts: a filler that
        borrows from other frames (:attr:`Filler.borrows`) takes no pixels from it.

        Raises:
            MoebiusError: ``fill_batch`` returned a different number of results than frames.
        """
        trust = trusted if self.filler.borrows else None
        pending: deque[tuple[T, np.ndarray, np.ndarray | None]] = deque()
        for item in items:
            pending.append(item)
            if len(pending) >= self.lookahead + self.batch:
                yield from self._emit(pending, self.batch, trust)
        while pending:
            yield from self._emit(pending, min(self.batch, len(pending)), trust)

    def _emit(self, pending: deque[tuple[T, np.ndarray, np.ndarray | None]], count: int,
              trust: Callable[[T], bool] | None) -> list[tuple[T, np.ndarray, np.ndarray | None]]:
        """Fill the first ``count`` pending frames: one ``fill``, or one ``fill_batch`` call
        (``trust``: see :meth:`run`; ``None`` for a filler that borrows nothing)."""
        t0 = time.perf_counter()
        window = list(pending)
        items = [pending.popleft() for _ in range(count)]
        todo = [k for k, (_, _, mask) in enumerate(items) if mask is not None]
        futures = [
            [FutureFrame(image, mask, True if trust is None else trust(key))
             for key, image, mask in window[k + 1 : k + 1 + self.lookahead] if mask is not None]
            for k in todo
        ]
        filler, stats = self.filler, self.stats
        if len(todo) == 1 and self.batch == 1:
            key, image, mask = items[todo[0]]
            filled = [filler.fill_frame(image, mask, future=futures[0],  # type: ignore[arg-type]
                                        trusted=True if trust is None else trust(key))]
        elif todo:
            filled = filler.fill_batch([items[k][1] for k in todo],
                                       [items[k][2] for k in todo], futures)  # type: ignore[misc]
            if len(filled) != len(todo):
                raise MoebiusError(
                    f"filler {filler.name or type(filler).__name__!r} returned {len(filled)} "
                    f"results for {len(todo)} frames"
                )
        else:
            filled = []
        results = dict(zip(todo, filled, strict=True))
        outs = []
        for k, (key, image, mask) in enumerate(items):
            if mask is None:
                outs.append((key, image, None))
                continue
            done = results[k]
            hole = int(mask.sum())
            if hole == 0:
                stats.empty_mask_frames += 1
            stats.hole_pixels += hole
            stats.propagated_pixels += done.propagated_pixels
            stats.spatial_pixels += done.spatial_pixels
            outs.append((key, composite(image, done.image, mask) if hole else image, mask))
        stats.last_fill_seconds = time.perf_counter() - t0
        stats.fill_seconds += stats.last_fill_seconds
        return outs


__all__ = [
    "FrameStats",
    "FrameStep",
    "MaskInput",
    "MaskSource",
    "ProcessConfig",
    "TrackedMask",
    "check_first_mask",
    "composite",
    "load_tracker",
]
