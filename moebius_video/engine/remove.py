"""Object removal from a video file or a frame folder, frame by frame, in bounded memory.

The file-mode driver of the frame pipeline (:mod:`~moebius_video.engine.pipeline`, see
ARCHITECTURE.md): decode (reader thread) -> mask (:class:`MaskSource`: given, or tracked)
-> dilate -> prepare (mask thread; tracking has a thread of its own) -> fill -> composite (pixels outside the dilated mask are
the decoded source, bit for bit; the caller's thread) -> encode (writer thread). The stages run concurrently, joined by bounded queues; every frame is processed,
in order. Only a window of frames is ever held: the reader's, the mask stage's and the
writer's bounded queues, plus the filler's look-ahead and batch.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from moebius_video.engine.pipeline import (
    FrameStats,
    FrameStep,
    MaskInput,
    MaskSource,
    ProcessConfig,
)
from moebius_video.engine.stages import IteratorStage
from moebius_video.errors import InvalidArgumentError, OutputError
from moebius_video.fill import Filler, get_filler
from moebius_video.io.frames import Frame, VideoInfo
from moebius_video.io.masks import save_mask
from tracking import DOUBTFUL_BELOW, doubtful_ranges

logger = logging.getLogger(__name__)

#: Tracked frames waiting for the fill stage (file mode): enough to absorb the jitter
#: of either stage; each is one decoded frame and its mask.
_MASK_QUEUE = 4


@dataclass(frozen=True)
class RemoveConfig(ProcessConfig):
    """How a file is processed: :class:`~moebius_video.engine.pipeline.ProcessConfig`
    (``dilate``, ``fill``, ``tracker``; shared with live mode) and the range.

    Attributes:
        start: First frame index to process (inclusive).
        end: Frame index to stop at (exclusive); ``None`` = to the end.
        concurrent: Track (or read) the masks in a thread of their own, overlapping the
            fill; ``False`` runs both in the caller's thread, one after the other (same
            output; for debugging and profiling).
    """

    start: int = 0
    end: int | None = None
    concurrent: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
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

    With concurrent stages the stage times overlap: ``decode`` and ``track`` (the mask and
    the filler's ``prepare``) are measured in the track and mask threads, ``fill`` and
    ``encode`` in the caller's, and ``mask_wait`` is the time the fill stage waited for
    prepared frames.
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

    def add(self, stats: FrameStats) -> None:
        """Take the frame step's counts and fill time."""
        self.hole_pixels += stats.hole_pixels
        self.propagated_pixels += stats.propagated_pixels
        self.spatial_pixels += stats.spatial_pixels
        self.empty_mask_frames += stats.empty_mask_frames
        self.timings.fill += stats.fill_seconds

    @property
    def frames_per_second(self) -> float:
        """End-to-end throughput."""
        return self.frames / self.timings.total if self.timings.total > 0 else 0.0


class MaskFolderWriter:
    """Writes ``00000.png``-style masks into a temporary folder, renamed into place at the end.

    The temporary folder's name is chosen when the writer is made and the folder is created
    on the first :meth:`write`: a Ctrl-C or SIGTERM that lands while the writer is being
    made (before the caller holds it, so before it can be aborted) leaves nothing behind,
    and :meth:`abort` removes the folder whenever it came to exist.
    """

    def __init__(self, folder: Path, *, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not (self.folder.is_dir() or self.folder.is_file()):
            raise OutputError(
                f"mask folder {self.folder} exists and is a device or pipe; refusing to replace it"
            )
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
        self._parent = parent
        self._tmp = self._fresh_name()
        self._made = False

    def _fresh_name(self) -> Path:
        return self._parent / f".{self.folder.name}.partial-{secrets.token_hex(4)}"

    def _make(self) -> None:
        """Create the temporary folder (its name is known before it exists: see above)."""
        if self._made:
            return
        for _ in range(100):
            try:
                self._tmp.mkdir()
                break
            except FileExistsError:  # another writer's name: pick another
                self._tmp = self._fresh_name()
            except OSError as error:
                raise OutputError(f"cannot write masks to {self.folder}: {error}") from error
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise OutputError(f"cannot write masks to {self.folder}: no free temporary name")
        self._made = True

    def write(self, name: str, mask: np.ndarray) -> None:
        """Save one mask as ``name.png`` (0 = kept, 255 = replaced)."""
        self._make()
        save_mask(self._tmp / f"{name}.png", mask)

    def close(self) -> None:
        """Move the finished folder into place (the old one is kept until it succeeded)."""
        from moebius_video.io.writer import publish_folder

        self._make()
        publish_folder(self._tmp, self.folder, overwrite=True)  # checked when opened

    def abort(self) -> None:
        """Delete what was written."""
        shutil.rmtree(self._tmp, ignore_errors=True)


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
        {"output": output, "save_masks": save_masks, "review": review},
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
    track_stage = None
    step: FrameStep | None = None
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
        step = FrameStep(filler, dilate=config.dilate)
        mask_source = MaskSource(masks, info, tracker=config.tracker, start=config.start,
                                 confidence=result.confidence)
        pairs: Iterable[tuple[Frame, np.ndarray, float]] = mask_source(
            _timed(source, result.timings))
        if review is not None:
            from moebius_video.engine.review import reviewed

            review_sink = open_sink(
                Path(review), like=info, audio=False, overwrite=encode.overwrite,
                frame_rate=encode.frame_rate, input_path=input,
            )
            pairs = reviewed(pairs, review_sink, result.confidence, total, DOUBTFUL_BELOW)
        if config.concurrent:
            # Masks are tracked (or read) in one thread, dilated and handed to the filler's
            # ``prepare`` (a temporal fill's flows) in a second, ahead of the fill in this
            # one: OpenCV and numpy release the GIL, so the three overlap. In one thread the
            # tracker and the flows were the slowest stage of file mode (20 + 18 ms a
            # frame at 640x360 against 11 for the fill).
            track_stage = IteratorStage("track", pairs, maxsize=_MASK_QUEUE, prefix="remove")
            pairs = step.prepared(track_stage)
            mask_stage = IteratorStage("masks", pairs, maxsize=_MASK_QUEUE, prefix="remove")
            pairs = mask_stage
        else:
            pairs = step.prepared(pairs)

        def items() -> Iterator[tuple[Frame, np.ndarray, np.ndarray]]:
            for frame, mask, seconds in pairs:
                result.timings.track += seconds
                yield frame, frame.image, mask

        with _progress(total, "removing" if sink else "tracking", progress) as bar:
            def trusted(frame: Frame) -> bool:
                # a frame the tracker doubts may show the object unmasked: not a source
                return result.confidence[frame.index - config.start] >= DOUBTFUL_BELOW

            for frame, image, mask in step.run(items(), trusted):
                t0 = time.perf_counter()
                if sink is not None:
                    sink.write(Frame(frame.index, image, frame.pts, frame.time_base, frame.name))
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
        if step is not None:
            result.add(step.stats)
        if mask_stage is not None:
            mask_stage.close()  # stops and joins its thread (it reads from ``track_stage``)
            result.timings.mask_wait = mask_stage.waited
        if track_stage is not None:
            track_stage.close()  # stops and joins its thread (it reads from ``source``)
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
        result.doubtful = doubtful_ranges(result.confidence, offset=config.start)
    result.timings.total = time.perf_counter() - t_start
    return result
