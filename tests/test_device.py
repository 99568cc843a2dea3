"""The device layer: round trips, ring slot reuse guarded by events, bad input, and (on a
GPU) no device-wide synchronize in the steady state."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from helpers import FakeEvent

from moebius_video.device import (
    DeviceContext,
    Download,
    NullEvent,
    NullStream,
    PinnedRing,
)
from moebius_video.errors import InvalidArgumentError


def _frame(h: int = 6, w: int = 9, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


# ---- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_round_trip_reproduces_the_frame_exactly(dtype: torch.dtype) -> None:
    ctx = DeviceContext("cpu", dtype=dtype)
    frame = _frame()
    frame[0, 0] = (0, 255, 128)  # both ends of the range
    tensor, ready = ctx.upload(frame)
    assert tensor.shape == (1, 3, 6, 9)
    assert tensor.dtype == dtype
    assert tensor.device == torch.device("cpu")
    assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0
    assert ready.query()
    out = ctx.download(tensor)
    assert isinstance(out, Download)
    array = out.wait()
    assert array is out.array
    assert array.dtype == np.uint8 and array.shape == (6, 9, 3)
    np.testing.assert_array_equal(array, frame)


def test_upload_accepts_any_strides_and_channel_count() -> None:
    ctx = DeviceContext(torch.device("cpu"))
    frame = _frame(5, 4)
    bgr = frame[..., ::-1]  # negative strides: torch.from_numpy would refuse this
    tensor, _ = ctx.upload(bgr)
    np.testing.assert_array_equal(ctx.download(tensor).wait(), bgr)
    gray = _frame(5, 4, c=1)
    tensor, _ = ctx.upload(gray)
    assert tensor.shape == (1, 1, 5, 4)
    np.testing.assert_array_equal(ctx.download(tensor[0]).wait(), gray)


def test_download_clamps_and_rounds() -> None:
    ctx = DeviceContext("cpu")
    tensor = torch.tensor([[[-0.5, 0.0, 0.5 / 255, 1.6 / 255, 1.0, 2.0]]])  # 1, 1, 6
    np.testing.assert_array_equal(ctx.download(tensor).wait()[..., 0], [[0, 0, 0, 2, 255, 255]])


def test_many_frames_and_a_size_change_keep_every_result() -> None:
    ctx = DeviceContext("cpu", upload_slots=2, download_slots=2)
    frames = [_frame(seed=i) for i in range(5)] + [_frame(3, 4, seed=9)]
    for got, want in zip(ctx.round_trips(frames), frames):
        np.testing.assert_array_equal(got, want)
    assert ctx.upload_ring is not None and ctx.upload_ring.shape == (3, 4, 3)
    assert not ctx.upload_ring.pinned  # pinned only on CUDA
    assert ctx.upload_ring.waits == 0  # null events are always complete


def test_cpu_context_uses_null_streams_and_events() -> None:
    ctx = DeviceContext("cpu")
    assert not ctx.is_cuda
    for stream in (ctx.upload_stream, ctx.compute_stream, ctx.download_stream):
        assert isinstance(stream, NullStream)
        with stream as entered:
            assert entered is stream
        assert stream.query()
        event = stream.record_event()
        stream.wait_event(event)
        stream.wait_stream(ctx.compute_stream)
        stream.synchronize()
    event = ctx.event()
    assert isinstance(event, NullEvent)
    event.record(ctx.compute_stream)
    event.wait(ctx.download_stream)
    event.synchronize()
    assert event.query()
    with ctx.on(ctx.compute_stream):
        pass


# ---- the ring -------------------------------------------------------------------------


def test_ring_hands_out_distinct_slots_in_turn() -> None:
    ring = PinnedRing((2, 3), torch.uint8, 3)
    got = [ring.acquire() for _ in range(3)]
    assert [i for i, _ in got] == [0, 1, 2]
    pointers = {buf.data_ptr() for _, buf in got}
    assert len(pointers) == 3
    assert all(buf.shape == (2, 3) and buf.dtype == torch.uint8 for _, buf in got)
    with pytest.raises(RuntimeError, match="all 3 ring slots are held"):
        ring.acquire()
    ring.release(1, None)
    assert ring.acquire()[0] == 1  # the only free one


def test_ring_reuses_a_slot_only_after_its_event_completed() -> None:
    ring = PinnedRing((4,), torch.uint8, 2)
    e0, e1 = FakeEvent(), FakeEvent()
    i0, _ = ring.acquire()
    ring.release(i0, e0)
    i1, _ = ring.acquire()
    ring.release(i1, e1)
    e1.flip()  # slot 1's transfer finished; slot 0's has not
    assert ring.acquire()[0] == 0
    assert ring.waits == 1 and e0.syncs == 1  # waited on slot 0's event, and only on it
    assert e1.syncs == 0
    ring.release(0, FakeEvent(done=True))
    assert ring.acquire()[0] == 1
    assert ring.waits == 1 and e1.syncs == 0  # complete: no wait
    ring.release(1, None)


def test_ring_does_not_wait_on_completed_events_and_drains() -> None:
    ring = PinnedRing((1,), torch.uint8, 2)
    pending = FakeEvent()
    for _ in range(4):
        index, _ = ring.acquire()
        ring.release(index, FakeEvent(done=True))
    assert ring.waits == 0
    index, _ = ring.acquire()
    ring.release(index, pending)
    ring.drain()
    assert pending.syncs == 1 and pending.query()


def test_ring_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="slots"):
        PinnedRing((2,), torch.uint8, 0)
    with pytest.raises(InvalidArgumentError, match="negative"):
        PinnedRing((-1, 2), torch.uint8, 1)
    ring = PinnedRing((2,), torch.uint8, 1)
    with pytest.raises(InvalidArgumentError, match="not held"):
        ring.release(0, None)


def test_context_waits_for_pending_transfers_through_injected_events() -> None:
    FakeEvent.made.clear()
    ctx = DeviceContext("cpu", upload_slots=2, download_slots=2, event_factory=FakeEvent)
    frames = [_frame(seed=i) for i in range(5)]
    outs = []
    for frame in frames:
        tensor, ready = ctx.upload(frame)
        assert isinstance(ready, FakeEvent) and ready.recorded == 1
        outs.append(ctx.download(tensor))
        np.testing.assert_array_equal(outs[-1].wait(), frame)
    assert ctx.upload_ring is not None and ctx.download_ring is not None
    # 5 frames through 2 slots: every pass from the third waits on a never-flipped event.
    assert ctx.upload_ring.waits == 3
    assert ctx.download_ring.waits == 0  # each download was waited on before the next
    assert all(e.recorded == 1 for e in FakeEvent.made)


def test_download_is_not_ready_until_its_event_completes() -> None:
    ctx = DeviceContext("cpu", event_factory=FakeEvent)
    tensor, _ = ctx.upload(_frame())
    out = ctx.download(tensor)
    assert not out.ready()
    out.wait()
    assert out.ready()


# ---- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 4), np.uint8), "H, W, C"),
        (np.zeros((2, 4, 4, 3), np.uint8), "H, W, C"),
        (np.zeros((0, 4, 3), np.uint8), "H, W, C"),
        (torch.zeros((4, 4, 3), dtype=torch.uint8), "numpy array"),
    ],
)
def test_upload_rejects_bad_frames(frame: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        DeviceContext("cpu").upload(frame)


@pytest.mark.parametrize(
    ("tensor", "match"),
    [
        (torch.zeros((1, 3, 4, 4), dtype=torch.uint8), "floating"),
        (torch.zeros((2, 3, 4, 4)), "1, C, H, W"),
        (torch.zeros((4, 4)), "1, C, H, W"),
        (np.zeros((3, 4, 4), np.float32), "torch.Tensor"),
    ],
)
def test_download_rejects_bad_tensors(tensor: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        DeviceContext("cpu").download(tensor)


def test_context_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="floating"):
        DeviceContext("cpu", dtype=torch.uint8)
    with pytest.raises(InvalidArgumentError, match="upload_slots"):
        DeviceContext("cpu", upload_slots=0)
    with pytest.raises(InvalidArgumentError, match="unknown device"):
        DeviceContext("no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgumentError, match="CUDA"):
            DeviceContext("cuda")


def test_import_touches_no_cuda() -> None:
    code = (
        "import torch\n"
        "def boom(*a, **k):\n"
        "    raise AssertionError('torch.cuda called')\n"
        "for name in ('is_available', 'current_device', 'synchronize', 'init', 'device_count'):\n"
        "    setattr(torch.cuda, name, boom)\n"
        "import numpy as np\n"
        "from moebius_video.device import DeviceContext\n"
        "DeviceContext('cpu').upload(np.zeros((2, 2, 3), np.uint8))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# ---- CUDA -----------------------------------------------------------------------------


@pytest.mark.gpu
def test_cuda_steady_state_round_trip_never_synchronizes_the_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = DeviceContext("cuda", upload_slots=3, download_slots=4)
    frames = [_frame(720, 1280, seed=i) for i in range(13)]
    for frame in frames[:3]:  # warm up: allocator, streams, rings
        tensor, _ = ctx.upload(frame)
        ctx.download(tensor).wait()

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("torch.cuda.synchronize() called in the steady state")

    monkeypatch.setattr(torch.cuda, "synchronize", forbidden)
    assert ctx.upload_ring is not None and ctx.upload_ring.pinned
    pending = []
    for frame in frames[3:]:
        tensor, ready = ctx.upload(frame)
        assert tensor.is_cuda and tensor.shape == (1, 3, 720, 1280)
        with ctx.on(ctx.compute_stream):
            tensor = tensor * 1.0  # stand-in for the model, on the compute stream
        out = ctx.download(tensor)
        pending.append((out.wait().copy(), frame))  # one event, not the device
    for got, want in pending:
        np.testing.assert_array_equal(got, want)
