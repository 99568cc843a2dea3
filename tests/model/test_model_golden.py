"""The network, the sampler and the pre/post-processing against the reference's golden tensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image


def _tol(ref: torch.Tensor) -> float:
    # fp32 vs fp64 agree to ~2e-6 relative; the smallest real change (t 500 -> 501) moves 0.12.
    return 1e-4 * max(1.0, ref.abs().max().item())


@pytest.fixture(scope="module")
def golden(golden_dir):
    from safetensors.torch import load_file

    return load_file(str(golden_dir / "moebius_tiny_golden.safetensors"))


@pytest.fixture(scope="module")
def tiny_golden_net(golden):
    from moebius_video.model import MoebiusConfig, MoebiusNetwork, load_state_dict_strict

    net = MoebiusNetwork(MoebiusConfig.tiny())
    load_state_dict_strict(net, {k: v for k, v in golden.items() if "/" not in k})
    return net.eval()


def test_golden_state_dict_loads_strictly(golden, tiny_golden_net):
    ref = {k: v for k, v in golden.items() if "/" not in k}
    ours = tiny_golden_net.state_dict()
    assert set(ours) == set(ref) and len(ours) == 1203
    for k, v in ref.items():
        assert ours[k].shape == v.shape and ours[k].dtype == v.dtype, k
        assert torch.equal(ours[k], v), k
    assert sum(p.numel() for p in tiny_golden_net.parameters()) == 2_583_995


def test_golden_forward_and_intermediates(golden, golden_dir, tiny_golden_net):
    names = json.loads((golden_dir / "moebius_tiny_golden.json").read_text())["intermediates"][
        "names"
    ]
    modules = dict(tiny_golden_net.named_modules())
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:
        module_name = name[: -len(".out")] if name.endswith(".out") else name

        def hook(_m, _i, out, name=name):
            captured[name] = out[0] if isinstance(out, tuple) else out

        handles.append(modules[module_name].register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = tiny_golden_net(
                golden["golden/input/latent_model_input"],
                golden["golden/input/timesteps"],
                golden["golden/input/input_ids"],
            )
    finally:
        for h in handles:
            h.remove()
    ref = golden["golden/output/sample"]
    err = (out - ref).abs().max().item()
    assert err <= _tol(ref), f"output max abs error {err}"
    assert (out.double() - golden["golden/output/sample_fp64"]).abs().max().item() <= _tol(ref)
    checked = 0
    for name in names:
        key = f"golden/intermediate/{name}"
        if key not in golden:
            continue  # an alias of a stored tensor
        got, want = captured[name], golden[key]
        assert got.shape == want.shape, name
        err = (got - want).abs().max().item()
        assert err <= _tol(want), f"{name}: max abs error {err}"
        checked += 1
    assert checked == 50


def test_golden_timestep_forms_agree(golden, tiny_golden_net):
    x, ids = golden["golden/input/latent_model_input"], golden["golden/input/input_ids"]
    with torch.no_grad():
        a = tiny_golden_net(x, 500, ids)
        b = tiny_golden_net(x, torch.tensor(500.0), ids)
    assert torch.equal(a, b)
    assert (a - golden["golden/output/sample"]).abs().max() <= _tol(golden["golden/output/sample"])


@pytest.fixture(scope="module")
def ddim_golden(golden_dir):
    from safetensors.torch import load_file

    meta = json.loads((golden_dir / "moebius_tiny_ddim_golden.json").read_text())
    return meta, load_file(str(golden_dir / "moebius_tiny_ddim_golden.safetensors"))


CASES = [
    "strength_0.99_steps3",
    "strength_1.0_steps3",
    "strength_0.5_steps3",
    "strength_0.5_steps6",
    "strength_0.99_steps3_noiseoffset",
]


@pytest.mark.parametrize("case", CASES)
def test_ddim_cfg_trace(case, ddim_golden, tiny_golden_net):
    from moebius_video.model.sampling import denoise, make_scheduler

    meta, g = ddim_golden
    spec = meta["cases"][case]
    noise = g["inputs/noise"]
    if spec["noise_offset"]:
        noise = noise + spec["noise_offset"] * g["inputs/offset_noise"]
    with torch.no_grad():
        result = denoise(
            tiny_golden_net,
            make_scheduler(),
            clean_latents=g["inputs/clean_latents"],
            masked_latents=g["inputs/masked_latents"],
            latent_mask=g["inputs/resized_mask"],
            noise=noise,
            num_inference_steps=spec["num_steps"],
            strength=spec["strength"],
            guidance_scale=spec["guidance_scale"],
            return_trace=True,
        )
    assert result.timesteps.tolist() == g[f"{case}/timesteps"].tolist() == spec["timesteps_used"]
    assert result.timesteps.dtype == torch.int64
    init = g[f"{case}/init_latents"]
    assert (result.init_latents - init).abs().max() <= _tol(init)
    assert len(result.trace) == spec["n_model_calls"]
    for i, step in enumerate(result.trace):
        for name, got in (
            ("noise_pred_uncond_cond", step.noise_pred_uncond_cond),
            ("noise_pred_cfg", step.noise_pred_cfg),
            ("latents_after", step.latents),
        ):
            want = g[f"{case}/step{i}/{name}"]
            err = (got - want).abs().max().item()
            assert err <= _tol(want), f"{case} step {i} {name}: max abs error {err}"


def test_latent_mask_is_nearest_sampling(ddim_golden):
    import torch.nn.functional as F

    _, g = ddim_golden
    mask = g["inputs/mask_image_space"]
    resized = F.interpolate(mask, size=(32, 32)).to(torch.float32)
    assert torch.equal(resized, g["inputs/resized_mask"])


def test_cfg_ids_order():
    from moebius_video.model import MoebiusConfig, MoebiusNetwork

    net = MoebiusNetwork(MoebiusConfig.tiny(sample_size=8))
    ids = net.cfg_input_ids(2)
    assert ids.shape == (4, 10)
    assert ids[0].tolist() == list(range(10, 20)) and ids[1].tolist() == list(range(10, 20))
    assert ids[2].tolist() == list(range(10)) and ids[3].tolist() == list(range(10))


def test_reference_pre_post_processing(ddim_golden):
    from moebius_video.model.reference_processing import reference_postprocess, reference_preprocess

    meta, g = ddim_golden
    image = Image.fromarray(g["prepost/src_image_uint8_HWC"].numpy())
    mask = Image.fromarray(g["prepost/src_mask_uint8_HW"].numpy())
    inputs = reference_preprocess(image, mask, 128)
    assert list(inputs.resized_image.size) == meta["prepost"]["resized_size_WH"]
    assert torch.equal(inputs.image, g["prepost/image_tensor"])
    assert torch.equal(inputs.masked_image, g["prepost/masked_image_tensor"])
    assert torch.equal(inputs.mask, g["prepost/mask_tensor_uint8"])
    assert np.array_equal(
        np.asarray(inputs.resized_mask), g["prepost/resized_mask_pil_uint8_HW"].numpy()
    )
    decoded = g["prepost/decoded_image_01"]
    assert np.array_equal(
        reference_postprocess(decoded, inputs, paste=False),
        g["prepost/post_nopaste_uint8_HWC"].numpy(),
    )
    assert np.array_equal(
        reference_postprocess(decoded, inputs, paste=True),
        g["prepost/post_paste_uint8_HWC"].numpy(),
    )


def test_full_config_matches_manifest(golden_dir):
    from moebius_video.model import MoebiusConfig, MoebiusNetwork

    manifest = json.loads((golden_dir / "moebius_full_manifest.json").read_text())
    config = MoebiusConfig.from_dict(manifest["registered_config"])
    assert config == MoebiusConfig.official()
    with torch.device("meta"):
        net = MoebiusNetwork(config)
    ours = net.state_dict()
    ref = manifest["state_dict"]
    assert [e["key"] for e in ref] == list(ours)  # same keys, same order
    for entry in ref:
        t = ours[entry["key"]]
        assert list(t.shape) == entry["shape"], entry["key"]
        assert str(t.dtype).removeprefix("torch.") == entry["dtype"], entry["key"]
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == manifest["parameter_count"]["total"] == 226_041_531
    assert sum(p.numel() for p in net.diff_model.parameters()) == 225_980_091
    assert len(list(net.parameters())) == manifest["num_parameter_entries"]
    assert len(list(net.buffers())) == manifest["num_buffer_entries"]


class _StubVAE(torch.nn.Module):
    """Stands in for the VAE of the golden runs: encode returns the golden latents."""

    def __init__(self, clean: torch.Tensor, masked: torch.Tensor) -> None:
        super().__init__()
        from types import SimpleNamespace

        self.config = SimpleNamespace(
            latent_channels=4, block_out_channels=[1] * 4, scaling_factor=1.0
        )
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self._outputs = [clean, masked]
        self.encoded: list[torch.Tensor] = []

    @property
    def device(self) -> torch.device:
        return self.anchor.device

    @property
    def dtype(self) -> torch.dtype:
        return self.anchor.dtype

    def encode(self, x: torch.Tensor):
        from types import SimpleNamespace

        self.encoded.append(x)
        value = self._outputs[len(self.encoded) - 1]
        return SimpleNamespace(latent_dist=SimpleNamespace(sample=lambda generator=None: value))


@pytest.mark.parametrize(
    "case", ["strength_0.99_steps3", "strength_0.99_steps3_noiseoffset", "strength_1.0_steps3"]
)
def test_pipeline_wiring_reproduces_the_reference_run(
    case, ddim_golden, tiny_golden_net, monkeypatch
):
    """Whole pipeline (crop, mask, encode order, noise, CFG, DDIM) on the golden 256x256 case."""
    from moebius_video.model import MoebiusInpaintingPipeline

    meta, g = ddim_golden
    spec = meta["cases"][case]
    draws = [g["inputs/noise"], g["inputs/offset_noise"]]
    monkeypatch.setattr("diffusers.utils.torch_utils.randn_tensor", lambda *a, **k: draws.pop(0))
    vae = _StubVAE(g["inputs/clean_latents"], g["inputs/masked_latents"])
    pipe = MoebiusInpaintingPipeline(tiny_golden_net, vae)
    mask = g["inputs/mask_image_space"][0, 0].bool()
    image = torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(0))
    out = pipe(
        image,
        mask,
        num_inference_steps=spec["num_steps"],
        strength=spec["strength"],
        guidance_scale=spec["guidance_scale"],
        noise_offset=spec["noise_offset"],
        output_type="latent",
    )
    assert out.crop_boxes[0].height == out.crop_boxes[0].width == 256  # the whole image
    assert len(vae.encoded) == 2  # the image first, then the masked image
    hole = mask[None].float()
    assert torch.equal(vae.encoded[1], vae.encoded[0] * (1 - hole[None]))
    want = g[f"{case}/step{spec['n_model_calls'] - 1}/latents_after"]
    err = (out.latents - want).abs().max().item()
    assert err <= _tol(want), f"{case}: final latents max abs error {err}"
