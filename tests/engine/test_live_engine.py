"""The threaded live engine: drops, latency, errors, stop, Ctrl-C, slow sinks."""

from __future__ import annotations

import _thread
import threading
import time
import tracemalloc

import numpy as np
import pytest

from moebius_video.engine.live import LiveConfig, LiveEngine, run_live, side_by_side
from moebius_video.engine.pipeline import TrackedMask, composite
from moebius_video.engine.stages import END, StageQueue
from moebius_video.errors import InvalidArgumentError, InvalidMaskError, VideoOpenError
from moebius_video.io.capture import FakeCapture, ReconnectingCapture, ReconnectPolicy


def _source(h, frames: int, fps: float | None, **kw):  # type: ignore[no-untyped-def]
    scene = h.tiny_scene(frames)
    return FakeCapture.from_scene(scene, prerender=frames, frame_rate=fps, **kw), scene


def test_fast_source_drops_frames_and_latency_stays_bounded(h) -> None:
    source, scene = _source(h, 40, 200)  # a frame every 5 ms; the filler needs 30 ms
    sink = h.CollectSink()
    stats = run_live(source, [sink], LiveConfig(tracker="static"),
                     mask=scene.frame(0).mask, filler=h.SlowFiller(0.03))
    assert stats.stop_reason == "end"
    assert stats.frames_in == 40
    assert stats.dropped > 10
    assert stats.frames_out + stats.dropped == stats.frames_in
    assert stats.dropped == sum(stats.dropped_by_queue.values())  # nothing lost at a stop
    assert all(v <= 1 for v in stats.queue_high_water.values())
    assert sink.indices == sorted(sink.indices) and len(sink.indices) == stats.frames_out
    assert sink.indices[-1] == 39  # the newest frame wins: the last one is never dropped
    # Without dropping, the last frame would wait ~40 x 30 ms = 1.2 s.
    assert stats.latency_ms_p95 < 300
    assert stats.latency_ms_max < 600
    assert sink.closed and not sink.aborted


def test_slow_source_drops_nothing(h) -> None:
    source, scene = _source(h, 15, 40)
    sink = h.CollectSink()
    stats = run_live(source, [sink], LiveConfig(tracker="static"), mask=scene.frame(0).mask,
                     filler=h.SlowFiller(0.002))
    assert stats.dropped == 0
    assert sink.indices == list(range(15))
    assert stats.latency_ms_max < 500
    assert set(stats.stage_ms) == {"capture", "track", "fill", "encode"}


def test_all_mode_processes_every_frame_in_order(h) -> None:
    source, scene = _source(h, 12, None)  # unpaced: much faster than the filler
    sink = h.CollectSink()
    stats = run_live(source, [sink], LiveConfig(mode="all", queue_size=2, tracker="static"),
                     mask=scene.frame(0).mask, filler=h.SlowFiller(0.01))
    assert sink.indices == list(range(12))
    assert stats.dropped == 0
    assert all(v <= 2 for v in stats.queue_high_water.values())


def test_pixels_outside_the_mask_are_untouched(h) -> None:
    source, scene = _source(h, 6, None)
    sink = h.CollectSink(keep_images=True)
    engine = LiveEngine(source, [sink], LiveConfig(mode="all", dilate=2),
                        box=(10, 10, 30, 20))
    engine.start()
    engine.finish()
    assert len(sink.images) == 6
    first = sink.images[0]
    outside = np.ones(first.shape[:2], bool)
    outside[8:32, 8:42] = False  # the box grown by the dilation
    np.testing.assert_array_equal(first[outside], scene.frame(0).image[outside])
    assert not np.array_equal(first, scene.frame(0).image)


def test_error_in_a_stage_is_reraised_in_the_caller(h) -> None:
    source, scene = _source(h, 50, 100)
    sink = h.CollectSink()
    with pytest.raises(RuntimeError, match="filler exploded"):
        run_live(source, [sink], LiveConfig(tracker="static"), mask=scene.frame(0).mask,
                 filler=h.SlowFiller(0.001, fail_at=3))
    assert sink.aborted and not sink.closed
    assert h.live_threads() == []


def test_error_in_a_sink_is_reraised(h) -> None:
    source, _ = _source(h, 50, 100)
    sink = h.CollectSink(fail_at=2)
    with pytest.raises(OSError, match="sink exploded"):
        run_live(source, [sink], LiveConfig())
    assert sink.aborted
    assert h.live_threads() == []


