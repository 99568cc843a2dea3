"""A small device layer: streams, events and pinned host buffers for frame transfers.

On CUDA a :class:`DeviceContext` owns three streams (upload, compute, download). Frames go
host → device through a ring of pinned buffers (:class:`PinnedRing`) with ``non_blocking``
copies on the upload stream, are converted to float on the compute stream, and come back
through a second ring on the download stream. Events order the streams; nothing here calls
the device-wide ``torch.cuda.synchronize()``: a host wait is only ever on one event (one
ring slot, or one download the caller asked for).

On any other device the same code runs with :class:`NullStream` / :class:`NullEvent`
stand-ins (every call is immediate), plain host buffers and ordinary copies, so callers
have one code path. Nothing touches ``torch.cuda`` at import time.

Typical use (a live engine's fill stage)::

    ctx = DeviceContext("cuda", dtype=torch.float16)
    x, ready = ctx.upload(frame)            # 1, 3, H, W in [0, 1] on the device
    with ctx.on(ctx.compute_stream):
        y = model(x)
    out = ctx.download(y)
    image = out.wait()                      # H, W, 3 uint8 (a view into a pinned slot)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import numpy as np
import torch

from moebius_video.errors import InvalidArgumentError


class EventLike(Protocol):
    """What this module needs of an event (``torch.cuda.Event`` or :class:`NullEvent`)."""

    def record(self, stream: Any = None) -> None: ...

    def wait(self, stream: Any = None) -> None: ...

    def query(self) -> bool: ...

    def synchronize(self) -> None: ...


EventFactory = Callable[[], EventLike]
"""Makes a new, unrecorded event."""


class NullEvent:
    """CPU stand-in for ``torch.cuda.Event``: already complete, every call immediate."""

    def record(self, stream: Any = None) -> None:
        """Record on ``stream`` (nothing to do)."""

    def wait(self, stream: Any = None) -> None:
        """Make ``stream`` wait for this event (nothing to do)."""

    def query(self) -> bool:
        """Whether the work before the event finished: always ``True``."""
        return True

    def synchronize(self) -> None:
        """Block until the event completed (returns at once)."""


class NullStream:
    """CPU stand-in for ``torch.cuda.Stream``; also a (no-op) context manager."""

    def wait_event(self, event: EventLike) -> None:
        """Order later work after ``event`` (nothing to do: work is already in order)."""

    def wait_stream(self, stream: Any) -> None:
        """Order later work after ``stream``'s queued work (nothing to do)."""

    def record_event(self, event: EventLike | None = None) -> EventLike:
        """Record ``event`` (a new :class:`NullEvent` when ``None``) and return it."""
        event = event if event is not None else NullEvent()
        event.record(self)
        return event

    def query(self) -> bool:
        """Whether all queued work finished: always ``True``."""
        return True

    def synchronize(self) -> None:
        """Wait for queued work (returns at once)."""

    def __enter__(self) -> NullStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class PinnedRing:
    """A ring of host buffers, each handed out again only once its last transfer finished.

    :meth:`acquire` returns the next free slot in turn. A slot carries the event recorded
    after the last transfer that used it (:meth:`release`); if that event has not completed
    (``event.query()`` is false) the ring waits on that one event (``event.synchronize()``)
    and counts the wait in :attr:`waits`. A slot acquired and not yet released is never
    handed out.

    Args:
        shape: Shape of each buffer.
        dtype: Torch dtype of each buffer.
        slots: Number of buffers (>= 1).
        pin: Page-locked buffers (``torch.empty(..., pin_memory=True)``; needs CUDA).

    Raises:
        InvalidArgumentError: ``slots < 1`` or a negative dimension.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: torch.dtype,
        slots: int,
        *,
        pin: bool = False,
    ) -> None:
        if slots < 1:
            raise InvalidArgumentError(f"slots must be >= 1, got {slots}")
        if any(int(d) < 0 for d in shape):
            raise InvalidArgumentError(f"buffer shape must not be negative, got {tuple(shape)}")
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dtype
        self.pinned = pin
        self.buffers = [
            torch.empty(self.shape, dtype=dtype, device="cpu", pin_memory=pin) for _ in range(slots)
        ]
        self.waits = 0
        self._events: list[EventLike | None] = [None] * slots
        self._held = [False] * slots
        self._next = 0
        self._lock = threading.Lock()

    @property
    def slots(self) -> int:
        """Number of buffers."""
        return len(self.buffers)

    def acquire(self) -> tuple[int, torch.Tensor]:
        """The next free slot, waiting for its last transfer if that is still running.

        Returns:
            ``(slot index, host buffer)``; give the index back with :meth:`release`.

        Raises:
            RuntimeError: Every slot is held (acquired and not released).
        """
        with self._lock:
            for k in range(self.slots):
                index = (self._next + k) % self.slots
                if not self._held[index]:
                    break
            else:
                raise RuntimeError(f"all {self.slots} ring slots are held; release one first")
            self._next = (index + 1) % self.slots
            self._held[index] = True
            event = self._events[index]
            self._events[index] = None
        if event is not None and not event.query():
            with self._lock:
                self.waits += 1
            event.synchronize()  # this slot's transfer only, never the whole device
        return index, self.buffers[index]

    def release(self, index: int, event: EventLike | None) -> None:
        """Give a slot back, guarded by ``event`` (the end of its last transfer).

        Args:
            index: From :meth:`acquire`.
            event: Completes when the slot's transfer finished (``None``: free at once).

        Raises:
            InvalidArgumentError: ``index`` is not a held slot.
        """
        with self._lock:
            if not 0 <= index < self.slots or not self._held[index]:
                raise InvalidArgumentError(f"slot {index} is not held")
            self._held[index] = False
            self._events[index] = event

    def drain(self) -> None:
        """Wait for every slot's last transfer (one event at a time)."""
        with self._lock:
            events = [e for e in self._events if e is not None]
        for event in events:
            event.synchronize()


