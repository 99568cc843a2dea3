"""The pipeline benchmark runs end to end on a tiny clip and reports same-run ratios."""

from __future__ import annotations

from pathlib import Path

from moebius_video.bench.common import scene_clip as make_clip
from moebius_video.bench.pipeline import format_throughput, measure_memory, measure_throughput


def test_throughput_rows_are_ratios_to_decode_encode(tmp_path: Path) -> None:
    clip, mask = make_clip(tmp_path, 96, 64, 12)
    rows = measure_throughput(clip, mask, fills=("telea", "temporal"))
    assert [r.stage for r in rows] == ["decode", "decode+encode", "remove (telea)", "remove (temporal)"]
    assert all(r.frames == 12 and r.fps > 0 for r in rows)
    base = rows[1]
    assert base.ratio_to_decode_encode == 1.0
    for r in rows:
        assert abs(r.ratio_to_decode_encode - r.fps / base.fps) < 1e-9
    assert "x decode+encode" in format_throughput(rows)
    assert rows[-1].ratio_to_temporal == 1.0
    assert abs(rows[2].ratio_to_temporal - rows[2].fps / rows[3].fps) < 1e-9  # type: ignore[operator]
    assert all(r.cpu_ms_per_frame > 0 for r in rows)
    assert "x temporal" in format_throughput(rows) and "CPU ms/frame" in format_throughput(rows)


def test_pipeline_and_memory_default_to_file_modes_fill() -> None:
    import inspect

    from moebius_video.bench.pipeline import DEFAULT_FILLS
    from moebius_video.cli import build_parser
    from moebius_video.fill import DEFAULT_FILLER

    assert DEFAULT_FILLS == ("temporal", DEFAULT_FILLER)
    assert inspect.signature(measure_memory).parameters["fill"].default == DEFAULT_FILLER
    parser = build_parser()
    assert parser.parse_args(["bench", "memory"]).fill == DEFAULT_FILLER
    assert parser.parse_args(["bench", "pipeline"]).fill == "temporal," + DEFAULT_FILLER
    assert parser.parse_args(["bench"]).fill == "temporal," + DEFAULT_FILLER


def test_memory_is_measured_in_a_fresh_process(tmp_path: Path) -> None:
    clip, mask = make_clip(tmp_path, 96, 64, 8)
    row = measure_memory(clip, mask, fill="telea")
    assert row.frames == 8 and row.size == "96x64"
    assert 20 < row.peak_rss_mib < 4000  # a real reading of the child, in MiB
