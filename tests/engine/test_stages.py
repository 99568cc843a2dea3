"""File mode as concurrent stages: same frames as the sequential path, errors, Ctrl-C, threads."""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import clip_with_masks, record_flow_calls, scene

import tracking
from moebius_video.engine.remove import MaskInput, RemoveConfig, remove_object
from moebius_video.engine.stages import IteratorStage
from moebius_video.fill import Filler, FillResult, FutureFrame, get_filler


class Boom(RuntimeError):
    """An error only these tests raise."""


def _png_frames(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("*.png"))]


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(clip.mp4, masks/, first mask)`` of a small generated scene with a moving object."""
    return clip_with_masks(tmp_path, scene(width=128, height=80, frames=18), audio=False)


@pytest.fixture
def no_new_threads() -> Iterator[None]:
    """Fails the test when a thread it started is still alive at its end (but tqdm's
    process-wide monitor, started once by the first progress bar)."""
    before = set(threading.enumerate())
    yield
    left = [t.name for t in threading.enumerate()
            if t not in before and t.is_alive() and t.name != "tqdm_monitor"]
    assert not left, f"threads left alive: {left}"


def _leftovers(folder: Path, inputs: Sequence[Path]) -> list[str]:
    """Everything in ``folder`` that is not one of the inputs (partial outputs, temp files)."""
    keep = {p.name for p in inputs}
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


class _FailingFiller(Filler):
    """Telea, except that frame ``at`` raises ``error`` (or calls ``action``)."""

    name = "failing"

    def __init__(self, at: int, error: BaseException | None = None, action=None) -> None:  # type: ignore[no-untyped-def]
        self.inner = get_filler("telea")
        self.at, self.error, self.action = at, error, action
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def fill(self, image: np.ndarray, mask: np.ndarray, *, future: Sequence[FutureFrame] = ()) -> FillResult:
        if self.calls == self.at:
            if self.action is not None:
                self.action()
            if self.error is not None:
                raise self.error
        self.calls += 1
        return self.inner.fill(image, mask)


@pytest.mark.parametrize("fill", ["temporal", "telea"])
def test_threaded_output_equals_sequential(clip, tmp_path: Path, fill: str, no_new_threads) -> None:  # type: ignore[no-untyped-def]
    video, _, first = clip
    outs = {}
    for concurrent in (False, True):
        out = tmp_path / f"out_{concurrent}"
        result = remove_object(video, str(out) + "/", MaskInput(mask=first),
                               config=RemoveConfig(fill=fill, concurrent=concurrent), progress=False)
        assert result.frames == 18
        outs[concurrent] = _png_frames(out)
    assert len(outs[True]) == len(outs[False]) == 18
    for i, (a, b) in enumerate(zip(outs[False], outs[True], strict=True)):
        assert np.array_equal(a, b), f"frame {i} differs"


def test_threaded_output_equals_sequential_with_mask_folder(clip, tmp_path: Path, no_new_threads) -> None:  # type: ignore[no-untyped-def]
    video, masks, _ = clip
    outs = []
    for concurrent in (False, True):
        out = tmp_path / f"out_{concurrent}"
        remove_object(video, str(out) + "/", MaskInput(masks_dir=masks),
                      config=RemoveConfig(concurrent=concurrent), progress=False)
        outs.append(_png_frames(out))
    assert len(outs[0]) == 18
    assert all(np.array_equal(a, b) for a, b in zip(*outs, strict=True))


@pytest.mark.parametrize("output", ["out.mp4", "out/"])
def test_tracker_error_surfaces_with_its_type_and_leaves_nothing(
    clip, tmp_path: Path, monkeypatch, output: str, no_new_threads  # type: ignore[no-untyped-def]
) -> None:
    video, masks, first = clip
    step = tracking.FlowTracker.step
    calls = []

    def failing_step(self, state, image):  # type: ignore[no-untyped-def]
        calls.append(threading.current_thread().name)
        if len(calls) == 5:
            raise Boom("tracker failed on purpose")
        return step(self, state, image)

    monkeypatch.setattr(tracking.FlowTracker, "step", failing_step)
    with pytest.raises(Boom, match="on purpose"):
        remove_object(video, tmp_path / output, MaskInput(mask=first), progress=False)
    assert calls and all(name != threading.main_thread().name for name in calls)  # ran in its stage
    assert _leftovers(tmp_path, [video, masks]) == []


@pytest.mark.parametrize("output", ["out.mp4", "out/"])
def test_filler_error_surfaces_with_its_type_and_leaves_nothing(
    clip, tmp_path: Path, output: str, no_new_threads  # type: ignore[no-untyped-def]
) -> None:
    video, masks, first = clip
    filler = _FailingFiller(at=6, error=Boom("filler failed on purpose"))
    with pytest.raises(Boom, match="on purpose"):
        remove_object(video, tmp_path / output, MaskInput(mask=first), filler=filler,
                      save_masks=tmp_path / "used", progress=False)
    assert _leftovers(tmp_path, [video, masks]) == []


def test_ctrl_c_in_the_caller_stops_promptly_and_leaves_nothing(clip, tmp_path: Path, no_new_threads) -> None:  # type: ignore[no-untyped-def]
    video, masks, first = clip
    stopped_at: list[float] = []
    # interrupt_main() is what a SIGINT does: KeyboardInterrupt in the main thread, soon.
    filler = _FailingFiller(at=5, action=lambda: (stopped_at.append(time.perf_counter()), _thread.interrupt_main()))
    with pytest.raises(KeyboardInterrupt):
        remove_object(video, tmp_path / "out.mp4", MaskInput(mask=first), filler=filler, progress=False)
    assert time.perf_counter() - stopped_at[0] < 2.0
    assert filler.calls == 5  # taken at once: no frame was filled after it
    assert _leftovers(tmp_path, [video, masks]) == []


def test_ctrl_c_while_waiting_for_the_tracker_stops_promptly(clip, tmp_path: Path, monkeypatch, no_new_threads) -> None:  # type: ignore[no-untyped-def]
    video, masks, first = clip
    step = tracking.FlowTracker.step
    calls = []
    sent: list[float] = []

    def slow_step(self, state, image):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 4:
            sent.append(time.perf_counter())
            _thread.interrupt_main()  # the main thread is waiting for this frame's mask
            time.sleep(0.3)
        return step(self, state, image)

    monkeypatch.setattr(tracking.FlowTracker, "step", slow_step)
    with pytest.raises(KeyboardInterrupt):
        remove_object(video, str(tmp_path / "out") + "/", MaskInput(mask=first), progress=False)
    assert time.perf_counter() - sent[0] < 2.0
    assert len(calls) < 10  # the tracking thread stopped soon after
    assert _leftovers(tmp_path, [video, masks]) == []


def test_iterator_stage_keeps_order_bounds_memory_and_reraises() -> None:
    produced = []

    def numbers(n: int, fail_at: int | None = None) -> Iterator[int]:
        for i in range(n):
            if i == fail_at:
                raise Boom(f"at {i}")
            produced.append(i)
            yield i

    stage = IteratorStage("numbers", numbers(50), maxsize=3)
    got = []
    for item in stage:
        got.append(item)
        if item == 0:
            time.sleep(0.1)  # the producer runs ahead, at most maxsize (+1 in hand) items
            assert len(produced) <= 1 + 3 + 1
    assert got == list(range(50)) and not stage.alive

    stage = IteratorStage("numbers", numbers(10, fail_at=4), maxsize=2)
    got = []
    with pytest.raises(Boom, match="at 4"):
        for item in stage:
            got.append(item)
    assert got == [0, 1, 2, 3] and not stage.alive


def test_iterator_stage_close_runs_the_generator_cleanup_in_its_thread() -> None:
    cleaned: list[str] = []

    def endless() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            cleaned.append(threading.current_thread().name)

    with IteratorStage("endless", endless(), maxsize=2, prefix="test") as stage:
        for item in stage:
            if item == 3:
                break
    assert not stage.alive
    assert cleaned == ["test:endless"]


@pytest.mark.parametrize("ahead", [-1, 0, 1, 3])
def test_temporal_prepare_ahead_or_behind_gives_the_same_fill(ahead: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tracking.geometry import dilate_mask

    sc = scene(width=128, height=80, frames=10)
    frames = [sc.frame(i).image for i in range(len(sc))]
    masks = [dilate_mask(sc.frame(i).mask, 4) for i in range(len(sc))]
    plain = get_filler("temporal")
    expected = [plain.fill(f, m).image for f, m in zip(frames, masks, strict=True)]

    filler = get_filler("temporal")
    by_fill = record_flow_calls(monkeypatch, filler)
    got, prepared = [], 0
    for i, (f, m) in enumerate(zip(frames, masks, strict=True)):
        # Before fill(i), frames up to i + ahead are prepared (ahead < 0: fill runs ahead).
        while prepared <= min(i + ahead, len(frames) - 1):
            filler.prepare(frames[prepared], masks[prepared])
            prepared += 1
        got.append(filler.fill(f, m).image)
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
    assert len(filler._prepared) <= max(ahead, 0)
    assert sum(by_fill) == (0 if ahead >= 0 else len(frames) - 1)  # prepared flow was used
