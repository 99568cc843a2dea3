"""Termination signals handled like Ctrl-C, in one place for every command.

``SIGTERM`` (``kill``, ``timeout``, a service manager) and ``SIGHUP`` (the terminal went
away) raise :class:`Terminated`, a :class:`KeyboardInterrupt`, in the main thread: every
command already cleans up after Ctrl-C (``remove`` deletes its temporary output, the live
commands finish what they recorded), so they do the same for these signals. A repeated
signal during that cleanup is ignored, so the cleanup finishes; the exit code is
``128 + signal number``, as shells report a process killed by that signal.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """A termination signal arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        """``"SIGTERM"`` or ``"SIGHUP"``."""
        return signal.Signals(self.signum).name


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + (interrupt.signum if isinstance(interrupt, Terminated) else signal.SIGINT)


def describe(interrupt: KeyboardInterrupt) -> str:
    """``"Ctrl-C"``, ``"SIGTERM"``..."""
    return interrupt.name if isinstance(interrupt, Terminated) else "Ctrl-C"


_HANDLED = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)


@contextlib.contextmanager
def terminate_like_ctrl_c() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread.

    Outside the main thread (signal handlers cannot be installed there) it does nothing.
    The previous handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if fired.is_set():
            return  # already cleaning up: let the cleanup finish
        fired.set()
        raise Terminated(signum)

    previous = {}
    for signum in _HANDLED:
        try:
            previous[signum] = signal.signal(signum, handler)
        except (ValueError, OSError):  # pragma: no cover - exotic platforms
            pass
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


__all__ = ["Terminated", "describe", "exit_code", "terminate_like_ctrl_c"]
