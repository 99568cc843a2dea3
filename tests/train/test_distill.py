"""Tests of the spatial-aware distillation loss (tiny CPU networks, a few seconds in all)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from moebius_video.errors import InvalidArgumentError
from moebius_video.model import MoebiusConfig, MoebiusNetwork
from moebius_video.model.sampling import make_scheduler
from moebius_video.train.distill import (
    AdaptiveLossWeights,
    DistillConfig,
    Distiller,
    PyramidGradientFeatures,
    _prediction_to_x0,
    spatial_weight_map,
    weighted_mse,
)

SIDE = 8


def tiny_config(widths: tuple[int, ...] = (16, 32), **kw: object) -> MoebiusConfig:
    """A few-thousand-parameter Moebius network at an 8x8 latent."""
    base = dict(
        sample_size=SIDE,
        block_out_channels=widths,
        layers_per_block=1,
        num_heads=4,
        cross_attention_dim=16,
        encoder_hid_dim=16,
        norm_num_groups=8,
        local_kernel=3,
        num_embeddings=4,
    )
    base.update(kw)
    return MoebiusConfig(**base)


def tiny_net(seed: int, widths: tuple[int, ...] = (16, 32), **kw: object) -> MoebiusNetwork:
    torch.manual_seed(seed)
    return MoebiusNetwork(tiny_config(widths, **kw))


def tiny_vae() -> nn.Module:
    """A 2-level AutoencoderKL (8x8 latents <-> 16x16 images), random weights."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        block_out_channels=[8, 8],
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=16,
    ).eval()


