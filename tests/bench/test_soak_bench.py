"""``bench soak`` on a short run: rows every N frames with real resource figures."""

from __future__ import annotations

import os

from moebius_video.bench.soak import SoakRow, soak, verdict


def test_soak_rows_sample_the_running_engine() -> None:
    seen: list[SoakRow] = []
    rows = soak(frames=120, width=96, height=64, fps=400.0, every=20, loop=30, on_row=seen.append)
    assert rows == seen and len(rows) >= 2
    for k, row in enumerate(rows, start=1):
        assert row.frames_in >= 20 * k and row.frames_in >= row.frames_out
        assert row.rss_mib > 10 and row.threads >= 4  # capture, track, fill, encode at least
        if os.path.isdir("/proc/self/fd"):
            assert row.open_files > 0
        assert 0 < row.latency_ms_p50 <= row.latency_ms_p95 <= row.latency_ms_max
    assert any(word in verdict(rows) for word in ("flat", "too few"))


def test_verdict_flags_a_growing_thread_count() -> None:
    base = SoakRow(1000, 1000, 10, 200.0, 12, 7, 20, 30, 40, 30, 0)
    grown = SoakRow(3000, 3000, 30, 201.0, 13, 7, 20, 30, 40, 30, 0)
    end = SoakRow(3100, 3100, 31, 150.0, 9, 7, 20, 30, 40, 30, 0)  # stopping: ignored
    assert verdict([base, base, grown, end]).startswith("NOT flat")
    assert verdict([base, base, base, end]).startswith("flat")
    leak = SoakRow(3000, 3000, 30, 260.0, 12, 7, 20, 30, 40, 30, 0)
    assert verdict([base, base, leak, end]).startswith("NOT flat")
    assert verdict([base, base, end]) == "too few windows for a verdict"
