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
from moebius_video.train.objective import StudentConfig, encode_batch, student_loss
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