def test_stop_event_shuts_every_thread_down(h) -> None:
    source, _ = _source(h, 10, 100, num_frames=None)  # endless
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    sink = h.CollectSink()
    t0 = time.monotonic()
    stats = run_live(source, [sink], LiveConfig(), stop=stop)
    assert time.monotonic() - t0 < 3
    assert stats.stop_reason == "stopped"
    assert stats.frames_in > 5
    assert stats.frames_out + stats.dropped == stats.frames_in
    assert sink.closed
    assert h.live_threads() == []


def test_ctrl_c_stops_cleanly_and_finishes_outputs(h) -> None:
    # (interrupt_main raises only while SIGINT has Python's handler: see conftest.py)
    source, _ = _source(h, 10, 100, num_frames=None)
    sink = h.CollectSink()
    engine = LiveEngine(source, [sink], LiveConfig())
    timer = threading.Timer(0.3, _thread.interrupt_main)
    # Should the interrupt never arrive, stop the endless run so that the test fails
    # instead of hanging the suite (it hung a backgrounded CI run here, SIGINT ignored).
    fallback = threading.Timer(20, engine.stop)
    timer.start()
    fallback.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.finish()
    finally:
        timer.cancel()
        fallback.cancel()
    assert engine.stats().stop_reason == "interrupted"
    assert not engine.running
    assert sink.closed and not sink.aborted
    assert h.live_threads() == []


def test_lost_source_reconnects_with_backoff_then_gives_up(h) -> None:
    scene = h.tiny_scene(30)
    opened: list[float] = []

    def opener() -> FakeCapture:
        opened.append(time.monotonic())
        if len(opened) > 1:
            raise VideoOpenError("cannot open fake: connection refused")
        return FakeCapture.from_scene(scene, prerender=30, frame_rate=200, disconnect_after=8)

    policy = ReconnectPolicy(attempts=3, initial_delay=0.02, factor=2.0, max_delay=1.0)
    source = ReconnectingCapture(opener, policy, name="fake://lossy")
    sink = h.CollectSink()
    engine = LiveEngine(source, [sink], LiveConfig(mode="all"))
    with pytest.raises(VideoOpenError, match="gave up after 3 reconnect attempts"):
        engine.finish()
    assert source.log.losses == 1
    assert source.log.attempts == 3
    assert source.log.delays == [0.02, 0.04, 0.08]
    gaps = np.diff(opened)[1:]  # between the failed reopen attempts
    assert gaps[0] >= 0.04 * 0.9 and gaps[1] >= 0.08 * 0.9  # real waits, growing
    assert sink.indices == list(range(8))  # what was received is kept...
    assert sink.closed and not sink.aborted  # ...and the output finished
    assert engine.stats().stop_reason == "source lost"


def test_stalled_source_reconnects_and_goes_on(h) -> None:
    scene = h.tiny_scene(30)
    calls = {"n": 0}

    def opener() -> FakeCapture:
        calls["n"] += 1
        stall = 5 if calls["n"] == 1 else None
        return FakeCapture.from_scene(scene, prerender=30, num_frames=6, frame_rate=200,
                                      stall_after=stall, stall_seconds=0.1)

    source = ReconnectingCapture(opener, ReconnectPolicy(attempts=2, initial_delay=0.01))
    sink = h.CollectSink()
    stats = run_live(source, [sink], LiveConfig(mode="all"))
    assert stats.stop_reason == "end"
    assert source.log.reconnects == 1
    assert stats.reconnects == 1
    assert sink.indices == list(range(11))  # 5 before the stall, 6 after; indices go on


def test_slow_sink_drops_and_memory_stays_bounded(h) -> None:
    scene = h.tiny_scene(20, width=160, height=96)
    source = FakeCapture.from_scene(scene, prerender=20, num_frames=120, frame_rate=300)
    sink = h.CollectSink(delay=0.02)
    peaks: list[int] = []
    tracemalloc.start()
    try:
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peaks.append(tracemalloc.get_traced_memory()[0])

        sampler = threading.Thread(target=sample)
        sampler.start()
        stats = run_live(source, [sink], LiveConfig(tracker="static"),
                         mask=scene.frame(0).mask, filler=h.SlowFiller(0.0))
        done.set()
        sampler.join()
    finally:
        tracemalloc.stop()
    assert stats.dropped > 50
    assert stats.dropped_by_queue["encode"] > 0
    assert all(v <= 1 for v in stats.queue_high_water.values())
    frame_bytes = 160 * 96 * 3
    # 120 frames went through; never more than a handful were alive at once.
    assert max(peaks) - peaks[0] < 30 * frame_bytes


