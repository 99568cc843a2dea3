"""An invertible latent space for small Moebius models: pixel-unshuffle, no learned weights.

The official Moebius checkpoints diffuse in the latent space of hustvl/PixelHacker's
``AutoencoderKL`` (8x downsampling, 4 channels, 84 M parameters). Those weights are not on
every machine, and a VAE trained on two CPU cores in an afternoon reconstructs too poorly to
be worth its cost: its reconstruction error would cap the quality of every fill. The shipped
``moebius-tiny`` model therefore diffuses in an *invertible* latent instead: each
``f x f`` block of RGB pixels becomes one latent position with ``3 * f * f`` channels
(:func:`torch.nn.functional.pixel_unshuffle`), scaled to roughly unit variance. Decoding is
the exact inverse, so the latent costs nothing to train, nothing to run and loses nothing.

The price: the latent is not compressed (48 channels at 1/4 resolution for ``f = 4``), so a
small network cannot reproduce white noise in all 48 channels through its 32-wide first block.
Models on this latent therefore predict the clean sample (``prediction_type="sample"``)
rather than the noise; see ``moebius_video.train``.

:class:`PixelUnshuffleLatent` speaks the part of diffusers' ``AutoencoderKL`` interface the
pipeline uses (``encode(x).latent_dist.sample()``, ``decode(z).sample``, ``config``,
``save_pretrained`` / ``from_pretrained``), so it drops in where a VAE goes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from moebius_video.errors import CheckpointError, InvalidArgumentError

#: ``_class_name`` written to ``config.json``; :func:`is_latent_folder` looks for it.
CLASS_NAME = "PixelUnshuffleLatent"


@dataclass
class _Decoded:
    sample: torch.Tensor


class _Deterministic:
    """The ``latent_dist`` of an invertible map: every "sample" is the mean."""

    def __init__(self, mean: torch.Tensor) -> None:
        self.mean = mean

    def sample(self, generator: Any = None) -> torch.Tensor:  # noqa: ARG002 - API parity
        return self.mean

    def mode(self) -> torch.Tensor:
        return self.mean


@dataclass
class _Encoded:
    latent_dist: _Deterministic


class PixelUnshuffleLatent(nn.Module):
    """Images in ``[-1, 1]`` <-> latents by pixel-(un)shuffle, as a drop-in for a diffusers VAE.

    Args:
        factor: Side of the pixel block folded into one latent position (a power of two).
        in_channels: Image channels (3).
        scaling_factor: Multiplier the pipeline applies after encoding (``latents *
            scaling_factor``) and undoes before decoding; 2.0 brings photos in ``[-1, 1]``
            (standard deviation about 0.5) to about unit variance, like the noise.
    """

    def __init__(self, factor: int = 4, in_channels: int = 3, scaling_factor: float = 2.0) -> None:
        super().__init__()
        if factor < 1 or factor & (factor - 1):
            raise InvalidArgumentError(f"factor must be a power of two >= 1, got {factor}")
        if in_channels < 1:
            raise InvalidArgumentError(f"in_channels must be >= 1, got {in_channels}")
        if not scaling_factor > 0:
            raise InvalidArgumentError(f"scaling_factor must be > 0, got {scaling_factor}")
        self.factor = int(factor)
        levels = self.factor.bit_length()  # 2 ** (levels - 1) == factor, as diffusers counts
        self.config = SimpleNamespace(
            _class_name=CLASS_NAME,
            factor=self.factor,
            in_channels=int(in_channels),
            latent_channels=int(in_channels) * self.factor**2,
            scaling_factor=float(scaling_factor),
            block_out_channels=[0] * levels,
        )
        # No weights; this empty buffer carries the device and dtype.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    @property
    def dtype(self) -> torch.dtype:
        return self._anchor.dtype

    @property
    def scale_factor(self) -> int:
        """Pixels per latent position along each side."""
        return self.factor

    def _check(self, x: torch.Tensor, channels: int, what: str) -> None:
        if x.ndim != 4 or x.shape[1] != channels:
            raise InvalidArgumentError(
                f"{what} must be B,{channels},H,W, got {tuple(x.shape)}"
            )

    def encode(self, x: torch.Tensor) -> _Encoded:
        """``B,C,H,W`` image in [-1, 1] (H, W multiples of ``factor``) -> ``B,C*f*f,H/f,W/f``."""
        self._check(x, self.config.in_channels, "image")
        if x.shape[-1] % self.factor or x.shape[-2] % self.factor:
            raise InvalidArgumentError(
                f"image size {x.shape[-1]}x{x.shape[-2]} is not a multiple of {self.factor}"
            )
        return _Encoded(_Deterministic(F.pixel_unshuffle(x, self.factor)))

    def decode(self, z: torch.Tensor) -> _Decoded:
        """The exact inverse of :meth:`encode`."""
        self._check(z, self.config.latent_channels, "latents")
        return _Decoded(F.pixel_shuffle(z, self.factor))

    def save_pretrained(self, save_directory: str | os.PathLike[str], **_: Any) -> None:
        """Write ``config.json`` (there are no weights)."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in vars(self.config).items() if k != "block_out_channels"}
        (folder / "config.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str], **_: Any) -> PixelUnshuffleLatent:
        """Read ``config.json`` written by :meth:`save_pretrained`."""
        path = Path(folder) / "config.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read the latent config {path}: {exc}") from exc
        if data.get("_class_name") != CLASS_NAME:
            raise CheckpointError(f"{path} is not a {CLASS_NAME} config")
        return cls(
            factor=int(data["factor"]),
            in_channels=int(data.get("in_channels", 3)),
            scaling_factor=float(data.get("scaling_factor", 2.0)),
        )


def is_latent_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder/config.json`` describes a :class:`PixelUnshuffleLatent`."""
    path = Path(folder) / "config.json"
    try:
        return json.loads(path.read_text()).get("_class_name") == CLASS_NAME
    except (OSError, ValueError):
        return False


__all__ = ["CLASS_NAME", "PixelUnshuffleLatent", "is_latent_folder"]
