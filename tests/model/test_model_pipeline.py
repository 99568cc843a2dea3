"""The image pipeline on a tiny network and VAE: outputs, saving/loading, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from moebius_video.errors import CheckpointError, InvalidArgumentError, InvalidMaskError
from moebius_video.model import MoebiusInpaintingPipeline


def _inputs(h=75, w=101, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[h - 20 :, 3:30] = 255  # touches the bottom border
    return image, mask


def _run(pipe, image, mask, **kw):
    kw.setdefault("num_inference_steps", 1)
    kw.setdefault("generator", torch.Generator().manual_seed(0))
    return pipe(image, mask, **kw)


def test_call_pil_output_and_untouched_outside(tiny_pipeline):
    image, mask = _inputs()
    out = _run(tiny_pipeline, Image.fromarray(image), Image.fromarray(mask))
    assert len(out.images) == 1 and isinstance(out.images[0], Image.Image)
    result = np.asarray(out.images[0])
    assert result.shape == image.shape
    hole = mask >= 128
    assert np.array_equal(result[~hole], image[~hole])
    assert not np.array_equal(result[hole], image[hole])
    assert out.latents.shape == (1, 4, 8, 8)
    assert out.crop_boxes[0] is not None and out.crop_boxes[0].bottom == 75


def test_call_is_seeded_and_output_types_agree(tiny_pipeline):
    image, mask = _inputs()
    a = _run(tiny_pipeline, image, mask, output_type="np")
    b = _run(
        tiny_pipeline,
        torch.from_numpy(image).permute(2, 0, 1).float() / 255,
        torch.from_numpy(mask),
        output_type="pt",
    )
    assert a.images[0].dtype == np.float32 and a.images[0].shape == (75, 101, 3)
    assert torch.equal(a.latents, b.latents)
    assert np.array_equal(a.images[0], b.images[0].permute(1, 2, 0).numpy())
    lat = _run(tiny_pipeline, image, mask, output_type="latent")
    assert lat.images is None and torch.equal(lat.latents, a.latents)


def test_call_batch_with_different_sizes_and_an_empty_mask(tiny_pipeline):
    image1, mask1 = _inputs()
    image2, mask2 = _inputs(40, 33, seed=1)
    empty = np.zeros_like(mask2)
    with pytest.warns(UserWarning, match=r"mask_image\[1\] is empty"):
        out = _run(tiny_pipeline, [image1, image2, image2], [mask1, empty, mask2], output_type="np")
    assert [o.shape for o in out.images] == [(75, 101, 3), (40, 33, 3), (40, 33, 3)]
    assert np.array_equal((out.images[1] * 255).round().astype(np.uint8), image2)
    assert out.crop_boxes[1] is None and torch.all(out.latents[1] == 0)
    assert out.latents.shape == (3, 4, 8, 8)


def test_strength_and_warm_start_latents(tiny_pipeline):
    image, mask = _inputs()
    kw = {"output_type": "latent", "num_inference_steps": 4}
    first = _run(tiny_pipeline, image, mask, **kw)
    warm = _run(tiny_pipeline, image, mask, strength=0.5, latents=first.latents, **kw)
    again = _run(tiny_pipeline, image, mask, strength=0.5, latents=first.latents, **kw)
    cold = _run(tiny_pipeline, image, mask, strength=0.5, **kw)
    assert torch.equal(warm.latents, again.latents)
    assert not torch.equal(warm.latents, cold.latents)
    assert not torch.equal(warm.latents, first.latents)  # two steps did run
    with pytest.raises(InvalidArgumentError, match="latents"):
        _run(tiny_pipeline, image, mask, strength=0.5, latents=torch.zeros(1, 4, 9, 9), **kw)


def test_prompt_warns(tiny_pipeline):
    image, mask = _inputs()
    with pytest.warns(UserWarning, match="no text encoder"):
        _run(tiny_pipeline, image, mask, prompt="a cat", output_type="latent")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(tiny_pipeline, image, mask, prompt="", output_type="latent")


def test_bad_inputs(tiny_pipeline):
    image, mask = _inputs()
    with pytest.raises(InvalidMaskError, match="101x75"):
        _run(tiny_pipeline, image, mask[:, :50])
    with pytest.raises(InvalidArgumentError, match="2 images but 1 masks"):
        _run(tiny_pipeline, [image, image], [mask])
    with pytest.raises(InvalidArgumentError, match="dtype int32"):
        _run(tiny_pipeline, image.astype(np.int32), mask)
    with pytest.raises(InvalidMaskError, match="int64"):
        _run(tiny_pipeline, image, mask.astype(np.int64))
    with pytest.raises(InvalidArgumentError, match="H,W,3"):
        _run(tiny_pipeline, image[..., :2], mask)
    with pytest.raises(InvalidArgumentError, match="PIL image"):
        _run(tiny_pipeline, "image.png", mask)
    with pytest.raises(InvalidArgumentError, match="num_inference_steps"):
        _run(tiny_pipeline, image, mask, num_inference_steps=0)
    with pytest.raises(InvalidArgumentError, match="strength"):
        _run(tiny_pipeline, image, mask, strength=1.5)
    with pytest.raises(InvalidArgumentError, match="output_type"):
        _run(tiny_pipeline, image, mask, output_type="jpg")


def test_network_rejects_wrong_latent_size(tiny_network):
    net = tiny_network()
    with pytest.raises(InvalidArgumentError, match="trained latent size"):
        net(torch.zeros(1, 9, 16, 16), 10, net.cfg_input_ids(1)[:1])
    with pytest.raises(InvalidArgumentError, match="input_ids"):
        net(torch.zeros(1, 9, 8, 8), 10, torch.zeros(1, 5, dtype=torch.long))


def test_save_load_round_trip(tiny_pipeline, tmp_path):
    image, mask = _inputs()
    before = _run(tiny_pipeline, image, mask, output_type="np")
    tiny_pipeline.save_pretrained(tmp_path / "pipe")
    assert (
        json.loads((tmp_path / "pipe" / "model_index.json").read_text())["_class_name"]
        == "MoebiusInpaintingPipeline"
    )
    for f in (
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "scheduler/scheduler_config.json",
    ):
        assert (tmp_path / "pipe" / f).is_file(), f
    loaded = MoebiusInpaintingPipeline.from_pretrained(tmp_path / "pipe")
    assert loaded.network.config == tiny_pipeline.network.config
    after = _run(loaded, image, mask, output_type="np")
    assert torch.equal(before.latents, after.latents)
    assert np.array_equal(before.images[0], after.images[0])


def test_reference_layout_bin(tiny_pipeline, tmp_path):
    # weight/Moebius/pretrained/diffusion_pytorch_model.bin + config.json, weight/vae/
    weight = tmp_path / "weight"
    variant = weight / "Moebius" / "pretrained"
    variant.mkdir(parents=True)
    torch.save(tiny_pipeline.network.state_dict(), variant / "diffusion_pytorch_model.bin")
    (variant / "config.json").write_text(json.dumps(tiny_pipeline.network.config.to_dict()))
    tiny_pipeline.vae.save_pretrained(str(weight / "vae"))
    image, mask = _inputs()
    want = _run(tiny_pipeline, image, mask, output_type="latent").latents
    for source in (weight / "Moebius", variant, variant / "diffusion_pytorch_model.bin"):
        pipe = MoebiusInpaintingPipeline.from_pretrained(source)
        assert torch.equal(_run(pipe, image, mask, output_type="latent").latents, want), source


def test_hub_name_from_local_cache_only(tiny_pipeline, tmp_path, monkeypatch):
    # A hand-made Hugging Face cache: models--owner--name/snapshots/<rev>/..., refs/main.
    cache = tmp_path / "hub"
    for repo, sub in (("hustvl/Moebius", "pretrained"), ("hustvl/PixelHacker", "vae")):
        root = cache / ("models--" + repo.replace("/", "--"))
        snap = root / "snapshots" / ("0" * 40) / sub
        snap.mkdir(parents=True)
        (root / "refs").mkdir()
        (root / "refs" / "main").write_text("0" * 40)
        if sub == "vae":
            tiny_pipeline.vae.save_pretrained(str(snap))
        else:
            torch.save(tiny_pipeline.network.state_dict(), snap / "diffusion_pytorch_model.bin")
            (snap / "config.json").write_text(json.dumps(tiny_pipeline.network.config.to_dict()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    pipe = MoebiusInpaintingPipeline.from_pretrained("hustvl/Moebius")
    assert pipe.network.config == tiny_pipeline.network.config
    with pytest.raises(CheckpointError, match="never downloads"):
        MoebiusInpaintingPipeline.from_pretrained("nobody/nothing")


def test_from_pretrained_errors(tiny_pipeline, tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        MoebiusInpaintingPipeline.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no weights"):
        MoebiusInpaintingPipeline.from_pretrained(tmp_path / "empty")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    torch.save(tiny_pipeline.network.state_dict(), lonely / "diffusion_pytorch_model.bin")
    (lonely / "config.json").write_text(json.dumps(tiny_pipeline.network.config.to_dict()))
    with pytest.raises(CheckpointError, match="no VAE"):
        MoebiusInpaintingPipeline.from_pretrained(lonely)
    pipe = MoebiusInpaintingPipeline.from_pretrained(lonely, vae=tiny_pipeline.vae)
    assert pipe.vae is tiny_pipeline.vae


def test_torch_dtype_bf16_is_opt_in(tiny_pipeline, tmp_path):
    tiny_pipeline.save_pretrained(tmp_path / "pipe")
    pipe = MoebiusInpaintingPipeline.from_pretrained(tmp_path / "pipe", torch_dtype=torch.bfloat16)
    assert pipe.dtype == torch.bfloat16 and pipe.vae.dtype == torch.bfloat16
    assert tiny_pipeline.dtype == torch.float32  # the saved one was not cast in place
    assert pipe.network.diff_model.conv_in.bn1.num_batches_tracked.dtype == torch.int64
    image, mask = _inputs()
    out = _run(pipe, image, mask, output_type="np")
    assert out.latents.dtype == torch.bfloat16 and np.isfinite(out.images[0]).all()
    hole = mask >= 128
    assert np.array_equal((out.images[0] * 255).round().astype(np.uint8)[~hole], image[~hole])


def test_channels_last_matches(tiny_pipeline):
    image, mask = _inputs()
    a = _run(tiny_pipeline, image, mask, output_type="latent").latents
    b = _run(tiny_pipeline.enable_channels_last(), image, mask, output_type="latent").latents
    assert (a - b).abs().max() < 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp16_matches_cpu(tiny_pipeline, tiny_network, tiny_vae):
    image, mask = _inputs()
    cpu = _run(tiny_pipeline, image, mask, output_type="latent").latents
    net, vae = tiny_network(), tiny_vae()
    gpu = MoebiusInpaintingPipeline(net, vae).to("cuda", torch.float16)
    out = gpu(
        image,
        mask,
        num_inference_steps=2,
        generator=torch.Generator("cuda").manual_seed(0),
        output_type="np",
    )
    assert out.latents.device.type == "cuda" and out.latents.dtype == torch.float16
    assert np.isfinite(out.images[0]).all()
    # Same network on both devices in fp32 gives the same noise prediction.
    x = torch.randn(2, 9, 8, 8)
    ids = tiny_pipeline.network.cfg_input_ids(1)
    with torch.no_grad():
        ref = tiny_pipeline.network(x, 500, ids)
        got = tiny_network().cuda()(x.cuda(), 500, ids.cuda()).cpu()
    assert (ref - got).abs().max() <= 1e-3 * max(1.0, ref.abs().max().item())
    del cpu


def test_generator_list_per_image(tiny_pipeline):
    image, mask = _inputs()
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    with pytest.warns(UserWarning, match="empty"):
        out = tiny_pipeline(
            [image, image, image],
            [mask, np.zeros_like(mask), mask],
            num_inference_steps=1,
            generator=gens,
            output_type="latent",
        )
    assert out.latents.shape == (3, 4, 8, 8) and torch.all(out.latents[1] == 0)
    with pytest.raises(InvalidArgumentError, match="generators"):
        tiny_pipeline(image, mask, num_inference_steps=1, generator=gens, output_type="latent")


def test_large_frame_costs_one_model_size_crop(tiny_pipeline):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1081, 1921, 3), dtype=np.uint8)
    mask = np.zeros((1081, 1921), dtype=bool)
    mask[1070:, 1900:] = True  # a small hole in the bottom-right corner
    out = _run(tiny_pipeline, image, mask, num_inference_steps=1, output_type="np")
    box = out.crop_boxes[0]
    assert (box.height, box.width) == (tiny_pipeline.image_size,) * 2 == (64, 64)
    assert (box.bottom, box.right) == (1081, 1921)
    result = (out.images[0] * 255).round().astype(np.uint8)
    assert np.array_equal(result[~mask], image[~mask])


@pytest.mark.slow
def test_torch_compile_matches_eager(tiny_pipeline):
    image, mask = _inputs()
    eager = _run(tiny_pipeline, image, mask, output_type="latent").latents
    compiled = _run(tiny_pipeline.compile(), image, mask, output_type="latent").latents
    assert (eager - compiled).abs().max() < 1e-3