def test_set_and_clear_mask_while_running(h) -> None:
    source, scene = _source(h, 30, 100)
    sink = h.CollectSink(keep_images=True)
    engine = LiveEngine(source, [sink], LiveConfig(tracker="static"))
    engine.start()
    time.sleep(0.08)
    engine.set_box((10, 10, 20, 20))
    time.sleep(0.08)
    engine.clear_mask()
    engine.finish()
    changed = [not np.array_equal(img, scene.frame(i).image)
               for i, img in zip(sink.indices, sink.images)]
    assert changed[0] is False and changed[-1] is False
    assert any(changed)


def test_bad_inputs_are_refused(h) -> None:
    source, _ = _source(h, 3, None)
    with pytest.raises(InvalidArgumentError, match="mode"):
        LiveConfig(mode="fast")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="queue_size"):
        LiveConfig(queue_size=0)
    with pytest.raises(InvalidMaskError, match="outside"):
        LiveEngine(source, [], box=(500, 500, 10, 10))
    with pytest.raises(InvalidMaskError, match="does not match|is 5x5"):
        LiveEngine(source, [], mask=np.ones((5, 5), bool))
    with pytest.raises(InvalidMaskError, match="whole frame"):
        LiveEngine(source, [], mask=np.ones((64, 96), bool))
    with pytest.raises(InvalidArgumentError, match="tracker"):
        LiveEngine(source, [], LiveConfig(tracker="nope"))

    class Lookahead(h.SlowFiller):
        lookahead = 2

    with pytest.raises(InvalidArgumentError, match="causal"):
        LiveEngine(source, [], filler=Lookahead())
    with pytest.raises(InvalidArgumentError, match="shape"):
        side_by_side(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_stage_queue_bounds_and_end_marker() -> None:
    stop = threading.Event()
    q: StageQueue[int] = StageQueue("x", 2, drop_oldest=True, stop=stop)
    for i in range(5):
        q.put(i)
    q.put_end()
    assert q.dropped == 3 and q.high_water == 2
    assert [q.get(), q.get(), q.get()] == [3, 4, END]
    blocking: StageQueue[int] = StageQueue("y", 1, drop_oldest=False, stop=stop)
    assert blocking.put(1)
    stop.set()
    assert blocking.put(2) is False  # would block; the stop wins
    assert blocking.get() == 1 and blocking.get() is None


class _RecordingTracker:
    """Records which frames it was initialised and stepped on (mask follows nothing)."""

    def __init__(self) -> None:
        self.inits: list[np.ndarray] = []
        self.steps: list[np.ndarray] = []

    def init(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.inits.append(frame)
        return mask

    def step(self, state: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.steps.append(frame)
        return state, state


def test_tracked_mask_carries_a_mask_from_the_frame_it_was_drawn_on() -> None:
    tracker = _RecordingTracker()
    ref, cur = np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = True
    tracked = TrackedMask(tracker)
    assert tracked(cur) is None  # nothing selected: nothing tracked
    tracked.start(mask, reference=ref)
    out = tracked(cur)
    assert tracker.inits[0] is ref and tracker.steps[0] is cur
    assert out is not None and out[1, 1]
    tracked.start(mask)  # drawn on the frame it is given with: no step
    assert tracked(cur) is mask and tracker.inits[1] is cur and len(tracker.steps) == 1
    tracked.clear()
    assert tracked(cur) is None


def test_first_frame_box_is_tracked_from_the_first_frame(h) -> None:
    source, scene = _source(h, 20, 400)
    engine = LiveEngine(source, [], LiveConfig(), box=(10, 10, 20, 20),
                        filler=h.SlowFiller(0.02))
    engine.tracker = _RecordingTracker()
    engine.finish()
    np.testing.assert_array_equal(engine.tracker.inits[0], scene.frame(0).image)
    assert len(engine.tracker.inits) == 1


def test_duration_ends_a_run_even_when_the_source_stalls(h) -> None:
    scene = h.tiny_scene(10)
    source = FakeCapture.from_scene(scene, frame_rate=100, stall_after=3, stall_seconds=5)
    t0 = time.monotonic()
    stats = run_live(source, [h.CollectSink()], LiveConfig(duration=0.3))
    assert time.monotonic() - t0 < 2
    assert stats.stop_reason == "duration" and stats.frames_in == 3


def test_live_mode_prepares_exactly_the_frames_it_fills(h) -> None:
    class PreparingFiller(h.SlowFiller):  # type: ignore[name-defined,misc]
        """A slow filler that records which frames ``prepare`` and ``fill`` saw."""

        def __init__(self, delay: float) -> None:
            super().__init__(delay)
            self.prepared: list[int] = []
            self.filled: list[int] = []
            self.masks: list[np.ndarray] = []

        def prepare(self, image: np.ndarray, mask: np.ndarray) -> None:
            self.prepared.append(int(image[0, 0, 0]))
            self.masks.append(mask)

        def fill(self, image, mask, *, future=()):  # type: ignore[no-untyped-def]
            self.filled.append(int(image[0, 0, 0]))
            assert mask is self.masks[len(self.filled) - 1]  # the very mask prepared
            return super().fill(image, mask)

    scene = h.tiny_scene(40)
    frames = [scene.frame(i).image.copy() for i in range(40)]
    for i, frame in enumerate(frames):
        frame[0, 0, 0] = i  # the frame's number, readable by the filler
    source = FakeCapture(frames, num_frames=40, frame_rate=200)  # fast source, slow fill
    filler = PreparingFiller(0.02)
    stats = run_live(source, [h.CollectSink()], LiveConfig(tracker="static", dilate=3),
                     mask=scene.frame(0).mask, filler=filler)
    assert stats.dropped > 10
    assert stats.dropped_by_queue["fill"] == 0  # drops happen before tracking or after filling
    assert filler.filled == filler.prepared[: len(filler.filled)]  # same frames, same order
    assert len(filler.prepared) - len(filler.filled) <= 1  # at most one in flight at a stop
    assert filler.filled == sorted(filler.filled) and len(filler.filled) >= 10
    # the track stage dilated the mask the filler got (a 3 px disc)
    assert filler.masks[0].sum() > scene.frame(0).mask.sum()


def test_temporal_fill_prepared_in_the_track_stage_matches_a_plain_fill(h) -> None:
    from moebius_video.fill import get_filler
    from tracking.geometry import dilate_mask

    scene = h.tiny_scene(16)
    frames = [scene.frame(i).image for i in range(16)]
    mask = scene.frame(0).mask
    sink = h.CollectSink(keep_images=True)
    run_live(FakeCapture(frames, num_frames=16, frame_rate=None), [sink],
             LiveConfig(mode="all", tracker="static", dilate=2),
             mask=mask, filler=get_filler("temporal:spatial=pushpull"))
    plain = get_filler("temporal:spatial=pushpull")
    assert len(sink.images) == 16
    grown = dilate_mask(mask, 2)
    for got, frame in zip(sink.images, frames, strict=True):
        want = composite(frame, plain.fill(frame, grown).image, grown)
        np.testing.assert_array_equal(got, want)


class _DoubtingTracker:
    """Holds the mask; its confidence is 0.1 on frames 5-9 (as a tracker that lost the
    object and holds its last mask), 1 elsewhere."""

    class State:
        def __init__(self, mask: np.ndarray, index: int) -> None:
            self.mask, self.index = mask, index
            self.confidence = 0.1 if 5 <= index < 10 else 1.0

    def init(self, frame: np.ndarray, mask: np.ndarray) -> State:
        return self.State(mask, 0)

    def step(self, state: State, frame: np.ndarray) -> tuple[np.ndarray, State]:
        new = self.State(state.mask, state.index + 1)
        return new.mask, new


def test_live_fill_borrows_nothing_from_frames_the_tracker_doubts(h) -> None:
    """The live engine tells a filler that borrows from other frames which frames the
    tracker doubts, frame by frame, in order."""
    from moebius_video.fill import Filler, FillResult

    class Borrowing(Filler):
        name = "borrowing"
        borrows = True

        def __init__(self) -> None:
            self.trusted: list[bool] = []

        def fill(self, image, mask, *, future=(), trusted=True):  # type: ignore[no-untyped-def]
            self.trusted.append(trusted)
            return FillResult(image.copy())

    scene = h.tiny_scene(16)
    frames = [scene.frame(i).image for i in range(16)]
    filler = Borrowing()
    engine = LiveEngine(FakeCapture(frames, num_frames=16, frame_rate=None), [h.CollectSink()],
                        LiveConfig(mode="all"), mask=scene.frame(0).mask, filler=filler)
    engine.tracker = _DoubtingTracker()
    engine.finish()
    # frame 0 is the init (the user's mask); step k gives frame k
    assert filler.trusted == [not 5 <= i < 10 for i in range(16)]
