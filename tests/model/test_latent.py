"""The invertible pixel-unshuffle latent and the pipeline built on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from moebius_video.errors import CheckpointError, InvalidArgumentError
from moebius_video.model import MoebiusConfig, MoebiusInpaintingPipeline, MoebiusNetwork
from moebius_video.model.latent import PixelUnshuffleLatent, is_latent_folder
from moebius_video.model.sampling import make_scheduler


def test_encode_decode_is_exact():
    latent = PixelUnshuffleLatent(factor=4)
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    z = latent.encode(x).latent_dist.sample()
    assert z.shape == (2, 48, 8, 12)
    assert torch.equal(latent.decode(z).sample, x)
    assert latent.config.latent_channels == 48
    assert latent.scale_factor == 4


def test_bad_inputs():
    with pytest.raises(InvalidArgumentError, match="power of two"):
        PixelUnshuffleLatent(factor=3)
    latent = PixelUnshuffleLatent(factor=4)
    with pytest.raises(InvalidArgumentError, match="multiple of 4"):
        latent.encode(torch.zeros(1, 3, 30, 32))
    with pytest.raises(InvalidArgumentError, match="B,48,H,W"):
        latent.decode(torch.zeros(1, 4, 8, 8))


def test_save_load(tmp_path):
    PixelUnshuffleLatent(factor=2, scaling_factor=1.5).save_pretrained(tmp_path)
    assert is_latent_folder(tmp_path)
    loaded = PixelUnshuffleLatent.from_pretrained(tmp_path)
    assert loaded.factor == 2 and loaded.config.scaling_factor == 1.5
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}))
    assert not is_latent_folder(tmp_path)
    with pytest.raises(CheckpointError, match="not a PixelUnshuffleLatent"):
        PixelUnshuffleLatent.from_pretrained(tmp_path)


def _tiny_pipeline(prediction_type: str = "sample") -> MoebiusInpaintingPipeline:
    torch.manual_seed(0)
    config = MoebiusConfig(
        sample_size=8, in_channels=97, out_channels=48, block_out_channels=(32, 64),
        cross_attention_dim=40, encoder_hid_dim=72,
    )
    scheduler = make_scheduler(
        {**make_scheduler().config, "prediction_type": prediction_type, "timestep_spacing": "trailing"}
    )
    return MoebiusInpaintingPipeline(
        MoebiusNetwork(config).eval(), PixelUnshuffleLatent(4), scheduler,
        defaults={"num_inference_steps": 2, "guidance_scale": 1.0},
    )


def test_pipeline_on_the_latent_round_trip(tmp_path):
    pipe = _tiny_pipeline()
    assert pipe.image_size == 32
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    mask = np.zeros((40, 50), bool)
    mask[10:20, 15:30] = True
    out = pipe(image, mask, num_inference_steps=2, guidance_scale=1.0, output_type="np",
               generator=torch.Generator().manual_seed(0))
    result = (out.images[0] * 255).round().astype(np.uint8)
    # Outside the hole the image comes back bit-identical.
    assert np.array_equal(result[~mask], image[~mask])
    assert out.latents.shape == (1, 48, 8, 8)

    pipe.save_pretrained(tmp_path / "m", dtype=torch.float16)
    index = json.loads((tmp_path / "m" / "model_index.json").read_text())
    assert index["vae"] == ["moebius_video", "PixelUnshuffleLatent"]
    assert index["moebius_video_defaults"] == {"num_inference_steps": 2, "guidance_scale": 1.0}
    loaded = MoebiusInpaintingPipeline.from_pretrained(tmp_path / "m")
    assert isinstance(loaded.vae, PixelUnshuffleLatent)
    assert loaded.defaults == pipe.defaults
    assert loaded.dtype == torch.float32
    assert loaded.scheduler.config.prediction_type == "sample"
    assert loaded.scheduler.config.timestep_spacing == "trailing"
    # float16 storage: the weights agree to half precision.
    for (name, a), b in zip(pipe.network.state_dict().items(), loaded.network.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-3), name


def test_guidance_one_runs_only_the_conditional_half():
    pipe = _tiny_pipeline()
    calls = []
    handle = pipe.network.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:16, 8:16] = True
    pipe(image, mask, num_inference_steps=1, guidance_scale=1.0)
    pipe(image, mask, num_inference_steps=1, guidance_scale=2.0)
    handle.remove()
    assert calls == [1, 2]


def test_missing_shipped_model_is_a_clear_error(monkeypatch, tmp_path):
    from moebius_video.model import pipeline as module

    monkeypatch.setitem(module.SHIPPED_MODELS, "moebius-tiny", tmp_path / "gone")
    with pytest.raises(CheckpointError, match="shipped model 'moebius-tiny' is missing"):
        MoebiusInpaintingPipeline.from_pretrained("moebius-tiny")


def test_push_pull_fill_keeps_known_pixels_and_interpolates():
    from moebius_video.model.geometry import masked_input, push_pull_fill

    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 32, 24, generator=g)
    hole = torch.zeros(2, 1, 32, 24)
    hole[:, :, 8:20, 4:18] = 1
    out = push_pull_fill(image, hole)
    known = hole.expand_as(image) == 0
    assert torch.equal(out[known], image[known])
    assert out.min() >= image[known].min() - 1e-6 and out.max() <= image[known].max() + 1e-6
    # A constant image is filled with that constant; a left/right split keeps its sides.
    flat = torch.full((1, 3, 16, 16), 0.25)
    assert torch.allclose(push_pull_fill(flat, hole[:1, :, :16, :16]), flat)
    split = torch.zeros(1, 1, 16, 16)
    split[..., 8:] = 1.0
    small = torch.zeros(1, 1, 16, 16)
    small[..., 6:10, 6:10] = 1
    filled = push_pull_fill(split, small)
    assert filled[0, 0, 7, 6] < 0.5 < filled[0, 0, 7, 9]
    # Nothing known: returned as is. Zeros: the reference's masked image.
    assert torch.equal(push_pull_fill(image, torch.ones(2, 1, 32, 24)), image)
    assert torch.equal(masked_input(image, hole, "zeros"), image * (1 - hole))
    with pytest.raises(InvalidArgumentError, match="masked_fill"):
        masked_input(image, hole, "median")


def test_masked_fill_is_saved_with_the_model_and_used(tmp_path):
    pipe = _tiny_pipeline()
    pipe.masked_fill = "pushpull"
    pipe.save_pretrained(tmp_path / "m")
    loaded = MoebiusInpaintingPipeline.from_pretrained(tmp_path / "m")
    assert loaded.masked_fill == "pushpull"
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    a = loaded(image, mask, num_inference_steps=1, guidance_scale=1.0, output_type="np").images[0]
    loaded.masked_fill = "zeros"
    b = loaded(image, mask, num_inference_steps=1, guidance_scale=1.0, output_type="np").images[0]
    assert not np.allclose(a, b)
    with pytest.raises(InvalidArgumentError, match="masked_fill"):
        MoebiusInpaintingPipeline(pipe.network, pipe.vae, masked_fill="blur")


def test_input_skip_starts_as_the_identity_on_the_conditioning():
    config = MoebiusConfig(
        sample_size=8, in_channels=97, out_channels=48, block_out_channels=(32, 64),
        cross_attention_dim=40, encoder_hid_dim=72, input_skip=True,
    )
    net = MoebiusNetwork(config)
    x = torch.randn(2, 97, 8, 8)
    for mode in (True, False):
        net.train(mode)
        out = net(x, torch.tensor([999, 10]), net.cfg_input_ids(2)[2:])
        assert torch.allclose(out, x[:, 49:], atol=1e-6)
    assert MoebiusConfig.from_dict(config.to_dict()).input_skip
    assert not MoebiusConfig.official().input_skip
    with pytest.raises(InvalidArgumentError, match="input_skip needs"):
        MoebiusConfig(sample_size=8, in_channels=9, out_channels=48, block_out_channels=(32, 64),
                      input_skip=True)
    from moebius_video.train.trainer import ModelShape

    with pytest.raises(InvalidArgumentError, match="input_skip needs prediction_type"):
        ModelShape(input_skip=True, prediction_type="epsilon")
