"""Long jobs (tracking, removal) in a worker thread, with progress and cancellation.

A job never touches HTTP: it is a function that receives its :class:`Job` and reports
through :meth:`Job.progress`, which raises :class:`JobCancelled` once :meth:`Job.cancel` was
called. The library's own clean-up (temporary outputs deleted on any exception) does the
rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from moebius_video.errors import MoebiusError

logger = logging.getLogger(__name__)


class JobCancelled(MoebiusError, RuntimeError):
    """Raised inside a job's thread once the job was asked to stop."""


class JobBusyError(MoebiusError, RuntimeError):
    """A job cannot start because another one holds what it needs (named in the message)."""


@dataclass(frozen=True)
class JobStatus:
    """What the page shows about a job (a snapshot).

    Attributes:
        id: The job's id.
        kind: ``"track"`` or ``"remove"``.
        state: ``"running"``, ``"done"``, ``"failed"`` or ``"cancelled"``.
        done: Units of work done (frames).
        total: Units expected (``None`` when unknown).
        message: A one-line summary (the error's message when it failed).
        seconds: Time since the start (or the job's duration once finished).
    """

    id: int
    kind: str
    state: str
    done: int
    total: int | None
    message: str
    seconds: float

    @property
    def finished(self) -> bool:
        """Whether the job has ended (any way)."""
        return self.state != "running"


class Job:
    """One long task in a daemon thread.

    Args:
        job_id: A number unique in the server.
        kind: What it does (``"track"``, ``"remove"``).
        work: The function run in the thread; it returns a one-line summary.
        on_end: Called in the thread once ``work`` has ended (success or not).
    """

    def __init__(self, job_id: int, kind: str, work: Callable[[Job], str],
                 on_end: Callable[[Job], None] | None = None) -> None:
        self.id = job_id
        self.kind = kind
        self._work = work
        self._on_end = on_end
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._state = "running"
        self._done = 0
        self._total: int | None = None
        self._message = ""
        self._started = time.monotonic()
        self._ended: float | None = None
        self.cancel_reason = ""
        self._thread = threading.Thread(target=self._run, name=f"web-{kind}-{job_id}", daemon=True)

    def start(self) -> Job:
        """Start the thread."""
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            message = self._work(self)
            state = "done"
        except JobCancelled:
            state, message = "cancelled", self.cancel_reason or "cancelled"
        except MoebiusError as error:
            state, message = "failed", str(error)
        except Exception as error:  # a bug or an unexpected library error: say it, keep serving
            logger.exception("job %s (%s) failed", self.id, self.kind)
            state, message = "failed", f"{type(error).__name__}: {error}"
        if state == "failed" and self._cancel.is_set():
            state, message = "cancelled", self.cancel_reason or "cancelled"
        with self._lock:
            self._state, self._message = state, message
            self._ended = time.monotonic()
        if state != "done":
            logger.info("job %s (%s) %s: %s", self.id, self.kind, state, message)
        if self._on_end is not None:
            try:
                self._on_end(self)
            except Exception:  # the job's outcome is already recorded
                logger.exception("job %s: clean-up failed", self.id)

    def progress(self, done: int, total: int | None = None) -> None:
        """Report progress; raises :class:`JobCancelled` when the job was cancelled.

        Raises:
            JobCancelled: :meth:`cancel` was called.
        """
        with self._lock:
            self._done = done
            if total is not None:
                self._total = total
        self.check()

    def check(self) -> None:
        """Raise :class:`JobCancelled` when the job was cancelled."""
        if self._cancel.is_set():
            raise JobCancelled(self.cancel_reason or "cancelled")

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the job to stop at its next progress report."""
        if not self._cancel.is_set():
            self.cancel_reason = reason
            self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancel.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; whether it has ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the job has not ended yet."""
        with self._lock:
            return self._state == "running"

    def status(self) -> JobStatus:
        """A snapshot for the page."""
        with self._lock:
            end = self._ended if self._ended is not None else time.monotonic()
            return JobStatus(self.id, self.kind, self._state, self._done, self._total,
                             self._message, round(end - self._started, 3))


__all__ = ["Job", "JobBusyError", "JobCancelled", "JobStatus"]
