"""Clips and manifests for the batch tests (real PyAV encoding into tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import scene

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