class ShuffleVAE(nn.Module):
    """A parameter-free "VAE" (pixel (un)shuffle, 1 image channel <-> 4 latent channels)."""

    config = SimpleNamespace(scaling_factor=2.0)

    def decode(self, z: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(sample=F.pixel_shuffle(z, 2))


def batch(b: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(b, 4, SIDE, SIDE, generator=g)
    mask = torch.zeros(b, 1, SIDE, SIDE)
    mask[:, :, 2:5, 3:6] = 1
    return latents, mask, latents * (1 - mask)


@pytest.fixture(scope="module")
def vae() -> nn.Module:
    return tiny_vae()


@pytest.fixture
def scheduler():  # type: ignore[no-untyped-def]
    return make_scheduler()


# ---------------------------------------------------------------------------- building blocks
def test_spatial_weight_map_favours_hole_and_border() -> None:
    _, mask, _ = batch(1)
    w = spatial_weight_map(mask, hole_weight=2.0, border_weight=1.0, border_px=1)
    assert w.shape == mask.shape
    assert torch.allclose(w.mean(), torch.tensor(1.0))
    far, ring_out, hole_mid = w[0, 0, 7, 0], w[0, 0, 1, 4], w[0, 0, 3, 4]
    assert hole_mid > ring_out > far


def test_difference_outside_hole_costs_less_than_inside() -> None:
    _, mask, _ = batch(1)
    w = spatial_weight_map(mask, hole_weight=4.0, border_weight=1.0, border_px=1)
    ref = torch.zeros(1, 4, SIDE, SIDE)
    inside, outside = ref.clone(), ref.clone()
    inside[..., 3, 4] = 1.0
    outside[..., 7, 0] = 1.0
    assert weighted_mse(outside, ref, w) < 0.5 * weighted_mse(inside, ref, w)
    # The weight is resized to feature maps of another size.
    assert torch.isfinite(weighted_mse(torch.ones(1, 3, 16, 16), ref[:, :3].repeat(1, 1, 2, 2), w))


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_prediction_to_x0_inverts_the_objective(kind: str) -> None:
    sched = make_scheduler({**make_scheduler().config, "prediction_type": kind})
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(2, 4, 4, 4, generator=g), torch.randn(2, 4, 4, 4, generator=g)
    t = torch.tensor([10, 900])
    x_t = sched.add_noise(x0, eps, t)
    target = {"epsilon": eps, "v_prediction": sched.get_velocity(x0, eps, t), "sample": x0}[kind]
    assert torch.allclose(_prediction_to_x0(sched, target, x_t, t), x0, atol=1e-4)


def test_pyramid_features_shapes() -> None:
    feats = PyramidGradientFeatures(levels=3)(torch.randn(2, 3, 16, 16))
    assert [tuple(f.shape) for f in feats] == [(2, 9, 16, 16), (2, 9, 8, 8), (2, 9, 4, 4)]


def test_parameter_free_vae_and_custom_extractor(scheduler) -> None:
    teacher, student = tiny_net(0), tiny_net(1, (8, 16))
    cfg = DistillConfig(use_output=False, use_trajectory=False, use_features=False)
    distiller = Distiller(
        student, teacher, scheduler, cfg, vae=ShuffleVAE(), feature_extractor=lambda x: [x]
    )
    out = distiller.loss(*batch(), generator=torch.Generator().manual_seed(0))
    assert list(out.parts) == ["perceptual"] and out.parts["perceptual"] > 0
    out.total.backward()
    assert student.diff_model.conv_out.conv_pw.weight.grad.abs().sum() > 0


def test_adaptive_weights_balance_a_scaled_term() -> None:
    p = nn.Parameter(torch.randn(10))
    balancer = AdaptiveLossWeights(("a", "b"), ema=0.5)
    norms = balancer.update({"a": (p**2).sum(), "b": 100 * (p**2).sum()}, [p])
    w = balancer.as_dict()
    assert norms["b"] == pytest.approx(100 * norms["a"], rel=1e-4)
    assert w["a"] + w["b"] == pytest.approx(2.0)
    assert w["a"] / w["b"] == pytest.approx(100, rel=1e-3)
    # Later updates move toward the new balance through the EMA.
    balancer.update({"a": (p**2).sum(), "b": (p**2).sum()}, [p])  # now balanced: 1:1
    w2 = balancer.as_dict()
    assert w2["a"] < w["a"] and w2["b"] > w["b"] and w2["a"] > w2["b"]


# ---------------------------------------------------------------------------- the distiller
@pytest.mark.parametrize("student_widths", [(8, 16), (8, 16, 16)])
def test_all_parts_finite_and_gradients_reach_student_and_adapters(
    student_widths: tuple[int, ...], scheduler, vae: nn.Module
) -> None:
    teacher, student = tiny_net(0), tiny_net(1, student_widths)
    cfg = DistillConfig(feature_blocks=("down.1", "up.0"), trajectory_steps=2, weight_every=1)
    with Distiller(student, teacher, scheduler, cfg, vae=vae) as distiller:
        assert {n for n, _ in distiller.named_parameters()} == {
            "adapters.down_1.weight", "adapters.down_1.bias", "adapters.up_0.weight",
            "adapters.up_0.bias",
        }  # fmt: skip
        out = distiller.loss(*batch(), generator=torch.Generator().manual_seed(0))
        assert set(out.parts) == {"output", "trajectory", "features", "perceptual"}
        for name, value in out.parts.items():
            assert 0 < value < float("inf"), name
        assert sum(out.weights.values()) == pytest.approx(4.0)
        assert set(out.grad_norms) == set(out.parts)
        out.total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in distiller.parameters())
    assert student.diff_model.conv_in.conv_dw.weight.grad.abs().sum() > 0
    assert student.diff_model.conv_out.conv_pw.weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(p.grad is None for p in vae.parameters())
    assert not teacher.training


@pytest.mark.parametrize("params", ["all", "conv_in"])
def test_adaptive_weights_equalise_gradient_contributions(params: str, scheduler) -> None:
    teacher, student = tiny_net(0), tiny_net(1, (8, 16))
    cfg = DistillConfig(use_perceptual=False, weight_ema=0.0, weight_every=1, weight_params=params)
    with Distiller(student, teacher, scheduler, cfg) as distiller:
        out = distiller.loss(*batch(), generator=torch.Generator().manual_seed(0))
    contributions = [out.weights[n] * out.grad_norms[n] for n in out.parts]
    assert max(contributions) == pytest.approx(min(contributions), rel=1e-3)


def test_fixed_weights_are_used(scheduler) -> None:
    teacher, student = tiny_net(0), tiny_net(1, (8, 16))
    cfg = DistillConfig(
        use_perceptual=False,
        use_features=False,
        adaptive_weights=False,
        fixed_weights={"output": 3.0},
    )
    distiller = Distiller(student, teacher, scheduler, cfg)
    out = distiller.loss(*batch(), generator=torch.Generator().manual_seed(0))
    assert out.weights == {"output": 3.0, "trajectory": 1.0}
    expected = 3.0 * out.parts["output"] + out.parts["trajectory"]
    assert float(out.total.detach()) == pytest.approx(expected, rel=1e-5)
    assert out.grad_norms == {}


def test_unconditional_ids_are_drawn_when_asked(scheduler) -> None:
    teacher, student = tiny_net(0), tiny_net(1, (8, 16))
    cfg = DistillConfig(use_perceptual=False, adaptive_weights=False, uncond_prob=1.0)
    distiller = Distiller(student, teacher, scheduler, cfg)
    uncond_ids = student.cfg_input_ids(2)[:2]
    drawn = distiller.loss(*batch(), generator=torch.Generator().manual_seed(0)).parts
    gen = torch.Generator().manual_seed(0)
    torch.rand(2, generator=gen)  # the per-sample draw the default ids consumed
    given = distiller.loss(*batch(), input_ids=uncond_ids, generator=gen).parts
    assert drawn == pytest.approx(given)


def test_copy_of_teacher_has_zero_loss(scheduler, vae: nn.Module) -> None:
    teacher = tiny_net(0)
    student = copy.deepcopy(teacher).eval()
    cfg = DistillConfig(feature_blocks=("down.0", "down.1", "up.0", "up.1"), trajectory_steps=3)
    with Distiller(student, teacher, scheduler, cfg, vae=vae) as distiller:
        out = distiller.loss(*batch(), generator=torch.Generator().manual_seed(0))
    for name, value in out.parts.items():
        assert value < 1e-10, name


def test_student_error_in_hole_costs_more_than_outside(scheduler) -> None:
    teacher = tiny_net(0)
    latents, mask, masked = batch()
    region_in, region_out = torch.zeros(1, 1, SIDE, SIDE), torch.zeros(1, 1, SIDE, SIDE)
    region_in[..., 3, 4] = 1
    region_out[..., 7, 0] = 1
    cfg = DistillConfig(use_perceptual=False, use_features=False, adaptive_weights=False)
    parts = {}
    for label, region in (("in", region_in), ("out", region_out)):
        student = copy.deepcopy(teacher).eval()
        student.diff_model.conv_out.register_forward_hook(lambda m, a, y, r=region: y + r)
        distiller = Distiller(student, teacher, scheduler, cfg)
        parts[label] = distiller.loss(
            latents, mask, masked, generator=torch.Generator().manual_seed(0)
        ).parts
    for term in ("output", "trajectory"):
        assert 0 < parts["out"][term] < 0.5 * parts["in"][term]


def test_bad_block_name_lists_valid_names(scheduler) -> None:
    with pytest.raises(InvalidArgumentError, match=r"down\.7.*down\.0.*up\.1"):
        Distiller(
            tiny_net(1, (8, 16)),
            tiny_net(0),
            scheduler,
            DistillConfig(("down.7",), use_perceptual=False),
        )
    with pytest.raises(InvalidArgumentError, match="mid.0"):
        DistillConfig(feature_blocks=("mid.0",))


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"out_channels": 3}, "out_channels=3.*out_channels=4"), ({"sample_size": 16}, "sample_size")],
)
def test_mismatched_latent_space_is_rejected(kw: dict, message: str, scheduler) -> None:
    student = tiny_net(1, (8, 16), **kw)
    with pytest.raises(InvalidArgumentError, match=message):
        Distiller(student, tiny_net(0), scheduler, DistillConfig(use_perceptual=False))


