"""The evaluation (function and ``python -m tracking evaluate``) on a synthetic clip folder, and the metrics."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import make_clip

from tracking import TrackingError, evaluate
from tracking.cli import main
from tracking.geometry import dilate_mask
from tracking.metrics import COLLATERAL_PX, boundary_f, collateral, coverage, jaccard


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    clip = make_clip(n=8)
    for name, with_masks in (("synth", True), ("sparse", False)):
        (root / name / "frames").mkdir(parents=True)
        (root / name / "masks").mkdir()
        for t, (frame, mask) in enumerate(zip(clip.frames, clip.masks, strict=True)):
            cv2.imwrite(
                str(root / name / "frames" / f"{t:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            )
            if with_masks or t == 0:
                cv2.imwrite(
                    str(root / name / "masks" / f"{t:05d}.png"), mask.astype(np.uint8) * 255
                )
    return root


def test_evaluate_function(data_dir: Path) -> None:
    result = evaluate.evaluate(data_dir, keyframe_every=4)
    assert "sparse" in result.skipped
    assert {s.clip for s in result.scores} == {"synth"}
    flow = result.mean("flow", "first")
    static = result.mean("static", "first")
    assert flow.J > static.J
    assert flow.coverage > 0.95
    assert result.mean("flow", "keyframes").frames == 6  # frames 0 and 4 are keyframes
    # the static mask stays where the object was (it moves ~3 px a frame): what it leaves
    # behind is collateral in the last frames; the flow tracker follows the object
    rows = {(s.tracker, s.mode): s for s in result.scores}
    assert rows["static", "first"].collateral > 0 and rows["static", "first"].coll_frame >= 5
    assert flow.collateral < 0.2 * static.collateral
    assert static.collateral == max(s.collateral for s in result.scores if s.tracker == "static" and s.mode == "first")
    table = evaluate.format_table(result)
    assert "mean" in table and "coll%" in table


def test_step_mode_scores_one_frame_from_every_true_mask(data_dir: Path) -> None:
    """``step``: a fresh start on each frame's truth, scored one frame later (a diagnosis:
    what one frame costs the tracker). Not run unless asked."""
    assert "step" not in evaluate.DEFAULT_MODES
    result = evaluate.evaluate(data_dir, trackers=["flow", "static"], modes=("step",))
    flow, static = result.mean("flow", "step"), result.mean("static", "step")
    assert flow.frames == static.frames == 7  # every frame but the first
    # one frame from the truth the static mask lags the object by one frame's motion
    # (~3 px), which the flow tracker follows
    assert flow.J > static.J and flow.J > 0.9


def test_evaluate_cli(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate", str(data_dir), "--trackers", "dis", "--modes", "first", "--max-frames", "5", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["means"][0]["tracker"] == "dis" and out["means"][0]["frames"] == 4
    assert main(["evaluate", str(data_dir / "nope")]) == 2
    assert "error: data_dir" in capsys.readouterr().err
    assert main(["evaluate", "--protocol", "pasted", str(data_dir), "--modes", "step"]) == 2
    assert "--modes step is for the DAVIS protocol" in capsys.readouterr().err
    with pytest.raises(TrackingError, match="clips"):
        evaluate.evaluate(data_dir, clips=["sparse"])


def test_metrics() -> None:
    a = np.zeros((50, 60), bool)
    a[10:30, 10:30] = True
    b = np.roll(a, 1, axis=1)
    assert jaccard(a, a) == 1.0 and jaccard(a, np.zeros_like(a)) == 0.0
    assert jaccard(np.zeros_like(a), np.zeros_like(a)) == 1.0
    assert 0.9 < jaccard(a, b) < 0.95
    assert boundary_f(a, b) == 1.0  # within the tolerance
    assert boundary_f(a, np.roll(a, 20, axis=0)) < 0.5
    assert boundary_f(a, np.zeros_like(a)) == 0.0
    assert coverage(dilate_mask(b, 4), a) == 1.0
    assert coverage(b, a) == pytest.approx(0.95)
    # collateral: the share of the frame masked more than COLLATERAL_PX from the object
    assert collateral(dilate_mask(a, COLLATERAL_PX - 2), a) == 0.0
    far = np.zeros_like(a)
    far[40:50, 50:60] = True  # > 20 px from the square
    assert collateral(a | far, a) == pytest.approx(100 / a.size)
    assert collateral(a, np.zeros_like(a)) == pytest.approx(400 / a.size)  # object out: all of it
