"""Fixtures of the model tests: the golden folder, a tiny VAE and a tiny network."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SHARED_DATA, make_tiny_network, make_tiny_vae

GOLDEN_DIR = SHARED_DATA / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not (GOLDEN_DIR / "moebius_tiny_golden.safetensors").is_file():
        pytest.skip(f"golden tensors not found at {GOLDEN_DIR} (the shared data folder is absent)")
    return GOLDEN_DIR


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
