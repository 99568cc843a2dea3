"""The latent-diffusion objective."""

from __future__ import annotations

import pytest
import torch

from moebius_video.errors import InvalidArgumentError
from moebius_video.model import MoebiusConfig, MoebiusNetwork
from moebius_video.model.latent import PixelUnshuffleLatent
from moebius_video.model.sampling import make_scheduler
from moebius_video.train.objective import (
    ObjectiveConfig,
    diffusion_loss,
    encode_batch,
    predicted_clean,
    prediction_target,
    task_ids,
)


def _net(seed: int = 0) -> MoebiusNetwork:
    torch.manual_seed(seed)
    return MoebiusNetwork(
        MoebiusConfig(sample_size=8, in_channels=25, out_channels=12, block_out_channels=(32, 64),
                      cross_attention_dim=40, encoder_hid_dim=72)
    )


def _scheduler(kind: str):
    return make_scheduler({**make_scheduler().config, "prediction_type": kind})


def _batch():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(3, 3, 16, 16, generator=g) * 2 - 1
    mask = torch.zeros(3, 1, 16, 16)
    mask[:, :, 4:12, 2:10] = 1  # aligned to the 2x2 blocks
    return encode_batch(PixelUnshuffleLatent(2), image, mask), image, mask


def test_encode_batch_matches_the_pipeline_preparation():
    batch, image, mask = _batch()
    assert batch.latents.shape == (3, 12, 8, 8)
    assert batch.latent_mask.shape == (3, 1, 8, 8)
    # The masked latents are the latents with the hole zeroed (pixel-unshuffle is a permutation).
    assert torch.equal(batch.masked_latents, batch.latents * (1 - batch.latent_mask))
    assert batch.latent_mask.sum() == 3 * 4 * 4  # rows 2..5, cols 1..4 at half resolution
    with pytest.raises(InvalidArgumentError, match="same size"):
        encode_batch(PixelUnshuffleLatent(2), image, mask[..., :8])


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_target_and_clean_estimate_are_consistent(kind):
    """Feeding the exact target back gives the exact clean latents, for each parametrisation."""
    scheduler = _scheduler(kind)
    x0 = torch.randn(4, 12, 8, 8)
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 10, 500, 999])
    noisy = scheduler.add_noise(x0, noise, t)
    target = prediction_target(scheduler, x0, noise, t)
    assert torch.allclose(predicted_clean(scheduler, noisy, target, t), x0, atol=2e-3, rtol=1e-3)


def test_loss_is_finite_and_reaches_every_parameter():
    net = _net().train()
    batch, _, _ = _batch()
    out = diffusion_loss(net, _scheduler("sample"), batch, generator=torch.Generator().manual_seed(0))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss) and out.loss > 0
    out.loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing[:5]


def test_loss_is_reproducible_with_a_generator():
    net = _net().eval()
    batch, _, _ = _batch()
    a = diffusion_loss(net, _scheduler("epsilon"), batch, generator=torch.Generator().manual_seed(3))
    b = diffusion_loss(net, _scheduler("epsilon"), batch, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.loss, b.loss) and torch.equal(a.timesteps, b.timesteps)


def test_hole_weight_counts_errors_inside_the_hole_more():
    class Fixed(torch.nn.Module):
        """Predicts the target exactly, except +1 outside the hole."""

        def __init__(self, batch):
            super().__init__()
            self.batch = batch
            self.inner = _net()

        def cfg_input_ids(self, b):
            return self.inner.cfg_input_ids(b)

        def forward(self, sample, t, ids):
            return self.batch.latents + (1 - self.batch.latent_mask)

    batch, _, _ = _batch()
    scheduler = _scheduler("sample")
    plain = diffusion_loss(Fixed(batch), scheduler, batch, ObjectiveConfig(hole_weight=0.0)).loss
    weighted = diffusion_loss(Fixed(batch), scheduler, batch, ObjectiveConfig(hole_weight=4.0)).loss
    assert float(weighted) < float(plain)


def test_uncond_dropout():
    net = _net()
    ids = task_ids(net, 1000, 0.3, torch.Generator().manual_seed(0))
    half = net.config.context_length
    uncond_rows = (ids[:, 0] >= half).float().mean()
    assert 0.25 < float(uncond_rows) < 0.35
    assert torch.equal(task_ids(net, 4, 0.0), net.cfg_input_ids(4)[4:])
    with pytest.raises(InvalidArgumentError, match="uncond_prob"):
        ObjectiveConfig(uncond_prob=1.5)


def test_focus_timesteps():
    net = _net().eval()
    batch, _, _ = _batch()
    config = ObjectiveConfig(focus_timesteps=(999, 249), focus_prob=1.0)
    out = diffusion_loss(net, _scheduler("sample"), batch, config, generator=torch.Generator().manual_seed(0))
    assert set(out.timesteps.tolist()) <= {999, 249}
    half = ObjectiveConfig(focus_timesteps=(999,), focus_prob=0.5)
    g = torch.Generator().manual_seed(1)
    draws = torch.cat([
        diffusion_loss(net, _scheduler("sample"), batch, half, generator=g).timesteps for _ in range(60)
    ])
    share = float((draws == 999).float().mean())
    assert 0.35 < share < 0.65
    with pytest.raises(InvalidArgumentError, match="needs focus_timesteps"):
        ObjectiveConfig(focus_prob=0.5)
