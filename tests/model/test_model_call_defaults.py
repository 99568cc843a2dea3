"""A call's settings resolve as in diffusers: the caller's, else the model's, else the reference's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from moebius_video.model import MoebiusInpaintingPipeline
from moebius_video.model.pipeline import REFERENCE_CALL_DEFAULTS

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_example() -> str:
    """The README's shipped-model example, verbatim."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- shipped-model-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its shipped-model example block"
    return match.group(1)


class _CountCalls:
    """Counts the denoising network's forward passes (and the batch size of each)."""

    def __init__(self, network: torch.nn.Module) -> None:
        self.batches: list[int] = []
        self._handle = network.register_forward_hook(self._hook)

    def _hook(self, module, args, output) -> None:
        self.batches.append(int(args[0].shape[0]))

    def remove(self) -> None:
        self._handle.remove()


def test_readme_call_runs_the_models_saved_steps(tmp_path, monkeypatch):
    """The documented call on the shipped model runs the 4 steps at guidance 1 it saved."""
    from moebius_video.model.pipeline import SHIPPED_MODELS

    index = json.loads((SHIPPED_MODELS["moebius-tiny"] / "model_index.json").read_text())
    saved = index["moebius_video_defaults"]
    assert saved["num_inference_steps"] != REFERENCE_CALL_DEFAULTS["num_inference_steps"]

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    mask = np.zeros((96, 128), np.uint8)
    mask[30:60, 40:90] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    monkeypatch.chdir(tmp_path)

    counters: list[_CountCalls] = []
    real = MoebiusInpaintingPipeline.from_pretrained.__func__

    def counting_from_pretrained(cls, *args, **kwargs):
        pipe = real(cls, *args, **kwargs)
        counters.append(_CountCalls(pipe.network))
        return pipe

    monkeypatch.setattr(
        MoebiusInpaintingPipeline, "from_pretrained", classmethod(counting_from_pretrained)
    )
    exec(compile(_readme_example(), "README.md", "exec"), {})  # noqa: S102 - the README, verbatim

    assert (tmp_path / "removed.png").is_file()
    (counter,) = counters
    # Guidance 1 runs only the conditional half: one pass of batch 1 per step.
    assert counter.batches == [1] * int(saved["num_inference_steps"])
    assert float(saved["guidance_scale"]) == 1.0


def test_none_resolves_to_model_then_reference(tiny_pipeline):
    pipe = tiny_pipeline
    assert pipe.defaults == {}
    assert pipe.call_settings() == (20, 4.5, 1.0)  # the reference's
    pipe.defaults = {"num_inference_steps": 3, "guidance_scale": 2.0}
    assert pipe.call_settings() == (3, 2.0, 1.0)  # the model's
    assert pipe.call_settings(5, None, 0.5) == (5, 2.0, 0.5)  # the caller's first

    counter = _CountCalls(pipe.network)
    image = np.full((40, 48, 3), 128, np.uint8)
    mask = np.zeros((40, 48), np.uint8)
    mask[10:25, 10:30] = 255
    try:
        pipe(image, mask, generator=torch.Generator().manual_seed(0))
        # Guidance 2 runs the conditional and unconditional halves together: batch 2.
        assert counter.batches == [2, 2, 2]
        counter.batches.clear()
        pipe(image, mask, num_inference_steps=2, guidance_scale=1.0)
        assert counter.batches == [1, 1]
    finally:
        counter.remove()


def test_saved_defaults_round_trip(tiny_pipeline, tmp_path):
    tiny_pipeline.defaults = {"num_inference_steps": 2, "guidance_scale": 1.0}
    tiny_pipeline.save_pretrained(tmp_path / "m")
    loaded = MoebiusInpaintingPipeline.from_pretrained(tmp_path / "m")
    assert loaded.call_settings() == (2, 1.0, 1.0)


def test_bad_saved_default_is_checked(tiny_pipeline):
    from moebius_video.errors import InvalidArgumentError

    tiny_pipeline.defaults = {"num_inference_steps": 0}
    with pytest.raises(InvalidArgumentError, match="num_inference_steps"):
        tiny_pipeline(np.zeros((16, 16, 3), np.uint8), np.ones((16, 16), np.uint8))


