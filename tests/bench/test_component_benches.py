"""``bench fill``, ``bench model``, ``bench tracking`` and ``bench live`` run end to end on
tiny sizes through the command line, and their measuring functions return sound rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moebius_video.bench.common import format_table, moving_ellipse_masks, object_frames
from moebius_video.bench.live import measure
from moebius_video.cli import main
from moebius_video.fill import parse_filler_spec


def test_filler_spec() -> None:
    assert parse_filler_spec("telea") == ("telea", {})
    assert parse_filler_spec("temporal:flow_size=432,x=0.5,y=a") == (
        "temporal", {"flow_size": 432, "x": 0.5, "y": "a"})


def test_fill_bench(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fill", "--size", "96x64", "-n", "6", "--fill", "telea", "temporal"]) == 0
    out = capsys.readouterr().out
    assert "temporal" in out and "x baseline" in out
    masks = moving_ellipse_masks(4, 160, 90, 0.1)
    assert abs(np.mean([m.mean() for m in masks]) - 0.1) < 0.02
    with pytest.raises(SystemExit) as bad:  # a usage error at parsing (exit 2)
        main(["bench", "fill", "--hole", "2"])
    assert bad.value.code == 2 and "between 0 and 1" in capsys.readouterr().err


def test_model_bench(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "model", "--config", "tiny", "--steps", "1", "--warmup", "0", "--no-vae"]
    assert main([*argv, "--dtypes", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "ms/step" in out and "fp32" in out
    assert main([*argv, "--dtypes", "fp8"]) == 1
    assert "unknown dtype" in capsys.readouterr().err


def test_tracking_bench(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "tracking", "--sizes", "160x96", "--frames", "6", "--trackers", "dis", "flow"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "frames/s" in out and "flow" in out and "160x96" in out
    assert main([*argv[:-2], "nope"]) == 1
    with pytest.raises(SystemExit) as bad:
        main(["bench", "tracking", "--sizes", "160by96"])
    assert bad.value.code == 2  # a bad flag value is a usage error


def test_live_bench(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "live", "--sizes", "96x64", "--frames", "12", "--fps", "100", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["pipeline"] for r in rows] == ["decode+encode", "remove"] and rows[0]["size"] == "96x64"
    rows = measure(96, 64, frames=8, fps=100)
    assert [r.pipeline for r in rows] == ["decode+encode", "remove"]
    assert all(r.frames_per_second > 0 and r.frames_in == 8 for r in rows)
    assert rows[0].latency_ms_p50 <= rows[0].latency_ms_max


def test_shared_table_and_scene() -> None:
    frames, first = object_frames(3, 64, 48)
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3) and 0.03 < first.mean() < 0.1
    rows = [type("Row", (), {"name": "a", "fps": 12.345, "none": None})()]
    table = format_table(rows, [("name", "name", "s"), ("frames/s", "fps", ".1f"), ("x", "none", "d")])
    assert table.splitlines() == ["name  frames/s  x", "   a      12.3  -"]
