"""``bench batch`` runs end to end on tiny clips (its own local Ray) and reports same-run ratios."""

from __future__ import annotations

import json

import pytest

from moebius_video.bench.batch import BatchBenchRow, format_rows
from moebius_video.cli import main

pytest.importorskip("ray", reason='Ray is not installed: pip install "moebius-video[batch]"')


def test_bench_batch_reports_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "batch", "--clips", "2", "--frames", "8", "--size", "96x64",
                 "--workers", "2", "--fill", "telea", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    rows = {r["phase"]: r for r in data["rows"]}
    assert list(rows) == ["remove x2, in sequence", "ray start (ray.init)", "ray batch (2 workers)",
                          "ray shutdown", "ray end to end"]
    seq, batch, whole = rows["remove x2, in sequence"], rows["ray batch (2 workers)"], rows["ray end to end"]
    assert seq["frames"] == batch["frames"] == whole["frames"] == 16
    assert batch["speedup"] == pytest.approx(seq["seconds"] / batch["seconds"])
    assert whole["seconds"] >= batch["seconds"] + rows["ray start (ray.init)"]["seconds"]
    assert data["facts"]["outputs_complete"] is True
    assert seq["cpu_ms_per_frame"] > 0 and batch["cpu_ms_per_frame"] > 0
    table = format_rows([BatchBenchRow(**r) for r in data["rows"]], data["facts"])
    assert "ray end to end" in table and "every output has all its frames: yes" in table
