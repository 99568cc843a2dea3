"""`bench live` runs end to end on a tiny size."""

from __future__ import annotations

import argparse

from moebius_video.engine import live_bench


def test_live_bench_measures_both_pipelines(capsys) -> None:
    parser = argparse.ArgumentParser()
    live_bench.add_arguments(parser)
    args = parser.parse_args(["--sizes", "96x64", "--frames", "12", "--fps", "100"])
    assert live_bench.run(args) == 0
    out = capsys.readouterr().out
    assert "decode+encode" in out and "remove" in out and "96x64" in out
    rows = live_bench.measure(96, 64, frames=8, fps=100)
    assert [r.pipeline for r in rows] == ["decode+encode", "remove"]
    assert all(r.frames_per_second > 0 and r.frames_in == 8 for r in rows)
    assert rows[0].latency_ms_p50 <= rows[0].latency_ms_max
