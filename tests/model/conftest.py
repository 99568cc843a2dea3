"""Fixtures of the model tests: the golden folder, a tiny VAE and a tiny network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

#: The project's shared folder is the repository's sibling: <parent>/shared/data/golden.
GOLDEN_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not (GOLDEN_DIR / "moebius_tiny_golden.safetensors").is_file():
        pytest.skip(f"golden tensors not found at {GOLDEN_DIR} (the shared data folder is absent)")
    return GOLDEN_DIR


def make_tiny_vae(seed: int = 0):
    """A 4-level (factor 8) AutoencoderKL with 4 latent channels and random weights."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[32] * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=64,
    ).eval()


def make_tiny_network(seed: int = 0, sample_size: int = 8):
    """The golden tiny widths at an 8x8 latent (64x64 images), with non-trivial BN statistics."""
    from moebius_video.model import MoebiusConfig, MoebiusNetwork

    torch.manual_seed(seed)
    net = MoebiusNetwork(MoebiusConfig.tiny(sample_size=sample_size))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
    return net.eval()


@pytest.fixture
def tiny_network():
    """Factory: ``tiny_network(seed=0, sample_size=8)``."""
    return make_tiny_network


@pytest.fixture
def tiny_vae():
    """Factory: ``tiny_vae(seed=0)``."""
    return make_tiny_vae


@pytest.fixture
def tiny_pipeline():
    from moebius_video.model import MoebiusInpaintingPipeline

    return MoebiusInpaintingPipeline(make_tiny_network(), make_tiny_vae())