@dataclass
class Download:
    """A frame on its way back to the host.

    Attributes:
        array: ``H, W, C`` uint8, a view into a ring slot: valid once :attr:`event`
            completed, and until the ring hands the slot out again (``slots`` downloads
            later); copy it to keep it longer.
        event: Completes when the copy into :attr:`array` finished.
    """

    array: np.ndarray
    event: EventLike

    def ready(self) -> bool:
        """Whether :attr:`array` already holds the frame (does not block)."""
        return bool(self.event.query())

    def wait(self) -> np.ndarray:
        """Block until the copy finished (this event only) and return :attr:`array`."""
        self.event.synchronize()
        return self.array


class DeviceContext:
    """Streams, events and transfer rings for one device.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``...
        dtype: Floating dtype of uploaded frames (``torch.float32``, ``torch.float16``...).
        upload_slots: Pinned buffers for uploads.
        download_slots: Pinned buffers for downloads.
        event_factory: Makes events (default: ``torch.cuda.Event`` on CUDA,
            :class:`NullEvent` elsewhere); tests inject fakes here.

    Raises:
        InvalidArgumentError: Unknown device, CUDA asked for but absent, a non-floating
            dtype, fewer than one slot.
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        *,
        dtype: torch.dtype = torch.float32,
        upload_slots: int = 3,
        download_slots: int = 4,
        event_factory: EventFactory | None = None,
    ) -> None:
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise InvalidArgumentError(f"unknown device {device!r}: {error}") from None
        if not dtype.is_floating_point:
            raise InvalidArgumentError(f"dtype must be a floating dtype, got {dtype}")
        for name, n in (("upload_slots", upload_slots), ("download_slots", download_slots)):
            if n < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {n}")
        self.dtype = dtype
        self.is_cuda = self.device.type == "cuda"
        self.upload_slots = upload_slots
        self.download_slots = download_slots
        self.upload_stream: Any
        self.compute_stream: Any
        self.download_stream: Any
        if self.is_cuda:
            if not torch.cuda.is_available():
                raise InvalidArgumentError(
                    f"device {device!r} asked for, but this torch has no usable CUDA device"
                )
            if self.device.index is None:
                self.device = torch.device("cuda", torch.cuda.current_device())
            self.upload_stream = torch.cuda.Stream(device=self.device)
            self.compute_stream = torch.cuda.Stream(device=self.device)
            self.download_stream = torch.cuda.Stream(device=self.device)
            self._event_factory: EventFactory = event_factory or torch.cuda.Event
        else:
            self.upload_stream = NullStream()
            self.compute_stream = NullStream()
            self.download_stream = NullStream()
            self._event_factory = event_factory or NullEvent
        self.upload_ring: PinnedRing | None = None
        self.download_ring: PinnedRing | None = None

    def __repr__(self) -> str:
        return f"DeviceContext(device={str(self.device)!r}, dtype={self.dtype})"

    def event(self) -> EventLike:
        """A new, unrecorded event."""
        return self._event_factory()

    def on(self, stream: Any) -> contextlib.AbstractContextManager[Any]:
        """A context in which work is queued on ``stream`` (a plain block off CUDA)."""
        if self.is_cuda:
            return torch.cuda.stream(stream)
        return contextlib.nullcontext(stream)

    def record(self, stream: Any) -> EventLike:
        """A new event recorded on ``stream`` (after the work queued there so far)."""
        event = self.event()
        event.record(stream)
        return event

    def _ring(self, which: str, shape: tuple[int, ...]) -> PinnedRing:
        ring: PinnedRing | None = getattr(self, which)
        if ring is None or ring.shape != shape:
            if ring is not None:
                ring.drain()  # no copy may still read or write the buffers being dropped
            slots = self.upload_slots if which == "upload_ring" else self.download_slots
            ring = PinnedRing(shape, torch.uint8, slots, pin=self.is_cuda)
            setattr(self, which, ring)
        return ring

    def upload(self, frame: np.ndarray) -> tuple[torch.Tensor, EventLike]:
        """Send one frame to the device as a float image.

        The frame is copied into a ring slot (pinned on CUDA), sent with a
        ``non_blocking`` copy on the upload stream, and converted on the compute stream
        after that stream waited for the copy's event.

        Args:
            frame: ``H, W, C`` uint8 (any strides; ``C`` >= 1, usually 3 RGB).

        Returns:
            ``(tensor, ready)``: ``1, C, H, W`` of :attr:`dtype` in ``[0, 1]`` on
            :attr:`device`, and an event recorded on the compute stream after the
            conversion (work on the compute stream is already ordered after it; another
            stream waits on ``ready`` first).

        Raises:
            InvalidArgumentError: Not a numpy ``H, W, C`` uint8 array with every size >= 1.
        """
        if not isinstance(frame, np.ndarray):
            raise InvalidArgumentError(f"frame must be a numpy array, got {type(frame).__name__}")
        if frame.dtype != np.uint8:
            raise InvalidArgumentError(f"frame must be uint8, got dtype {frame.dtype}")
        if frame.ndim != 3 or min(frame.shape) < 1:
            raise InvalidArgumentError(f"frame must be H, W, C with sizes >= 1, got shape {frame.shape}")
        ring = self._ring("upload_ring", tuple(frame.shape))
        index, host = ring.acquire()
        copied = self.event()
        try:
            np.copyto(host.numpy(), frame)
            with self.on(self.upload_stream):
                # Off CUDA, ``staged`` may be ``host`` itself: the slot is released only
                # after the conversion below has read it.
                staged = host.to(self.device, non_blocking=True)
                copied.record(self.upload_stream)
            self.compute_stream.wait_event(copied)
            with self.on(self.compute_stream):
                if self.is_cuda:
                    staged.record_stream(self.compute_stream)
                tensor = staged.permute(2, 0, 1).unsqueeze(0).to(self.dtype).div_(255.0)
                ready = self.record(self.compute_stream)
        finally:
            ring.release(index, copied)  # reused only once the copy out of it finished
        return tensor, ready

    def download(self, tensor: torch.Tensor) -> Download:
        """Bring one float image back as uint8, on the download stream.

        Values are clamped to ``[0, 1]``, scaled by 255 and rounded on the compute stream;
        the download stream waits for that and copies into a ring slot (pinned on CUDA).

        Args:
            tensor: ``1, C, H, W`` or ``C, H, W`` floating, on :attr:`device`, produced on
                the compute stream (or after that stream waited for its producer).

        Returns:
            A :class:`Download` (``.wait()`` gives the ``H, W, C`` uint8 array).

        Raises:
            InvalidArgumentError: Not a floating tensor of that shape on this device.
        """
        if not isinstance(tensor, torch.Tensor):
            raise InvalidArgumentError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
        if not tensor.dtype.is_floating_point:
            raise InvalidArgumentError(f"tensor must be floating, got dtype {tensor.dtype}")
        if tensor.ndim == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]
        if tensor.ndim != 3 or min(tensor.shape) < 1:
            raise InvalidArgumentError(
                f"tensor must be 1, C, H, W or C, H, W with sizes >= 1, got shape {tuple(tensor.shape)}"
            )
        if tensor.device != self.device:
            raise InvalidArgumentError(f"tensor is on {tensor.device}, this context is {self.device}")
        with self.on(self.compute_stream):
            image = (
                tensor.clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous()
            )
            computed = self.record(self.compute_stream)
        self.download_stream.wait_event(computed)
        ring = self._ring("download_ring", tuple(image.shape))
        index, host = ring.acquire()
        done = self.event()
        try:
            with self.on(self.download_stream):
                if self.is_cuda:
                    image.record_stream(self.download_stream)
                host.copy_(image, non_blocking=True)
                done.record(self.download_stream)
        finally:
            ring.release(index, done)
        return Download(array=host.numpy(), event=done)

    def round_trips(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Upload and download each frame unchanged (a smoke test of the transfer path).

        Args:
            frames: ``H, W, C`` uint8 arrays.

        Yields:
            Copies of the frames after the trip to the device and back.
        """
        for frame in frames:
            tensor, _ = self.upload(frame)
            yield self.download(tensor).wait().copy()


__all__ = [
    "DeviceContext",
    "Download",
    "EventFactory",
    "EventLike",
    "NullEvent",
    "NullStream",
    "PinnedRing",
]
