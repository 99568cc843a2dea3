"""The one-step student's pipeline path: an OpenCV fill at full resolution plus a correction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moebius_video.errors import InvalidArgumentError
from moebius_video.eval.image import fill_opencv
from moebius_video.model import MoebiusConfig, MoebiusInpaintingPipeline, MoebiusNetwork
from moebius_video.model.latent import PixelUnshuffleLatent
from moebius_video.model.sampling import make_scheduler
from moebius_video.train.trainer import zero_correction


def _student(
    masked_fill: str = "ns", seed: int = 0, perturb: bool = False, aux_fill: str | None = None
) -> MoebiusInpaintingPipeline:
    """A 32-px student like the shipped one (pixel-unshuffle latent, input skip, 1 step)."""
    torch.manual_seed(seed)
    config = MoebiusConfig(
        sample_size=8, in_channels=97, out_channels=48, block_out_channels=(32, 64),
        cross_attention_dim=40, encoder_hid_dim=72, input_skip=True,
    )
    network = MoebiusNetwork(config)
    if perturb:  # a trained-looking network whose correction is not zero
        with torch.no_grad():
            for p in network.parameters():
                p.add_(0.05 * torch.randn_like(p))
    scheduler = make_scheduler(
        {**make_scheduler().config, "prediction_type": "sample", "timestep_spacing": "trailing"}
    )
    return MoebiusInpaintingPipeline(
        network.eval(), PixelUnshuffleLatent(4), scheduler,
        defaults={"num_inference_steps": 1, "guidance_scale": 1.0},
        masked_fill=masked_fill, deterministic=True, feather=0.0, aux_fill=aux_fill,
    )


def _scene(height: int = 90, width: int = 150) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([
        128 + 80 * np.sin(xx / 9), 128 + 70 * np.cos(yy / 7), 40 + xx + 0.5 * yy,
    ], -1).clip(0, 255).astype(np.uint8)
    mask = np.zeros((height, width), bool)
    mask[25:70, 50:110] = True
    blank = image.copy()
    blank[mask] = 0
    return blank, mask


def _fill(pipe: MoebiusInpaintingPipeline, image: np.ndarray, mask: np.ndarray, seed: int = 0) -> np.ndarray:
    out = pipe(image, mask, generator=torch.Generator().manual_seed(seed), output_type="np").images[0]
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("method", "aux"), [("ns", None), ("telea", None), ("ns", "pushpull")])
def test_a_zero_correction_returns_opencvs_fill_exactly(method, aux):
    """Step 0 of the student (zero-initialised last layer) is its input, bit for bit, at the
    frame's resolution (the window is 90x90 here, the model works at 32x32)."""
    image, mask = _scene()
    expected = fill_opencv(image, mask, method)
    fresh = _student(method, aux_fill=aux)
    assert np.array_equal(_fill(fresh, image, mask), expected)

    trained = _student(method, perturb=True, aux_fill=aux)
    assert not np.array_equal(_fill(trained, image, mask), expected)  # the correction is used
    zero_correction(trained.network)
    assert np.array_equal(_fill(trained, image, mask), expected)


def test_the_correction_is_added_to_the_full_resolution_fill_deterministically():
    image, mask = _scene()
    pipe = _student(perturb=True)
    a, b = _fill(pipe, image, mask, seed=0), _fill(pipe, image, mask, seed=123)
    assert np.array_equal(a, b)  # deterministic: no noise, the generator is unused
    assert np.array_equal(a[~mask], image[~mask])
    base = fill_opencv(image, mask, "ns").astype(np.float64)
    diff = a.astype(np.float64) - base
    assert np.abs(diff[mask]).mean() > 0.5
    # A smooth model-size correction resized to the window: no full-resolution detail of its own.
    assert np.abs(np.diff(diff[mask.nonzero()[0].min() + 2, 52:108], axis=0)).max() < 40


def test_the_aux_fill_reaches_the_network():
    """With ``aux_fill`` the noisy-latent slot holds a second fill, not zeros: a network
    with a non-zero correction answers differently."""
    image, mask = _scene()
    seen = []
    pipe = _student(perturb=True, aux_fill="pushpull")
    pipe.network.register_forward_pre_hook(lambda _m, args: seen.append(args[0][:, :48].clone()))
    with_aux = _fill(pipe, image, mask)
    assert seen and seen[-1].abs().mean() > 0.1  # push-pull latents, not zeros
    without = _fill(_student(perturb=True), image, mask)
    assert not np.array_equal(with_aux, without)
    with pytest.raises(InvalidArgumentError, match="aux_fill"):
        MoebiusInpaintingPipeline(pipe.network, pipe.vae, masked_fill="ns", aux_fill="pushpull")


def test_student_settings_round_trip_through_model_index(tmp_path):
    pipe = _student("ns", perturb=True, aux_fill="pushpull")
    pipe.correction_blur = 1.0
    pipe.save_pretrained(tmp_path / "m")
    import json

    index = json.loads((tmp_path / "m" / "model_index.json").read_text())
    assert index["moebius_video_input"] == {
        "masked_fill": "ns", "correction_blur": 1.0, "deterministic": True, "aux_fill": "pushpull",
    }
    loaded = MoebiusInpaintingPipeline.from_pretrained(tmp_path / "m", feather=0.0)
    assert (loaded.masked_fill, loaded.correction_blur, loaded.deterministic, loaded.aux_fill) == (
        "ns", 1.0, True, "pushpull",
    )
    assert loaded.call_settings() == (1, 1.0, 1.0)
    image, mask = _scene()
    reference = _student("ns", perturb=True, aux_fill="pushpull")
    reference.correction_blur = 1.0
    # float16 storage: within a grey level or two of the float32 network.
    assert np.abs(_fill(loaded, image, mask).astype(int) - _fill(reference, image, mask)).max() <= 3


def test_correction_blur_needs_a_filled_input():
    pipe = _student()
    with pytest.raises(InvalidArgumentError, match="correction_blur"):
        MoebiusInpaintingPipeline(pipe.network, pipe.vae, masked_fill="zeros", correction_blur=1.0)
    with pytest.raises(InvalidArgumentError, match="masked_fill"):
        MoebiusInpaintingPipeline(pipe.network, pipe.vae, masked_fill="bogus")


def test_the_shipped_model_is_the_one_step_student_on_ns():
    """moebius-tiny loads offline from the package, is small, and is what its card says:
    NS plus a correction (push-pull as the second input), one deterministic step."""
    from moebius_video.model.pipeline import SHIPPED_MODELS

    weights = SHIPPED_MODELS["moebius-tiny"] / "unet" / "diffusion_pytorch_model.safetensors"
    assert weights.stat().st_size <= 20 * 2**20
    pipe = MoebiusInpaintingPipeline.from_pretrained("moebius-tiny", feather=0.0)
    assert (pipe.masked_fill, pipe.aux_fill, pipe.deterministic) == ("ns", "pushpull", True)
    assert pipe.call_settings() == (1, 1.0, 1.0)
    image, mask = _scene(160, 200)
    a, b = _fill(pipe, image, mask, seed=0), _fill(pipe, image, mask, seed=7)
    assert np.array_equal(a, b) and np.array_equal(a[~mask], image[~mask])
    ns = fill_opencv(image, mask, "ns")
    # A correction, not a new painting: close to NS, but not NS.
    diff = np.abs(a.astype(int) - ns)[mask]
    assert 0 < diff.mean() < 20