def test_bad_inputs_are_rejected(scheduler) -> None:
    with pytest.raises(InvalidArgumentError, match="needs a vae"):
        Distiller(tiny_net(1, (8, 16)), tiny_net(0), scheduler, DistillConfig())
    with pytest.raises(InvalidArgumentError, match="trajectory_steps"):
        DistillConfig(trajectory_steps=0)
    with pytest.raises(InvalidArgumentError, match="unknown terms"):
        DistillConfig(fixed_weights={"style": 1.0})
    distiller = Distiller(
        tiny_net(1, (8, 16)), tiny_net(0), scheduler, DistillConfig(use_perceptual=False)
    )
    latents, mask, masked = batch()
    with pytest.raises(InvalidArgumentError, match="latent_mask"):
        distiller.loss(latents, mask[:, :, :4], masked)


def test_hooks_are_removed_and_nothing_is_kept(scheduler) -> None:
    teacher, student = tiny_net(0), tiny_net(1, (8, 16))
    cfg = DistillConfig(feature_blocks=("down.0", "up.1"), use_perceptual=False)

    def hook_count(net: nn.Module) -> int:
        return sum(len(m._forward_hooks) for m in net.modules())

    distiller = Distiller(student, teacher, scheduler, cfg)
    assert distiller.num_hooks == 4 and hook_count(student) == hook_count(teacher) == 2
    distiller.loss(*batch())
    assert distiller._student_capture.features == {} and distiller._teacher_capture.features == {}
    distiller.close()
    distiller.close()  # idempotent
    assert distiller.num_hooks == 0 and hook_count(student) == hook_count(teacher) == 0
    with pytest.raises(RuntimeError, match="closed"):
        distiller.loss(*batch())


def test_training_reduces_the_distillation_loss(scheduler, vae: nn.Module) -> None:
    """A narrower student trained for 25 steps against a fixed random teacher (all 4 terms)."""
    teacher, student = tiny_net(0), tiny_net(1, (8, 16)).train()
    cfg = DistillConfig(trajectory_steps=2, adaptive_weights=True, weight_every=5)
    data = batch(2)

    def evaluate(distiller: Distiller) -> dict[str, float]:
        with torch.no_grad():  # same batch, timesteps and noise every time
            return distiller.loss(*data, generator=torch.Generator().manual_seed(123)).parts

    with Distiller(student, teacher, scheduler, cfg, vae=vae) as distiller:
        optimizer = torch.optim.Adam([*student.parameters(), *distiller.parameters()], lr=1e-2)
        initial = evaluate(distiller)
        gen = torch.Generator().manual_seed(0)
        for _ in range(25):
            out = distiller.loss(*data, generator=gen)
            optimizer.zero_grad()
            out.total.backward()
            optimizer.step()
        final = evaluate(distiller)
    assert all(final[k] < 0.8 * initial[k] for k in initial), (initial, final)
    assert sum(final.values()) < 0.5 * sum(initial.values()), (initial, final)
