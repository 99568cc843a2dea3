"""Clips and manifests for the batch tests (real PyAV encoding into tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import read_video, scene

from moebius_video.batch import load_report
from moebius_video.io.masks import save_mask
from moebius_video.synthetic import write_scene_clip


def make_clip(folder: Path, name: str, *, frames: int = 12, width: int = 96, height: int = 64,
              seed: int = 0) -> tuple[Path, Path]:
    """``name.mp4`` and its first-frame mask ``name.mask.png`` in ``folder``."""
    sc = scene(width=width, height=height, frames=frames, seed=seed)
    clip = folder / f"{name}.mp4"
    write_scene_clip(clip, sc, audio=False, crf=18)
    mask = folder / f"{name}.mask.png"
    save_mask(mask, sc.frame(0).mask)
    return clip, mask


@pytest.fixture
def clip_factory():  # type: ignore[no-untyped-def]
    """:func:`make_clip`, for the test modules."""
    return make_clip


@pytest.fixture
def four_jobs(tmp_path: Path) -> Path:
    """A manifest of four jobs: two good clips, a corrupt one and one with a bad mask.

    Returns the manifest (``jobs.csv``); its clips sit beside it.
    """
    src = tmp_path / "src"
    src.mkdir()
    make_clip(src, "a", seed=1)
    make_clip(src, "b", seed=2)
    make_clip(src, "c", seed=3)
    good = (src / "a.mp4").read_bytes()
    (src / "corrupt.mp4").write_bytes(good[:48] + bytes(2000))  # a header, then zeros
    save_mask(src / "tiny.png", np.ones((8, 8), bool))  # not the video's size
    manifest = src / "jobs.csv"
    manifest.write_text(
        "input,mask,box,fill,output\n"
        "a.mp4,a.mask.png,,telea,\n"
        'b.mp4,,"20,16,24,20",,b_out.mp4\n'
        "corrupt.mp4,a.mask.png,,,\n"
        "c.mp4,tiny.png,,,\n",
        encoding="utf-8",
    )
    return manifest


def _check_four_job_report(out: Path, *, rerun: bool = False) -> dict:
    """The report of the four-job manifest: a and b done (or skipped), two failures."""
    report = load_report(out / "report.json")
    jobs = {Path(j["output"]).name: j for j in report["jobs"]}
    assert list(jobs) == ["a.mp4", "b_out.mp4", "corrupt.mp4", "c.mp4"]
    good = "skipped" if rerun else "done"
    assert jobs["a.mp4"]["status"] == jobs["b_out.mp4"]["status"] == good
    assert jobs["a.mp4"]["frames"] == jobs["b_out.mp4"]["frames"] == 12
    if not rerun:
        assert jobs["a.mp4"]["seconds"] > 0 and jobs["a.mp4"]["error"] is None
    assert jobs["corrupt.mp4"]["status"] == "failed"
    assert "corrupt.mp4" in jobs["corrupt.mp4"]["error"]
    assert jobs["c.mp4"]["status"] == "failed"
    assert "8x8" in jobs["c.mp4"]["error"] and "--resize-mask" in jobs["c.mp4"]["error"]
    assert jobs["c.mp4"]["where"] == "jobs.csv line 5"
    summary = report["summary"]
    assert summary["jobs"] == 4 and summary["failed"] == 2
    assert (summary["done"], summary["skipped"]) == ((0, 2) if rerun else (2, 0))
    assert summary["frames"] == (0 if rerun else 24)
    assert report["state"] == "finished"
    for name in ("a.mp4", "b_out.mp4"):
        frames, _, _, _ = read_video(out / name)
        assert len(frames) == 12
    assert not (out / "corrupt.mp4").exists() and not (out / "c.mp4").exists()
    assert [p.name for p in out.iterdir() if ".partial-" in p.name] == []
    return report


@pytest.fixture
def check_four_job_report():  # type: ignore[no-untyped-def]
    """Checks the report of :func:`four_jobs`: a and b done (or skipped), two failures."""
    return _check_four_job_report
