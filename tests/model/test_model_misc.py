"""Config, import hygiene and the benchmark command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from moebius_video.errors import InvalidArgumentError
from moebius_video.model import MoebiusConfig


def test_config_round_trip_and_reference_spelling():
    tiny = MoebiusConfig.tiny()
    assert MoebiusConfig.from_dict(tiny.to_dict()) == tiny
    ref = {
        "sample_size": 32,
        "block_out_channels": [32, 64, 128],
        "attention_head_dim": 8,
        "cross_attention_dim": 40,
        "encoder_hid_dim": 72,
        "down_block_types": ["DWMixTFDownBlock2D"] * 3,
        "up_block_types": ["DWMixTFUpBlock2D"] * 3,
        "mid_block_type": None,
        "projection_class_embeddings_input_dim": 80,
    }
    assert MoebiusConfig.from_dict(ref) == tiny
    assert MoebiusConfig.official().context_length == 10
    assert MoebiusConfig.official().downsample_factor == 4


def test_config_rejects_bad_values():
    with pytest.raises(InvalidArgumentError, match="num_heads"):
        MoebiusConfig(block_out_channels=(36, 64, 128), norm_num_groups=4)
    with pytest.raises(InvalidArgumentError, match="sample_size"):
        MoebiusConfig(sample_size=30)
    with pytest.raises(InvalidArgumentError, match="mid_block_type"):
        MoebiusConfig.from_dict({"attention_head_dim": 8, "mid_block_type": "UNetMidBlock2D"})
    with pytest.raises(InvalidArgumentError, match="down_block_types"):
        MoebiusConfig.from_dict({"down_block_types": ["CrossAttnDownBlock2D"]})


def test_model_package_never_imports_io_engine_cli():
    code = (
        "import sys, moebius_video.model as m; "
        "import moebius_video.model.pipeline; "
        "bad = [n for n in sys.modules if n.split('.')[:2] in "
        "(['moebius_video','io'], ['moebius_video','engine'], ['moebius_video','cli'])]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
