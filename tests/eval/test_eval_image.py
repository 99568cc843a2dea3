"""``moebius-video eval image``: hole-only scores, baselines, a tiny model row, examples, CLI."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from moebius_video.cli import main
from moebius_video.errors import InvalidArgumentError
from moebius_video.eval import image as image_eval
from moebius_video.eval.image import (
    EXAMPLE_GAP,
    EXAMPLE_HEADER,
    ImageEvalConfig,
    ImageEvalReport,
    evaluate_image,
    fill_opencv,
    format_table,
    score_fill,
    write_examples,
)


@dataclass
class Sample:
    name: str
    image: np.ndarray
    mask: np.ndarray
    kind: str


def _image(size: int, seed: int) -> np.ndarray:
    """A smooth colour gradient plus a mild texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([200 * x + 30, 180 * y + 40, 120 * (x + y) / 2 + 60], axis=-1)
    img += 12 * np.sin(x * 25 + seed)[..., None] + rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _mask(size: int, kind: str) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    if kind == "thin":
        cv2.line(m, (size // 8, size // 4), (7 * size // 8, 3 * size // 4), 1, max(1, size // 32))
    else:
        m[size // 3 : 2 * size // 3, size // 3 : size // 2] = 1
    return m > 0


def _samples(size: int, count: int = 2) -> list[Sample]:
    kinds = ("thin", "box")
    return [Sample(f"s{i}", _image(size, i), _mask(size, kinds[i % 2]), kinds[i % 2]) for i in range(count)]


def test_opencv_rows_and_verdict_without_model() -> None:
    config = ImageEvalConfig(sizes=(32,), count=2)
    report = evaluate_image({32: _samples(32)}, None, config)
    assert [r.method for r in report.scores] == ["telea", "ns"]
    for r in report.scores:
        assert r.size == 32 and r.samples == 2 and r.kind == "all"
        assert math.isfinite(r.psnr) and r.psnr > 15  # smooth image: a fair fill
        assert 0 < r.ssim <= 1 and 0 < r.l1 < 40 and r.ms >= 0
    assert {(r.method, r.kind) for r in report.per_kind} == {
        ("telea", "thin"), ("telea", "box"), ("ns", "thin"), ("ns", "box")}
    assert report.beats_telea == {32: None} and report.beats_ns == {32: None}
    table = format_table(report, per_kind=True)
    assert "telea / thin" in table and "not measured" in table


def test_fill_opencv_keeps_colour_order() -> None:
    img = np.zeros((24, 24, 3), np.uint8)
    img[..., 0] = 250  # pure red
    mask = np.zeros((24, 24), bool)
    mask[8:16, 8:16] = True
    blank = img.copy()
    blank[mask] = 0
    for method in ("telea", "ns"):
        out = fill_opencv(blank, mask, method)
        assert out[12, 12, 0] > 200 and out[12, 12, 2] < 30
    with pytest.raises(InvalidArgumentError):
        fill_opencv(blank, mask, "lama")


def test_score_is_hole_only() -> None:
    s = _samples(32, 1)[0]
    filled = fill_opencv(image_eval.blank_hole(s.image, s.mask), s.mask, "telea")
    before = score_fill(s.image, filled, s.mask)
    corrupted = filled.copy()
    corrupted[~s.mask] = 255 - corrupted[~s.mask]
    after = score_fill(s.image, corrupted, s.mask)
    assert before == after
    exact = score_fill(s.image, s.image, s.mask)
    assert exact.psnr == math.inf and exact.l1 == 0 and exact.ssim == pytest.approx(1.0)


def test_model_rows_with_tiny_pipeline(tmp_path: Path) -> None:
    from helpers import make_tiny_network, make_tiny_vae

    from moebius_video.model.pipeline import MoebiusInpaintingPipeline

    torch.manual_seed(0)
    pipe = MoebiusInpaintingPipeline(make_tiny_network(sample_size=8), make_tiny_vae())
    config = ImageEvalConfig(sizes=(64,), count=3, steps=(1, 2), default_steps=1, count_slow=2)
    samples = _samples(64, 3)
    report = evaluate_image({64: samples}, pipe, config)
    rows = {r.method: r for r in report.scores}
    assert set(rows) == {"telea", "ns", "moebius@1", "moebius@2"}
    assert rows["moebius@1"].default and not rows["moebius@2"].default
    assert rows["moebius@1"].samples == 3 and not rows["moebius@1"].capped
    assert rows["moebius@2"].samples == 2 and rows["moebius@2"].capped
    for name in ("moebius@1", "moebius@2"):
        r = rows[name]
        assert math.isfinite(r.psnr) and math.isfinite(r.ssim) and math.isfinite(r.l1) and r.ms > 0
    assert isinstance(report.beats_telea[64], bool) and isinstance(report.beats_ns[64], bool)
    ns_verdict = report.beats_ns[64]
    assert ns_verdict == (rows["moebius@1"].psnr > rows["ns"].psnr and rows["moebius@1"].ssim > rows["ns"].ssim)
    assert "moebius@1 (default)" in format_table(report) and "--count-slow" in format_table(report)
    assert ("BEATS NS" if ns_verdict else "does NOT beat NS") in format_table(report)

    # JSON round trip.
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report.to_dict()))
    assert ImageEvalReport.from_dict(json.loads(path.read_text())) == report

    # Examples grid: masked input | telea | ns | model | original, one row per sample.
    png = write_examples(samples[:2], pipe, config, tmp_path / "ex" / "grid.png")
    grid = cv2.imread(str(png))
    assert grid.shape == (EXAMPLE_HEADER + 2 * 64 + EXAMPLE_GAP, 5 * 64 + 4 * EXAMPLE_GAP, 3)
    # The original column is the sample itself (RGB written as a proper PNG).
    y, x = EXAMPLE_HEADER, 4 * (64 + EXAMPLE_GAP)
    np.testing.assert_array_equal(cv2.cvtColor(grid[y : y + 64, x : x + 64], cv2.COLOR_BGR2RGB), samples[0].image)


def test_examples_without_model_have_four_columns(tmp_path: Path) -> None:
    config = ImageEvalConfig(sizes=(32,), count=1)
    png = write_examples(_samples(32, 1), None, config, tmp_path / "g.png")
    assert cv2.imread(str(png)).shape == (EXAMPLE_HEADER + 32, 4 * 32 + 3 * EXAMPLE_GAP, 3)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidArgumentError):
        ImageEvalConfig(sizes=())
    with pytest.raises(InvalidArgumentError):
        ImageEvalConfig(steps=(0,))
    with pytest.raises(InvalidArgumentError):
        evaluate_image({}, None, ImageEvalConfig())
    bad = Sample("b", np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4), bool), "box")
    with pytest.raises(InvalidArgumentError, match="mask shape"):
        evaluate_image({8: [bad]}, None, ImageEvalConfig(sizes=(16,)))


def test_run_json_with_stubbed_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import sys
    import types

    fake = types.ModuleType("moebius_video.train.data")
    fake.eval_samples = lambda roots, size, count, *, seed=0, **kw: _samples(size, count)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "moebius_video.train.data", fake)
    out = tmp_path / "r.json"
    assert main(["eval", "image", str(tmp_path), "--no-model", "--sizes", "32", "--count", "2",
                 "--json", str(out), "--examples", str(tmp_path / "ex"), "--examples-count", "1"]) == 0
    assert "telea" in capsys.readouterr().out
    report = ImageEvalReport.from_dict(json.loads(out.read_text()))
    assert [r.method for r in report.scores] == ["telea", "ns"]
    assert (tmp_path / "ex" / "image_eval_32.png").is_file()


def test_cli_missing_data_dir_is_one_line_error(capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["eval", "image", "/nonexistent"])
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("moebius-video: error: ") and "/nonexistent" in lines[0]


def test_cli_missing_model_is_checkpoint_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["eval", "image", str(tmp_path), "--model", str(tmp_path / "no-such-model")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "no-such-model" in err, err
