"""Issue 13's end-to-end reproduction: ``remove`` must not change the scene away from the dog."""

from __future__ import annotations

import pytest
from helpers import SHARED_DATA

from moebius_video.eval.removal_repro import run_repro


@pytest.mark.skipif(
    not (SHARED_DATA / "videos" / "box.mp4").exists(), reason="needs ../shared/data/videos/box.mp4"
)
def test_remove_leaves_the_scene_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_repro(SHARED_DATA, frames=40, save=tmp_path / "png")
    assert result.frames == 40
    assert result.collateral_max <= 0.01
    # changed scene pixels: no more than the encoder's own noise, plus a little
    assert result.far_changed_max <= result.noise_max + 0.005, result
    assert len(list((tmp_path / "png").glob("*.png"))) >= 2
