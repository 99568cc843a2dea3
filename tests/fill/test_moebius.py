"""The Moebius filler: a real (tiny, random-weight) pipeline saved to disk and loaded back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import clip_with_masks, make_tiny_network, make_tiny_vae, read_video, scene

from moebius_video.cli import main
from moebius_video.errors import CheckpointError
from moebius_video.fill import get_filler
from moebius_video.model import MoebiusInpaintingPipeline


@pytest.fixture
def tiny_model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-moebius"
    MoebiusInpaintingPipeline(make_tiny_network(), make_tiny_vae()).save_pretrained(folder)
    return folder


def test_moebius_filler_fills_only_the_hole(tiny_model_dir: Path) -> None:
    filler = get_filler("moebius", model=str(tiny_model_dir), device="cpu",
                        num_inference_steps=2)
    f = scene(width=96, height=64, frames=1).frame(0)
    result = filler.fill(f.image, f.mask)
    np.testing.assert_array_equal(result.image[~f.mask], f.image[~f.mask])
    assert not np.array_equal(result.image[f.mask], f.image[f.mask])
    assert result.spatial_pixels == int(f.mask.sum())
    # Seeded per frame: the same frame gives the same fill (no flicker on a static hole).
    np.testing.assert_array_equal(filler.fill(f.image, f.mask).image, result.image)


def test_moebius_filler_defaults_to_the_shipped_model() -> None:
    """Without --model the small model that ships in the package is used, with its settings."""
    from moebius_video.model.latent import PixelUnshuffleLatent

    filler = get_filler("moebius", device="cpu")
    assert isinstance(filler.pipeline.vae, PixelUnshuffleLatent)
    assert filler.num_inference_steps == filler.pipeline.defaults["num_inference_steps"]
    assert filler.guidance_scale == filler.pipeline.defaults["guidance_scale"]
    f = scene(width=96, height=64, frames=1).frame(0)
    result = filler.fill(f.image, f.mask)
    np.testing.assert_array_equal(result.image[~f.mask], f.image[~f.mask])
    with pytest.raises(CheckpointError, match="no such file or folder"):
        get_filler("moebius", model="/nonexistent/weights")


def test_temporal_fill_with_the_model_as_spatial_fallback(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    clip, _, first = clip_with_masks(tmp_path, scene(frames=3), audio=False)
    out = tmp_path / "out"
    code = main(["remove", str(clip), "--mask", str(first), "-o", f"{out}/", "--spatial", "moebius",
                 "--device", "cpu", "--model-steps", "1", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert len(list(out.glob("*.png"))) == 3
    code = main(["remove", str(clip), "--mask", str(first), "-o", str(tmp_path / "x.mp4"),
                 "--fill", "telea", "--spatial", "ns"])
    err = capsys.readouterr().err
    assert code == 1 and "--spatial applies to" in err


def test_remove_with_the_model(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    clip, _, first = clip_with_masks(tmp_path, scene(frames=4), audio=False)
    out = tmp_path / "out.mp4"
    code = main(["remove", str(clip), "--mask", str(first), "-o", str(out), "--fill", "moebius",
                 "--model", str(tiny_model_dir), "--model-steps", "2", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    frames, _, _, _ = read_video(out)
    assert len(frames) == 4
    code = main(["remove", str(clip), "--mask", str(first), "-o", str(tmp_path / "x.mp4"),
                 "--fill", "moebius", "--model", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 1 and "missing" in err and len(err.strip().splitlines()) == 1
