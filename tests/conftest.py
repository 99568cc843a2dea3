"""Shared fixtures: device/dtype, real data location, opt-in markers."""

from __future__ import annotations

import time
from pathlib import Path

import helpers
import pytest
from helpers import SHARED_DATA


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow test: run with --runslow")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; none is present")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_reaches_python():  # type: ignore[no-untyped-def]
    """Ctrl-C is Python's KeyboardInterrupt here and in the commands the tests start.

    A shell that runs the suite in the background without job control starts it with SIGINT
    ignored; Python then installs no KeyboardInterrupt handler, ``_thread.interrupt_main``
    does nothing and every child inherits the ignored signal: the Ctrl-C tests fail (or a
    live run waits forever for its interrupt). Measured on this machine: 4 such failures in
    one backgrounded ``.ci/run``. A Python-level handler is reset to the default by ``exec``,
    so the commands the tests start get Ctrl-C again too.
    """
    import signal

    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():  # type: ignore[no-untyped-def]
    """One intra-op thread: on a small shared CPU two spinning threads run up to ~10x slower,
    and the suite's work is many tiny tensors, where threads only add overhead."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def shared_data() -> Path:
    """The real-footage folder, or a skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} does not exist")
    return SHARED_DATA


@pytest.fixture
def device() -> str:
    return "cpu"


@pytest.fixture
def dtype():  # type: ignore[no-untyped-def]
    import torch

    return torch.float32


@pytest.fixture(autouse=True)
def no_leftover_threads():  # type: ignore[no-untyped-def]
    """Every test must leave no live-engine thread behind."""
    yield
    deadline = time.monotonic() + 2.0
    while helpers.live_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert helpers.live_threads() == []


@pytest.fixture
def h():  # type: ignore[no-untyped-def]
    """The shared helper module, for tests that take it as a fixture."""
    return helpers
