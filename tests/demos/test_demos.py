"""The demos run as a newcomer would run them (the webcam one needs a camera and a window)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from moebius_video.io import open_source

DEMOS = Path(__file__).resolve().parents[2] / "demos"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMOS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_remove_object_demo_on_its_generated_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "removed.mp4"
    assert _load("remove_object").main(["-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    source = open_source(out)
    frames = [f.image for f in source]
    source.close()
    assert len(frames) == 90 and frames[0].shape == (360, 640, 3)
    assert not np.array_equal(frames[0], frames[45])  # the scene moves: a real video came out


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_stream_demo_streams_over_loopback_and_records(tmp_path: Path) -> None:
    # (the sender thread must end quietly when the receiver closes mid-frame: it used to die
    # with a broken pipe under load)
    out = tmp_path / "recorded.mp4"
    code = _load("stream_demo").main(["--port", "0", "--duration", "3", "--output", str(out)])
    assert code == 0
    source = open_source(out)
    n = sum(1 for _ in source)
    source.close()
    assert n >= 10  # about 30 frames/s were received, processed and recorded
