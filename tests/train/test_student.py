"""The deterministic one-step student: its loss, its config, a tiny run and its export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from moebius_video.errors import InvalidArgumentError
from moebius_video.model import MoebiusInpaintingPipeline, MoebiusNetwork
from moebius_video.model.geometry import classical_fill
from moebius_video.model.latent import PixelUnshuffleLatent
from moebius_video.train.objective import (
    StudentConfig,
    encode_batch,
    pixel_loss,
    student_loss,
    windowed_student_loss,
)
from moebius_video.train.trainer import ModelShape, load_checkpoint, train, zero_correction

from .test_trainer import _config


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    image = torch.stack([torch.sin(xx / 5), torch.cos(yy / 4), (xx + yy) / 40 - 0.8])[None].repeat(2, 1, 1, 1)
    image = (image + 0.05 * torch.randn(image.shape, generator=g)).clamp(-1, 1)
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:24, 10:22] = 1
    return image, mask


def _manual_loss(pixels, image, mask, hole_weight=10.0):
    w = 1 + hole_weight * mask
    l1 = ((pixels - image).abs() * w).sum() / w.expand_as(image).sum()
    wx = torch.maximum(w[..., 1:], w[..., :-1])
    wy = torch.maximum(w[..., 1:, :], w[..., :-1, :])
    gx = ((pixels.diff(dim=-1) - image.diff(dim=-1)).abs() * wx).sum() / wx.expand_as(image[..., 1:]).sum()
    gy = ((pixels.diff(dim=-2) - image.diff(dim=-2)).abs() * wy).sum() / wy.expand_as(image[..., 1:, :]).sum()
    return l1 + 0.5 * (gx + gy)


def test_step_zero_loss_is_the_loss_of_the_opencv_input():
    shape = ModelShape(crop_size=32, block_out_channels=(32, 64), masked_fill="ns", input_skip=True, student=True)
    from moebius_video.train.trainer import DataSettings, RunSettings, TrainConfig

    net_config = TrainConfig(DataSettings(("x",)), RunSettings("x"), model=shape).network_config()
    torch.manual_seed(0)
    network = MoebiusNetwork(net_config)
    with torch.no_grad():
        for p in network.parameters():
            p.add_(0.05 * torch.randn_like(p))
    zero_correction(network)
    network.train()  # batch statistics: the zeroed last layer must still give exactly zero
    vae = PixelUnshuffleLatent(4)
    image, mask = _batch()
    batch = encode_batch(vae, image, mask, "ns")
    out = student_loss(network, vae, image, batch, mask, StudentConfig())
    ns = classical_fill(image, mask, "ns")
    assert torch.equal(vae.decode(out.prediction / 2).sample, ns)
    assert torch.allclose(out.loss, _manual_loss(ns, image, mask), atol=1e-6)
    assert float(out.loss.detach()) > 0.01  # NS is not the answer: there is something to learn
    out.loss.backward()
    grad = network.diff_model.conv_out.bn2.weight.grad
    assert grad is not None and grad.abs().sum() > 0  # the zeroed layer learns first


def test_student_needs_a_correction_of_a_filled_input():
    with pytest.raises(InvalidArgumentError, match="input_skip"):
        ModelShape(masked_fill="ns", student=True)
    with pytest.raises(InvalidArgumentError, match="filled"):
        ModelShape(masked_fill="zeros", input_skip=True, student=True)
    with pytest.raises(InvalidArgumentError, match="masked_fill"):
        ModelShape(masked_fill="median")
    with pytest.raises(InvalidArgumentError, match="aux_fill"):
        ModelShape(masked_fill="ns", input_skip=True, aux_fill="pushpull")  # not a student


def test_a_tiny_student_run_exports_a_deterministic_one_step_model(tmp_path):
    config = _config(tmp_path, masked_fill="ns", aux_fill="pushpull", input_skip=True, student=True,
                     steps=4, lr=3e-3)
    result = train(config, progress=False)
    assert result.step == 4 and np.isfinite(result.final_loss)
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all("student" in r and r["student_input"] > 0 for r in log)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]["model"]["student"] is True
    index = json.loads((tmp_path / "run" / "model" / "model_index.json").read_text())
    assert index["moebius_video_defaults"] == {"num_inference_steps": 1, "guidance_scale": 1.0}
    assert index["moebius_video_input"] == {"masked_fill": "ns", "deterministic": True, "aux_fill": "pushpull"}
    pipe = MoebiusInpaintingPipeline.from_pretrained(tmp_path / "run" / "model")
    image = np.full((40, 40, 3), 120, np.uint8)
    image[:, 20:] = 60
    mask = np.zeros((40, 40), bool)
    mask[10:25, 12:28] = True
    a = pipe(image, mask, output_type="np", generator=torch.Generator().manual_seed(1)).images[0]
    b = pipe(image, mask, output_type="np", generator=torch.Generator().manual_seed(2)).images[0]
    assert np.array_equal(a, b)
    assert np.array_equal((a * 255).round().astype(np.uint8)[~mask], image[~mask])


def _windowed_pipeline():
    pipe = MoebiusInpaintingPipeline.from_pretrained("moebius-tiny")
    pipe.feather = 0.0  # eval image's setting: the loss scores the hole as filled, unblended
    pipe.network.eval()
    return pipe


def test_the_windowed_loss_scores_exactly_what_the_pipeline_paints():
    """Training on a window larger than the network must see the pipeline's own output: NS at
    full resolution, shrunk to the network, the correction enlarged back inside the hole."""
    pipe = _windowed_pipeline()
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:256, 0:256]
    image = np.stack([120 + 60 * np.sin(xx / 17), 100 + 50 * np.cos(yy / 11), (xx + yy) / 2.5], -1)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    hole = np.zeros((256, 256), bool)
    hole[2:6, 2:250] = True  # a thin stroke across, so the window is the whole picture
    hole[40:200, 120:124] = True
    hole[150:230, 30:110] = True
    painted = pipe(image, hole, output_type="np").images[0]
    box = pipe(image, hole, output_type="latent").crop_boxes[0]
    assert (box.height, box.width) == (256, 256)  # the whole picture is the window
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
    mask = torch.from_numpy(hole)[None, None].float()
    with torch.no_grad():
        out = windowed_student_loss(pipe.network, pipe.vae, tensor, mask, 128, "ns", "pushpull")
        ns = classical_fill(tensor, mask, "ns")
    # Rebuild the composite from the prediction the loss used and compare with the pipeline.
    decoded = ((pipe.vae.decode(out.prediction / 2).sample + 1) / 2).clamp(0, 1)
    from moebius_video.model.geometry import resize_image

    crop = resize_image((ns + 1) / 2, (128, 128)).clamp(0, 1)
    full = ((ns + 1) / 2 + resize_image(decoded - crop, (256, 256))).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(full[hole] - painted[hole]).max() <= 1 / 255 + 1e-4  # uint8 rounding only
    # The model changes NS's fill (else this test would compare two copies of NS)...
    ns_pixels = ((ns[0].permute(1, 2, 0).numpy() + 1) / 2)[hole]
    assert np.abs(painted[hole] - ns_pixels).mean() > 1 / 255
    # ... and the loss is pixel_loss of that composite, the input's loss that of NS alone.
    composite = torch.from_numpy(np.where(hole[..., None], full, image / 255.0)).permute(2, 0, 1)[None].float()
    assert torch.allclose(out.loss, pixel_loss(composite * 2 - 1, tensor, mask), atol=1e-4)
    assert out.input_loss == pytest.approx(float(pixel_loss(ns, tensor, mask)), abs=1e-6)


def test_a_windowed_student_run_trains_and_refuses_what_it_cannot_do(tmp_path):
    config = _config(tmp_path, photo_size=80, masked_fill="ns", aux_fill="pushpull", input_skip=True,
                     student=True, steps=2, window_size=64)
    result = train(config, progress=False)
    assert result.step == 2 and np.isfinite(result.final_loss)
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(r["student_input"] > 0 for r in log)
    with pytest.raises(InvalidArgumentError, match="window_size must be a multiple of 8"):
        _config(tmp_path, masked_fill="ns", input_skip=True, student=True, window_size=20)
    with pytest.raises(InvalidArgumentError, match="classical --masked-fill"):
        _config(tmp_path, masked_fill="pushpull", input_skip=True, student=True, window_size=64)
    with pytest.raises(InvalidArgumentError, match="classical --masked-fill"):
        _config(tmp_path, window_size=64)  # a diffusion model has no correction to enlarge


def test_init_from_a_student_keeps_its_correction(tmp_path):
    """Continuing the shipped student must not zero what it learned (a diffusion model's
    weights start at their input instead)."""
    config = _config(tmp_path, photo_size=160, crop_size=128, block_out_channels=(32, 64, 128),
                     cross_attention_dim=40, encoder_hid_dim=72, num_heads=8, masked_fill="ns",
                     aux_fill="pushpull", input_skip=True, student=True, steps=1, lr=1e-12,
                     batch_size=1, init_from="moebius-tiny")
    train(config, progress=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["network"]
    shipped = MoebiusInpaintingPipeline.from_pretrained("moebius-tiny").network.state_dict()
    key = "diff_model.conv_out.bn2.weight"
    assert shipped[key].abs().sum() > 0
    assert torch.allclose(state[key], shipped[key], atol=1e-6)
