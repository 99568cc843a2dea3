"""Real-time object removal from a live source: capture → track → fill → encode, in threads.

Each stage runs in its own thread; stages are joined by bounded queues
(:class:`~moebius_video.engine.stages.StageQueue`) and an end-of-stream marker::

    source ─► capture ─q─► track ─q─► fill ─q─► encode ─► sinks (file, URL) + observers
              (thread)     (thread)   (thread)  (thread)    (preview, MJPEG server)

- ``mode="live"``: every queue holds ``queue_size`` frames (1 by default) and the
  capture→track and fill→encode queues drop their oldest frame when a newer one arrives,
  so the newest frame wins and latency stays bounded whatever the source's rate; dropped
  frames are counted per queue. The track→fill queue blocks instead: the track stage also
  dilates the mask and hands the frame to the filler's
  :meth:`~moebius_video.fill.Filler.prepare` (the temporal fill's background flow), which
  must then see exactly the frames the fill stage fills; a slow fill holds the track
  stage back and the frames are dropped before tracking.
- ``mode="all"``: queues block instead (back-pressure), so every frame is processed in
  order; for files, :func:`~moebius_video.engine.remove.remove_object` is the full-featured
  path (look-ahead fillers, audio, per-frame masks).

The first error of any stage stops the engine and is re-raised in the caller by
:meth:`LiveEngine.finish`; the outputs are then aborted. A source that is lost (after its
reconnection attempts) ends the stream instead: what was captured is processed and the
outputs are finished before its error is re-raised. Ctrl-C in :meth:`LiveEngine.finish`
stops every thread and finishes the outputs, then re-raises ``KeyboardInterrupt``.

Latency is glass-to-glass: from the frame's capture timestamp (:class:`CapturedFrame`) to
the moment every sink's ``write`` returned (the frame encoded and handed to the muxer).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from moebius_video.engine.pipeline import (
    FrameStep,
    ProcessConfig,
    TrackedMask,
    check_first_mask,
    load_tracker,
)
from moebius_video.engine.stages import END, ErrorBox, StageQueue, StageThread, Timer, now
from moebius_video.errors import (
    InvalidArgumentError,
    InvalidMaskError,
    VideoDecodeError,
    VideoOpenError,
)
from moebius_video.fill import DEFAULT_LIVE_FILLER, Filler, get_filler
from moebius_video.io.capture import LIVE_TIME_BASE, CapturedFrame, CaptureSource
from moebius_video.io.frames import Frame
from moebius_video.io.masks import check_fillable, fit_mask
from moebius_video.io.stream_out import LiveSink
from tracking import DOUBTFUL_BELOW
from tracking.geometry import box_mask, dilate_mask

logger = logging.getLogger(__name__)

_JOIN_TIMEOUT_S = 10.0
_STAGES = ("capture", "track", "fill", "encode")


@dataclass(frozen=True)
class LiveConfig(ProcessConfig):
    """How the live engine runs: :class:`~moebius_video.engine.pipeline.ProcessConfig`
    (``dilate``, ``fill``, ``tracker``; shared with file mode) and the live settings.

    Attributes:
        fill: As in file mode, but causal (no look-ahead); default ``DEFAULT_LIVE_FILLER``
            (temporal propagation with the push-pull fallback: half the fill time).
        mode: ``"live"`` (newest frame wins, drops counted) or ``"all"`` (every frame).
        queue_size: Capacity of each queue between stages (``None``: 1 live, 4 all).
        max_frames: Stop after capturing this many frames (``None`` = until the end).
        duration: Stop after this many seconds (``None`` = until the end).
        timing: Timestamps of the output: ``"capture"`` (the capture clock: real time,
            gaps where frames were dropped) or ``"source"`` (the source's own pts).
            ``None`` = capture in live mode, source in all mode.
        latency_window: Latency percentiles are over the last this many frames.
    """

    fill: str = DEFAULT_LIVE_FILLER
    mode: Literal["live", "all"] = "live"
    queue_size: int | None = None
    max_frames: int | None = None
    duration: float | None = None
    timing: Literal["capture", "source"] | None = None
    latency_window: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("live", "all"):
            raise InvalidArgumentError(f"mode must be 'live' or 'all', got {self.mode!r}")
        if self.queue_size is not None and self.queue_size < 1:
            raise InvalidArgumentError(f"queue_size must be >= 1, got {self.queue_size}")
        if self.max_frames is not None and self.max_frames < 1:
            raise InvalidArgumentError(f"max_frames must be >= 1, got {self.max_frames}")
        if self.duration is not None and self.duration <= 0:
            raise InvalidArgumentError(f"duration must be positive, got {self.duration}")
        if self.timing not in (None, "capture", "source"):
            raise InvalidArgumentError(f"timing must be 'capture' or 'source', got {self.timing!r}")
        if self.latency_window < 1:
            raise InvalidArgumentError(f"latency_window must be >= 1, got {self.latency_window}")

    @property
    def queue_capacity(self) -> int:
        """The queue size in effect."""
        if self.queue_size is not None:
            return self.queue_size
        return 1 if self.mode == "live" else 4


@dataclass
class LiveStats:
    """What a live run did (a snapshot; :meth:`LiveEngine.stats`).

    Attributes:
        frames_in: Frames captured.
        frames_out: Frames written to every sink.
        dropped: ``frames_in - frames_out``: dropped to keep up, or discarded at a stop.
        dropped_by_queue: Frames each queue dropped to keep up (named by the stage that
            reads it); the rest of ``dropped`` was in flight when the engine stopped.
        latency_ms_p50: Median glass-to-glass latency (capture → written), milliseconds.
        latency_ms_p95: 95th percentile.
        latency_ms_max: Worst latency.
        stage_ms: Mean milliseconds per frame of each stage (capture includes waiting for
            the source; encode is the time in the sinks' ``write``).
        queue_high_water: Most items ever held by each queue.
        queue_size: Capacity of each queue.
        elapsed_s: Seconds from start to the last frame written (or now).
        reconnects: Times the source was reopened.
        stop_reason: ``"running"``, ``"end"``, ``"max_frames"``, ``"duration"``,
            ``"stopped"``, ``"interrupted"``, ``"source lost"`` or ``"error"``.
    """

    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    dropped_by_queue: dict[str, int] = field(default_factory=dict)
    latency_ms_p50: float = 0.0
    latency_ms_p95: float = 0.0
    latency_ms_max: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    queue_high_water: dict[str, int] = field(default_factory=dict)
    queue_size: int = 1
    elapsed_s: float = 0.0
    reconnects: int = 0
    stop_reason: str = "running"

    @property
    def fps_out(self) -> float:
        """Frames written per second."""
        return self.frames_out / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        """One line for logs."""
        stages = ", ".join(f"{k} {v:.1f}" for k, v in self.stage_ms.items())
        return (
            f"{self.frames_out}/{self.frames_in} frames out ({self.dropped} dropped), "
            f"{self.fps_out:.1f} frames/s; latency p50 {self.latency_ms_p50:.0f} ms, "
            f"p95 {self.latency_ms_p95:.0f} ms, max {self.latency_ms_max:.0f} ms; "
            f"per frame ms: {stages}"
        )


@dataclass
class LiveOutput:
    """The latest processed frame, for previews and observers.

    Attributes:
        index: Frame index.
        source: ``H, W, 3`` uint8 RGB as captured.
        output: ``H, W, 3`` uint8 RGB as written.
        mask: The dilated ``H, W`` bool mask that was filled, or ``None``.
        latency_ms: Its glass-to-glass latency.
    """

    index: int
    source: np.ndarray
    output: np.ndarray
    mask: np.ndarray | None
    latency_ms: float


@dataclass
class _Item:
    captured: CapturedFrame
    mask: np.ndarray | None = None
    output: np.ndarray | None = None
    #: The tracker's confidence in the mask is at least ``DOUBTFUL_BELOW``: the fill may
    #: borrow from the frame (see :attr:`~moebius_video.fill.Filler.borrows`).
    trusted: bool = True


class LiveEngine:
    """Runs capture → track → fill → encode on a live source, in four threads.

    Typical use::

        with LiveEngine(source, [sink], LiveConfig(), box=(x, y, w, h)) as engine:
            stats = engine.finish()      # blocks until the end, Ctrl-C or an error

    A preview or any controller calls :meth:`set_mask` / :meth:`set_box` /
    :meth:`clear_mask` (applied from the next frame on), reads :attr:`latest`, and calls
    :meth:`stop`; these are thread-safe.

    Args:
        source: The frames (the engine closes it).
        sinks: Outputs, written in order from the encode thread (the engine finishes them).
        config: Options.
        mask: First mask, ``H, W`` bool (tracked from the first frame).
        box: First box ``(x, y, w, h)`` instead of a mask.
        filler: A ready filler (default: ``config.fill``).
        observers: Called with each :class:`LiveOutput` from the encode thread (keep cheap).

    Raises:
        InvalidArgumentError: Bad config, unknown filler/tracker, a look-ahead filler.
        InvalidMaskError: A mask of the wrong size, a box outside the frame, an all-white mask.
    """

    def __init__(
        self,
        source: CaptureSource,
        sinks: Sequence[LiveSink] = (),
        config: LiveConfig | None = None,
        *,
        mask: np.ndarray | None = None,
        box: tuple[int, int, int, int] | None = None,
        filler: Filler | None = None,
        observers: Sequence[Callable[[LiveOutput], None]] = (),
    ) -> None:
        self.config = config or LiveConfig()
        self.source = source
        self.sinks = list(sinks)
        self.observers = list(observers)
        self.filler = filler or get_filler(self.config.fill)
        if int(getattr(self.filler, "lookahead", 0)) > 0:
            raise InvalidArgumentError(
                f"filler {self.filler.name!r} needs future frames; live removal needs a causal "
                "filler (use 'remove' for files)"
            )
        self.tracker = load_tracker(self.config.tracker)
        # The frame pipeline: the mask (a TrackedMask, re-initialised on a new selection)
        # and the step's dilate and prepare in the track thread; its fill and composite in
        # the fill thread, one frame at a time.
        self._step = FrameStep(self.filler, dilate=self.config.dilate, batch=1, refuse_full=False)
        self._stop = threading.Event()
        self._errors = ErrorBox(self._stop)
        size = self.config.queue_capacity
        live = self.config.mode == "live"
        self._queues = {
            name: StageQueue[_Item](name, size, drop_oldest=live and name != "fill", stop=self._stop)
            for name in ("track", "fill", "encode")
        }
        self._timers = {name: Timer() for name in _STAGES}
        self._lock = threading.Lock()
        # (mask or None to clear, the frame it was drawn on or None, drawn on the first frame)
        self._pending_mask: tuple[np.ndarray | None, np.ndarray | None, bool] | None = None
        self._first_image: np.ndarray | None = None
        self._latencies: deque[float] = deque(maxlen=self.config.latency_window)
        self._latency_max = 0.0
        self._frames_in = 0
        self._frames_out = 0
        self._t_start: float | None = None
        self._t_last: float | None = None
        self._t0_capture: float | None = None
        self._stop_reason = "running"
        self._source_error: BaseException | None = None
        self._threads: list[StageThread] = []
        self._finished = False
        self.latest: LiveOutput | None = None
        if mask is not None and box is not None:
            raise InvalidArgumentError("give mask or box, not both")
        if box is not None:
            self.set_box(box, first_frame=True)
        elif mask is not None:
            self.set_mask(mask, first_frame=True)

    # ---- control (thread-safe) --------------------------------------------------------

    def set_mask(
        self,
        mask: np.ndarray,
        *,
        reference: np.ndarray | None = None,
        first_frame: bool = False,
    ) -> None:
        """Remove what ``mask`` covers, tracked from the next frame on.

        Args:
            mask: ``H, W`` bool (non-zero = remove), the source's size.
            reference: The frame the mask was drawn on (e.g. :attr:`latest` ``.source`` in a
                preview); the mask is carried from it to the frame being processed. ``None``
                = the mask fits the next frame as it is.
            first_frame: The mask belongs to the stream's first frame (even if live mode
                drops that frame before it is tracked).

        Raises:
            InvalidMaskError: Not a 2-D mask of the source's size, or all white.
        """
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise InvalidMaskError(f"mask must be a 2-D array, got shape {mask.shape}")
        info = self.source.info
        mask = fit_mask(mask.astype(bool), info.width, info.height, what="mask")
        if not check_first_mask(mask, "the mask"):
            self.clear_mask()
            return
        check_fillable(dilate_mask(mask, self.config.dilate), dilate=self.config.dilate,
                       where="the mask")
        with self._lock:
            self._pending_mask = (mask, reference, first_frame)

    def set_box(
        self,
        box: tuple[int, int, int, int],
        *,
        reference: np.ndarray | None = None,
        first_frame: bool = False,
    ) -> None:
        """Remove what the box ``(x, y, w, h)`` covers (see :meth:`set_mask`)."""
        info = self.source.info
        try:
            mask = box_mask(box, info.width, info.height)
        except ValueError as error:
            raise InvalidMaskError(str(error)) from None
        self.set_mask(mask, reference=reference,
                      first_frame=first_frame)

    def clear_mask(self) -> None:
        """Stop removing anything (frames pass through) from the next frame on."""
        with self._lock:
            self._pending_mask = (None, None, False)

    def stop(self, reason: str = "stopped") -> None:
        """Ask every stage to stop soon (queued frames are discarded and counted)."""
        with self._lock:
            if self._stop_reason == "running":
                self._stop_reason = reason
        self._stop.set()
        self.source.interrupt()
        for q in self._queues.values():
            q.wake()

    @property
    def running(self) -> bool:
        """Whether any stage thread is still alive."""
        return any(t.is_alive() for t in self._threads)

    # ---- lifecycle --------------------------------------------------------------------

    def start(self) -> LiveEngine:
        """Start the four stage threads (once)."""
        if self._threads:
            raise RuntimeError("the engine was already started")
        self.filler.reset()
        self._t_start = now()
        bodies = {"capture": self._capture, "track": self._track, "fill": self._fill,
                  "encode": self._encode}
        self._threads = [StageThread(name, bodies[name], self._errors) for name in _STAGES]
        for thread in self._threads:
            thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every stage ended; returns whether they did within ``timeout``."""
        deadline = None if timeout is None else now() + timeout
        for thread in self._threads:
            while thread.is_alive():
                left = 0.1 if deadline is None else min(0.1, deadline - now())
                if left <= 0:
                    return False
                thread.join(left)
        return True

    def finish(self) -> LiveStats:
        """Wait for the end (of the source, a limit, :meth:`stop`), finish the outputs and
        return the statistics.

        Raises:
            MoebiusError: The first error of any stage (outputs aborted), or the loss of the
                source (outputs finished first).
            KeyboardInterrupt: Ctrl-C while waiting (threads stopped, outputs finished).
        """
        if not self._threads:
            self.start()
        limit = self.config.duration
        try:
            while not self.wait(0.1):
                assert self._t_start is not None
                if limit is not None and now() - self._t_start > limit:
                    self.stop("duration")  # also when the source delivers nothing
        except KeyboardInterrupt:
            logger.warning("interrupted: stopping the live engine")
            self.stop("interrupted")
            self._shutdown(keep_outputs=True)
            raise
        error = self._errors.error
        if error is not None:
            with self._lock:
                self._stop_reason = "error"
            self._shutdown(keep_outputs=False)
            raise error
        self._shutdown(keep_outputs=True)
        if self._source_error is not None:
            raise self._source_error
        return self.stats()

    def close(self) -> None:
        """Stop and release everything now (outputs aborted unless already finished)."""
        if not self._finished:
            self.stop()
            self._shutdown(keep_outputs=False)

    def __enter__(self) -> LiveEngine:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and not self._finished:
            self.stop("interrupted" if exc_type is KeyboardInterrupt else "error")
            self._shutdown(keep_outputs=exc_type is KeyboardInterrupt)
        self.close()

    def _shutdown(self, *, keep_outputs: bool) -> None:
        if self._finished:
            return
        self._finished = True
        self._stop.set()
        self.source.interrupt()
        for q in self._queues.values():
            q.wake()
        for thread in self._threads:
            thread.join(_JOIN_TIMEOUT_S)
            if thread.is_alive():  # pragma: no cover - a source stuck in a read
                logger.warning("live stage %s did not stop in time", thread.stage)
        for q in self._queues.values():
            q.clear()
        if not any(t.stage == "capture" for t in self._threads):
            self.source.close()  # never started: the capture thread did not close it
        errors: list[BaseException] = []
        for sink in self.sinks:
            try:
                if keep_outputs:
                    sink.close()
                else:
                    sink.abort()
            except BaseException as error:  # finish the others, raise the first
                errors.append(error)
                keep_outputs = False
        logger.info("live: %s", self.stats().summary())
        if errors:
            raise errors[0]

    # ---- statistics -------------------------------------------------------------------

    def stats(self) -> LiveStats:
        """A snapshot of the statistics (callable from any thread, any time)."""
        with self._lock:
            latencies = np.asarray(self._latencies, dtype=np.float64)
            frames_in, frames_out = self._frames_in, self._frames_out
            reason = self._stop_reason
            t_end = self._t_last if (self._finished and self._t_last) else now()
        p50, p95 = (np.percentile(latencies, [50, 95]) if latencies.size else (0.0, 0.0))
        reconnects = getattr(getattr(self.source, "log", None), "reconnects", 0)
        return LiveStats(
            frames_in=frames_in,
            frames_out=frames_out,
            dropped=frames_in - frames_out,
            dropped_by_queue={n: q.dropped for n, q in self._queues.items()},
            latency_ms_p50=float(p50),
            latency_ms_p95=float(p95),
            latency_ms_max=self._latency_max,
            stage_ms={n: t.mean_ms for n, t in self._timers.items()},
            queue_high_water={n: q.high_water for n, q in self._queues.items()},
            queue_size=self.config.queue_capacity,
            elapsed_s=(t_end - self._t_start) if self._t_start is not None else 0.0,
            reconnects=int(reconnects),
            stop_reason=reason,
        )

    # ---- stages (each runs in its own thread) -----------------------------------------

    def _set_reason(self, reason: str) -> None:
        with self._lock:
            if self._stop_reason == "running":
                self._stop_reason = reason

    def _capture(self) -> None:
        out = self._queues["track"]
        timer = self._timers["capture"]
        cfg = self.config
        try:
            while not self._stop.is_set():
                t0 = now()
                try:
                    captured = self.source.read()
                except (VideoOpenError, VideoDecodeError) as error:
                    if not self._stop.is_set():
                        # Re-raised by finish(): the caller reports it (once).
                        logger.debug("source lost: %s", error)
                        self._source_error = error
                        self._set_reason("source lost")
                    return
                timer.add(now() - t0)
                if captured is None:
                    self._set_reason("end")
                    return
                with self._lock:
                    self._frames_in += 1
                    count = self._frames_in
                    if self._t0_capture is None:
                        self._t0_capture = captured.captured_at
                        self._first_image = captured.frame.image
                if not out.put(_Item(captured)):
                    return
                if cfg.max_frames is not None and count >= cfg.max_frames:
                    self._set_reason("max_frames")
                    return
                assert self._t_start is not None
                if cfg.duration is not None and now() - self._t_start >= cfg.duration:
                    self._set_reason("duration")
                    return
        finally:
            out.put_end()
            self.source.close()

    def _track(self) -> None:
        src, out = self._queues["track"], self._queues["fill"]
        timer = self._timers["track"]
        tracked, step = TrackedMask(self.tracker), self._step
        try:
            while True:
                item = src.get()
                if item is None:
                    return
                if item is END:
                    out.put_end()
                    return
                with self._lock:
                    command, self._pending_mask = self._pending_mask, None
                    first_image = self._first_image
                if command is not None:
                    new_mask, reference, on_first = command
                    if new_mask is None:
                        tracked.clear()
                    else:
                        tracked.start(new_mask, first_image if on_first else reference)
                t0 = now()
                frame = item.captured.frame
                mask = tracked(frame.image)
                if mask is not None and mask.any():
                    # Dilated here, and the filler's work that needs no earlier fill done
                    # here too: the fill stage, the slowest, gets lighter. A frame without
                    # an object passes through untouched: latency is spent on what is seen.
                    item.mask = step.prepare(frame.index, frame.image, mask)
                    item.trusted = tracked.confidence >= DOUBTFUL_BELOW
                timer.add(now() - t0)
                if not out.put(item):
                    return
        finally:
            out.wake()

    def _fill(self) -> None:
        src, out = self._queues["fill"], self._queues["encode"]
        timer = self._timers["fill"]
        ended = False

        def items() -> Iterator[tuple[_Item, np.ndarray, np.ndarray | None]]:
            nonlocal ended
            while (item := src.get()) is not None:
                if item is END:
                    ended = True
                    return
                yield item, item.captured.frame.image, item.mask

        for item, output, mask in self._step.run(items(), lambda item: item.trusted):
            item.output, item.mask = output, mask
            timer.add(self._step.stats.last_fill_seconds)
            if not out.put(item):
                return
        if ended:
            out.put_end()

    def _out_frame(self, item: _Item) -> Frame:
        frame = item.captured.frame
        assert item.output is not None
        timing = self.config.timing or ("capture" if self.config.mode == "live" else "source")
        if timing == "source" and frame.pts is not None and frame.time_base is not None:
            pts, time_base = frame.pts, frame.time_base
        else:
            t0 = self._t0_capture if self._t0_capture is not None else item.captured.captured_at
            pts = round((item.captured.captured_at - t0) / float(LIVE_TIME_BASE))
            time_base = LIVE_TIME_BASE
        return Frame(frame.index, item.output, pts, time_base, frame.name)

    def _encode(self) -> None:
        src = self._queues["encode"]
        timer = self._timers["encode"]
        while True:
            item = src.get()
            if item is None or item is END:
                return
            out = self._out_frame(item)
            t0 = now()
            for sink in self.sinks:
                sink.write(out)
            done = now()
            timer.add(done - t0)
            latency_ms = 1000.0 * (done - item.captured.captured_at)
            with self._lock:
                self._frames_out += 1
                self._latencies.append(latency_ms)
                self._latency_max = max(self._latency_max, latency_ms)
                self._t_last = done
            self.latest = LiveOutput(out.index, item.captured.frame.image, out.image, item.mask,
                                     latency_ms)
            for observer in self.observers:
                observer(self.latest)


def run_live(
    source: CaptureSource,
    sinks: Sequence[LiveSink] = (),
    config: LiveConfig | None = None,
    *,
    mask: np.ndarray | None = None,
    box: tuple[int, int, int, int] | None = None,
    filler: Filler | None = None,
    observers: Sequence[Callable[[LiveOutput], None]] = (),
    stop: threading.Event | None = None,
) -> LiveStats:
    """Remove an object from a live source until it ends (blocking).

    Args:
        source: The frames (closed at the end).
        sinks: Outputs (finished at the end, aborted on an error).
        config: Options.
        mask: First-frame mask to track.
        box: First-frame box ``(x, y, w, h)`` to track, instead of a mask.
        filler: A ready filler.
        observers: Called with every :class:`LiveOutput` (encode thread).
        stop: Set it from anywhere to end the run cleanly.

    Returns:
        The run's statistics.

    Raises:
        MoebiusError: A stage failed, or the source was lost (outputs finished first).
        KeyboardInterrupt: Ctrl-C (threads stopped and outputs finished first).
    """
    try:
        engine = LiveEngine(source, sinks, config, mask=mask, box=box, filler=filler,
                            observers=observers)
    except BaseException:
        source.close()
        raise
    watcher: threading.Thread | None = None
    done = threading.Event()
    try:
        engine.start()
        if stop is not None:
            def watch() -> None:
                while not done.is_set():
                    if stop.wait(0.05):
                        engine.stop()
                        return

            watcher = threading.Thread(target=watch, name="live:stop-watch", daemon=True)
            watcher.start()
        return engine.finish()
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
        engine.close()


def side_by_side(before: np.ndarray, after: np.ndarray, *, gap: int = 4) -> np.ndarray:
    """``before | after`` in one ``H, 2W + gap, 3`` uint8 image (for previews)."""
    if before.shape != after.shape:
        raise InvalidArgumentError(f"images differ in shape: {before.shape} vs {after.shape}")
    h = before.shape[0]
    spacer = np.full((h, gap, 3), 255, np.uint8)
    return np.ascontiguousarray(np.concatenate([before, spacer, after], axis=1))


__all__ = ["LiveConfig", "LiveEngine", "LiveOutput", "LiveStats", "run_live", "side_by_side"]
