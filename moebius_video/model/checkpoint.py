"""Reading Moebius checkpoints and loading them strictly.

The official files (``diffusion_pytorch_model.bin``) are plain ``torch.save`` state dicts of the
reference's ``RemovalModel``: keys ``embedding_layer.weight`` and ``diff_model.<...>``, float32
plus int64 ``num_batches_tracked``. We read them with ``torch.load(weights_only=True)`` (no
pickle code runs) and read safetensors files too. Loading is strict: any missing, unexpected
or mis-shaped key raises :class:`~moebius_video.errors.CheckpointError` naming them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from moebius_video.errors import CheckpointError

#: File names looked for in a model folder, in order of preference.
WEIGHT_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "model.safetensors",
    "diffusion_pytorch_model.bin",
    "pytorch_model.bin",
)

_SHOWN = 8


def find_weights(folder: str | os.PathLike[str]) -> Path | None:
    """Return the weight file of a model folder, or ``None`` when it has none."""
    folder = Path(folder)
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch ``.bin``/``.pt``/``.pth`` file (on CPU).

    Raises:
        CheckpointError: Missing/unreadable file, a LitEma dump, or not a state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    if ".EMA." in path.name:
        raise CheckpointError(
            f"{path.name} is a LitEma dump (parameters only, no BatchNorm statistics); "
            "load the plain diffusion_pytorch_model.bin instead"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if (
        isinstance(state, Mapping)
        and "state_dict" in state
        and isinstance(state["state_dict"], Mapping)
    ):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a flat state dict of tensors")
    return dict(state)


def _normalise_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # A DistributedDataParallel dump prefixes every key with "module."; nothing else is renamed.
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", ... ({len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")


def load_state_dict_strict(
    model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "checkpoint"
) -> None:
    """Copy ``state`` into ``model``, requiring exactly the model's keys and shapes.

    A model built on the ``meta`` device gets the checkpoint tensors assigned (no copy), then
    cast to the model's floating dtype; otherwise values are copied into the existing tensors.

    Raises:
        CheckpointError: Names (some of) the missing, unexpected and mis-shaped keys and counts.
    """
    state = _normalise_keys(state)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mis_shaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_names(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_names(unexpected)}")
        if mis_shaped:
            parts.append(
                f"{len(mis_shaped)} shape mismatch(es) (checkpoint vs model): {_names(mis_shaped)}"
            )
        raise CheckpointError(f"{source} does not match the model: " + "; ".join(parts))

    on_meta = any(t.is_meta for t in expected.values())
    if on_meta:
        floating = next(
            (t.dtype for t in expected.values() if t.is_floating_point()), torch.float32
        )
        state = {
            k: (v.to(floating) if v.is_floating_point() else v.to(expected[k].dtype))
            for k, v in state.items()
        }
        model.load_state_dict(state, strict=True, assign=True)
    else:
        model.load_state_dict(state, strict=True)
