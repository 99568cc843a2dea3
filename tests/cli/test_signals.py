"""Issue #15 item 2: SIGTERM and SIGHUP behave like Ctrl-C, in real subprocesses.

``remove`` deletes its temporary outputs (video and mask folder); ``stream`` finishes the
file it recorded so far, playable, at its final name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from helpers import read_video, scene

from moebius_video.synthetic import write_scene_clip

ROOT = Path(__file__).resolve().parents[2]


def _start(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "moebius_video", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the command ended before the signal (rc {proc.returncode}): {err}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the command never got going")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("long")
    clip = folder / "clip.mp4"
    write_scene_clip(clip, scene(width=160, height=96, frames=400), frame_rate=Fraction(25),
                     audio=False, crf=20)
    return clip


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_remove_killed_by_a_signal_leaves_nothing(signum: int, long_clip: Path, tmp_path: Path) -> None:
    proc = _start(["remove", str(long_clip), "--box", "60,30,30,30", "--fill", "telea",
                   "-o", "out.mp4", "--save-masks", "masks"], tmp_path)
    _wait_for(lambda: any(p.name.startswith(".out.partial-") and p.stat().st_size > 0
                          for p in tmp_path.iterdir()), proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert signal.Signals(signum).name in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output, no hidden partials


def test_stream_killed_by_sigterm_keeps_a_playable_recording(long_clip: Path, tmp_path: Path) -> None:
    proc = _start(["stream", str(long_clip), "out.mp4", "--box", "60,30,30,30", "--fill", "telea",
                   "--realtime"], tmp_path)
    _wait_for(lambda: any(p.name.startswith(".out.partial-") for p in tmp_path.iterdir()), proc)
    time.sleep(2.0)  # a second or two of recording (the clip lasts 16 s at its own rate)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "SIGTERM" in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # finished, renamed into place
    frames, _, _, _ = read_video(tmp_path / "out.mp4")
    assert 3 <= len(frames) < 400
    assert f"{len(frames)} frames out of" in out
