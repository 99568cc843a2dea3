"""Threads and queues of the two drivers: bounded queues, stage threads, the end marker.

The live engine wires its own stages from these; file mode (:func:`~moebius_video.engine.
remove.remove_object`) runs an iterator in a thread of its own with :class:`IteratorStage`.
The per-frame work itself is :mod:`~moebius_video.engine.pipeline`'s, with no threading
logic: the seam where a CUDA implementation (pinned buffers, streams, events) can replace
the CPU one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

_POLL_S = 0.05


class _EndOfStream:
    """The marker that follows the last item through every queue."""

    def __repr__(self) -> str:
        return "END"


END: Any = _EndOfStream()
"""End-of-stream marker: put with :meth:`StageQueue.put_end`, never dropped."""


class StageQueue(Generic[T]):
    """A bounded queue between two stages.

    With ``drop_oldest`` (live mode) :meth:`put` never blocks: when the queue is full the
    oldest item is discarded and counted, so the newest frame wins and latency stays
    bounded. Without it (every-frame mode) :meth:`put` waits for room (back-pressure).
    Either way the queue never holds more than ``maxsize`` items, plus the end marker.

    Args:
        name: For statistics ("track", "fill"...: the stage that reads it).
        maxsize: Capacity (>= 1).
        drop_oldest: Drop instead of blocking when full.
        stop: When set, blocked calls return at once.
    """

    def __init__(self, name: str, maxsize: int, *, drop_oldest: bool, stop: threading.Event) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.name = name
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self.dropped = 0
        self.high_water = 0
        self._items: deque[T] = deque()
        self._ended = False
        self._cond = threading.Condition()
        self._stop = stop

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: T) -> bool:
        """Add ``item``; returns False when the engine stopped first (item not added)."""
        with self._cond:
            if self.drop_oldest:
                while len(self._items) >= self.maxsize:
                    self._items.popleft()
                    self.dropped += 1
            else:
                while len(self._items) >= self.maxsize:
                    if self._stop.is_set():
                        return False
                    self._cond.wait(_POLL_S)
            self._items.append(item)
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify_all()
            return True

    def put_end(self) -> None:
        """Mark the end of the stream (after the items already queued; never blocks)."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def get(self) -> T | None:
        """The next item, :data:`END` once the stream ended and the queue is empty, or
        ``None`` when the engine stopped."""
        with self._cond:
            while not self._items:
                if self._ended:
                    return END  # type: ignore[no-any-return]
                if self._stop.is_set():
                    return None
                self._cond.wait(_POLL_S)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def clear(self) -> int:
        """Discard what is queued; returns how many items."""
        with self._cond:
            n = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return n

    def wake(self) -> None:
        """Wake blocked callers so they notice the stop event."""
        with self._cond:
            self._cond.notify_all()


class ErrorBox:
    """Keeps the first error raised by any stage thread and stops the engine."""

    def __init__(self, stop: threading.Event) -> None:
        self.error: BaseException | None = None
        self.stage: str | None = None
        self._stop = stop
        self._lock = threading.Lock()

    def record(self, stage: str, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error, self.stage = error, stage
        self._stop.set()


@dataclass
class Timer:
    """Sum and count of durations (seconds), thread-confined to one stage."""

    total: float = 0.0
    count: int = 0

    def add(self, seconds: float) -> None:
        self.total += seconds
        self.count += 1

    @property
    def mean_ms(self) -> float:
        return 1000.0 * self.total / self.count if self.count else 0.0


class StageThread(threading.Thread):
    """A daemon thread that runs ``body`` and records any exception in ``errors``.

    Its name is ``f"{prefix}:{name}"`` (``live:track``...).
    """

    def __init__(
        self, name: str, body: Callable[[], None], errors: ErrorBox, *, prefix: str = "live"
    ) -> None:
        super().__init__(name=f"{prefix}:{name}", daemon=True)
        self.stage = name
        self._body = body
        self._errors = errors

    def run(self) -> None:
        try:
            self._body()
        except BaseException as error:  # re-raised in the caller
            self._errors.record(self.stage, error)


class IteratorStage(Generic[T]):
    """An iterator run in a thread of its own, its items handed over through a bounded queue.

    Every-frame mode: the queue blocks when full (back-pressure), nothing is dropped, items
    come out in order, followed by the end of the stream. An exception raised by the
    iterator (any ``BaseException``) stops the stage and is re-raised, as the same object,
    in the thread that iterates the stage, once the items queued before it are consumed.
    :meth:`close` (also on leaving a ``with`` block, or when the caller stops iterating)
    stops the thread promptly: it finishes the step it is in, closes the iterator (its
    ``finally`` blocks run in the stage's thread) and exits.

    Args:
        name: Stage name (statistics, thread name ``f"{prefix}:{name}"``).
        iterator: What to run (its items must not be ``None``); a generator is best
            created, not started, in the caller.
        maxsize: Capacity of the queue (>= 1): at most this many items wait.
        prefix: Thread-name prefix.
        join_timeout: Seconds :meth:`close` waits for the thread.

    Attributes:
        waited: Seconds the consumer spent waiting for items.
    """

    def __init__(
        self,
        name: str,
        iterator: Iterator[T],
        *,
        maxsize: int = 2,
        prefix: str = "stage",
        join_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.waited = 0.0
        self._iterator = iterator
        self._stop = threading.Event()
        self._errors = ErrorBox(self._stop)
        self.queue: StageQueue[T] = StageQueue(name, maxsize, drop_oldest=False, stop=self._stop)
        self._thread = StageThread(name, self._run, self._errors, prefix=prefix)
        self._join_timeout = join_timeout
        self._started = False

    def _run(self) -> None:
        iterator = self._iterator
        try:
            for item in iterator:
                if self._stop.is_set() or not self.queue.put(item):
                    return
            self.queue.put_end()
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # the generator's cleanup runs here, in its own thread

    def __iter__(self) -> Iterator[T]:
        if self._started:
            raise RuntimeError(f"stage {self.name!r} can be iterated only once")
        self._started = True
        self._thread.start()
        try:
            while True:
                t0 = time.perf_counter()
                item = self.queue.get()
                self.waited += time.perf_counter() - t0
                if item is END or item is None:  # None: stopped (an error, or close())
                    break
                yield item
            self._thread.join()
            if self._errors.error is not None:
                raise self._errors.error
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread and wait for it (at most ``join_timeout`` s). Idempotent."""
        self._stop.set()
        self.queue.wake()
        thread = self._thread
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(self._join_timeout)
            if thread.is_alive():  # pragma: no cover - a step stuck in native code
                logger.warning("stage %r did not stop within %.0f s", self.name, self._join_timeout)
        self.queue.clear()

    @property
    def alive(self) -> bool:
        """Whether the stage's thread is still running."""
        return self._thread.is_alive()

    def __enter__(self) -> IteratorStage[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def now() -> float:
    """The engine's clock (``time.monotonic``), shared with the capture timestamps."""
    return time.monotonic()


__all__ = ["END", "ErrorBox", "IteratorStage", "StageQueue", "StageThread", "Timer", "now"]
