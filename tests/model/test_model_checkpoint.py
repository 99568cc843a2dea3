"""Strict checkpoint loading: .bin and safetensors, errors naming the offending keys."""

from __future__ import annotations

import pytest
import torch

from moebius_video.errors import CheckpointError
from moebius_video.model import (
    MoebiusConfig,
    MoebiusNetwork,
    load_network,
    load_state_dict_strict,
    read_state_dict,
)


def test_bin_and_safetensors_load_identically(tmp_path, tiny_network):
    from safetensors.torch import save_file

    net = tiny_network(seed=3)
    state = net.state_dict()
    torch.save(state, tmp_path / "diffusion_pytorch_model.bin")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    x = torch.randn(2, 9, 8, 8)
    ids = net.cfg_input_ids(1)
    with torch.no_grad():
        want = net(x, 300, ids)
        for f in ("diffusion_pytorch_model.bin", "w.safetensors"):
            loaded = load_network(tmp_path / f, net.config)
            assert not loaded.training
            assert torch.equal(loaded(x, 300, ids), want), f


def test_missing_and_unexpected_keys_are_named(tmp_path, tiny_network):
    net = tiny_network()
    state = net.state_dict()
    del state["diff_model.conv_in.bn1.running_var"]
    del state["embedding_layer.weight"]
    state["diff_model.mid_block.bogus"] = torch.zeros(1)
    target = MoebiusNetwork(MoebiusConfig.tiny(sample_size=8))
    with pytest.raises(CheckpointError) as info:
        load_state_dict_strict(target, state)
    msg = str(info.value)
    assert "2 missing key(s)" in msg and "embedding_layer.weight" in msg and "running_var" in msg
    assert "1 unexpected key(s)" in msg and "diff_model.mid_block.bogus" in msg
    assert isinstance(info.value, RuntimeError)


def test_shape_mismatch_is_named():
    # The official checkpoint into a 32x32-latent tiny model: every position table differs.
    state = MoebiusNetwork(MoebiusConfig.tiny(sample_size=16)).state_dict()
    target = MoebiusNetwork(MoebiusConfig.tiny(sample_size=8))
    with pytest.raises(CheckpointError, match=r"shape mismatch.*rel_pos_emb"):
        load_state_dict_strict(target, state)


def test_many_missing_keys_are_counted_and_truncated():
    target = MoebiusNetwork(MoebiusConfig.tiny(sample_size=8))
    with pytest.raises(CheckpointError, match=r"1203 missing key\(s\).*more\)"):
        load_state_dict_strict(target, {})


def test_module_prefix_and_meta_loading(tmp_path, tiny_network):
    net = tiny_network()
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "ddp.bin")
    loaded = load_network(tmp_path / "ddp.bin", net.config, dtype=torch.bfloat16)
    assert loaded.dtype == torch.bfloat16
    assert torch.equal(
        loaded.embedding_layer.weight.float(), net.embedding_layer.weight.bfloat16().float()
    )


def test_unreadable_and_pickled_code_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "nope.bin")
    (tmp_path / "junk.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        read_state_dict(tmp_path / "junk.bin")
    torch.save({"w": torch.zeros(1), "f": print}, tmp_path / "code.bin")  # needs unpickling code
    with pytest.raises(CheckpointError, match="cannot read"):
        read_state_dict(tmp_path / "code.bin")
    torch.save({"w": torch.zeros(1)}, tmp_path / "model.EMA.bin")
    with pytest.raises(CheckpointError, match="LitEma"):
        read_state_dict(tmp_path / "model.EMA.bin")


def test_constructor_reads_no_file_and_meta_build_is_cheap():
    with torch.device("meta"):
        net = MoebiusNetwork()
    assert all(p.is_meta for p in net.parameters())
    assert sum(p.numel() for p in net.parameters()) == 226_041_531