def test_correction_blur_smooths_the_block_grid_and_round_trips(tmp_path):
    """The pixel-unshuffle latent makes each correction a 4x4 block; the blur removes the
    steps between blocks, keeps the output outside the hole, and is saved with the model.
    (The network is a 128-px push-pull model with a non-zero correction: the diffusion
    model shipped before the one-step student, which needed the blur, was like it.)"""
    from moebius_video.errors import InvalidArgumentError
    from moebius_video.model import MoebiusConfig, MoebiusNetwork
    from moebius_video.model.latent import PixelUnshuffleLatent
    from moebius_video.model.sampling import make_scheduler

    rng = np.random.default_rng(0)
    coarse = rng.integers(40, 220, (8, 8, 3)).astype(np.uint8)
    image = np.array(Image.fromarray(coarse).resize((128, 128), Image.BICUBIC))
    mask = np.zeros((128, 128), np.uint8)
    mask[32:96, 32:96] = 255  # the 128-px frame is the model's crop, pixel for pixel
    torch.manual_seed(0)
    corrector = MoebiusNetwork(MoebiusConfig(
        sample_size=32, in_channels=97, out_channels=48, block_out_channels=(32, 64),
        cross_attention_dim=40, encoder_hid_dim=72, input_skip=True,
    ))
    # The old model's corrections were smooth inside each 4x4 block and independent across
    # blocks: a per-block colour offset added to the network's (zero) correction.
    offsets = 0.15 * torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    corrector.register_forward_hook(lambda _m, _a, out: out + offsets.repeat_interleave(16, dim=1))
    model = MoebiusInpaintingPipeline(
        corrector.eval(), PixelUnshuffleLatent(4),
        make_scheduler({**make_scheduler().config, "prediction_type": "sample",
                        "timestep_spacing": "trailing"}),
        defaults={"num_inference_steps": 2, "guidance_scale": 1.0}, masked_fill="pushpull",
    )

    def run(blur: float) -> np.ndarray:
        model.correction_blur = blur
        out = model(image, mask, generator=torch.Generator().manual_seed(0), output_type="np")
        return out.images[0].astype(np.float64) * 255

    def block_steps(out: np.ndarray) -> float:
        """Mean jump across the 4-px block boundaries inside the hole, over the mean jump
        between neighbours within the blocks."""
        dx = np.abs(np.diff(out[40:88, 40:88], axis=1)).mean(axis=(0, 2))
        boundary = np.arange(len(dx)) % 4 == 3
        return float(dx[boundary].mean() / max(dx[~boundary].mean(), 1e-6))

    sharp, smooth = run(0.0), run(3.0)
    assert block_steps(sharp) > 1.5, block_steps(sharp)  # the grid is there without it
    assert block_steps(smooth) < 0.7 * block_steps(sharp)
    assert (np.rint(smooth[mask == 0]) == image[mask == 0]).all()

    torch.manual_seed(0)
    config = MoebiusConfig(
        sample_size=8, in_channels=97, out_channels=48, block_out_channels=(32, 64),
        cross_attention_dim=40, encoder_hid_dim=72,
    )
    network = MoebiusNetwork(config).eval()
    pipe = MoebiusInpaintingPipeline(network, PixelUnshuffleLatent(4), masked_fill="pushpull",
                                     correction_blur=2.0)
    pipe.save_pretrained(tmp_path / "m")
    assert MoebiusInpaintingPipeline.from_pretrained(tmp_path / "m").correction_blur == 2.0
    with pytest.raises(InvalidArgumentError, match="correction_blur"):
        MoebiusInpaintingPipeline(network, PixelUnshuffleLatent(4), correction_blur=1.0)  # zeros fill
    with pytest.raises(InvalidArgumentError, match="correction_blur"):
        MoebiusInpaintingPipeline(network, PixelUnshuffleLatent(4), masked_fill="pushpull",
                                  correction_blur=-1.0)
