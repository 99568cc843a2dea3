"""Configuration of the Moebius network: one frozen dataclass, every layer size comes from it.

The official checkpoint (hustvl/Moebius, 0.226 B parameters) is :meth:`MoebiusConfig.official`;
:meth:`MoebiusConfig.tiny` is the reduced-width network of the golden tensors. The reference
code calls its config diffusers-style (``attention_head_dim`` is really the head count,
``sample_size`` is the latent side); :meth:`MoebiusConfig.from_dict` reads both spellings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from moebius_video.errors import InvalidArgumentError

#: The DDIM settings of the reference (``infer/utils.py build_pipeline``); everything else is
#: diffusers' default: set_alpha_to_one True, steps_offset 0, epsilon, "leading" spacing.
DDIM_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": True,
    "steps_offset": 0,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
}

#: Reference (diffusers-style) config keys and the field each one maps to.
_REFERENCE_KEYS = {
    "sample_size": "sample_size",
    "in_channels": "in_channels",
    "out_channels": "out_channels",
    "block_out_channels": "block_out_channels",
    "layers_per_block": "layers_per_block",
    "attention_head_dim": "num_heads",  # diffusers naming quirk: it is the head count
    "cross_attention_dim": "cross_attention_dim",
    "encoder_hid_dim": "encoder_hid_dim",
    "num_embeddings": "num_embeddings",
    "mix_mlp_ratio": "mix_mlp_ratio",
    "norm_num_groups": "norm_num_groups",
    "norm_eps": "norm_eps",
    "conv_in_kernel": "conv_in_kernel",
    "conv_out_kernel": "conv_out_kernel",
    "flip_sin_to_cos": "flip_sin_to_cos",
    "freq_shift": "freq_shift",
}


@dataclass(frozen=True)
class MoebiusConfig:
    """Sizes of the Moebius UNet and its task-id embedding.

    Attributes:
        sample_size: Latent side the network accepts (the cross-lambda position tables have
            ``side**2`` rows per level, so the input must be exactly this size, square).
        in_channels: Noisy latent + mask + masked-image latent (4 + 1 + 4).
        out_channels: Latent channels of the noise prediction.
        block_out_channels: Widths of the down blocks (reversed for the up blocks).
        layers_per_block: Resnet/transformer pairs per down block (up blocks have one more).
        num_heads: Lambda heads; key depth and value depth per head are ``width // num_heads``.
        cross_attention_dim: Width of the projected id embeddings (the lambda context).
        encoder_hid_dim: Width of the id embedding table.
        num_embeddings: Number of task ids (ids ``0..n/2-1`` conditional, ``n/2..n-1``
            unconditional); each row of ids has ``n/2`` tokens.
        mix_mlp_ratio: Hidden width of the GLU MixFFN relative to the block width.
        norm_num_groups: GroupNorm groups (resnets, transformers, output).
        norm_eps: GroupNorm eps of the resnets and the output norm (transformers use 1e-6).
        conv_in_kernel: Depthwise kernel of the input conv.
        conv_out_kernel: Depthwise kernel of the output conv.
        local_kernel: Spatial kernel of the self-lambda position convolution.
        flip_sin_to_cos: Timestep sinusoid order (cos first).
        freq_shift: Timestep sinusoid frequency shift.
        input_skip: Add the masked-image latents (the last ``out_channels`` input channels) to
            the output, so the network predicts a correction of its conditioning. Not in
            the reference (False); the small models on the uncompressed latent use it with
            the clean-sample target and a push-pull filled masked image.
    """

    sample_size: int = 64
    in_channels: int = 9
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280)
    layers_per_block: int = 2
    num_heads: int = 8
    cross_attention_dim: int = 768
    encoder_hid_dim: int = 3072
    num_embeddings: int = 20
    mix_mlp_ratio: float = 2.5
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    conv_in_kernel: int = 3
    conv_out_kernel: int = 3
    local_kernel: int = 15
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    input_skip: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "block_out_channels", tuple(int(c) for c in self.block_out_channels)
        )
        problems = []
        if len(self.block_out_channels) < 1:
            problems.append("block_out_channels must not be empty")
        for c in self.block_out_channels:
            if c % self.num_heads:
                problems.append(f"width {c} is not divisible by num_heads={self.num_heads}")
            if c % self.norm_num_groups:
                problems.append(
                    f"width {c} is not divisible by norm_num_groups={self.norm_num_groups}"
                )
        if self.sample_size % self.downsample_factor:
            problems.append(
                f"sample_size={self.sample_size} is not divisible by {self.downsample_factor} "
                f"(2 ** number of downsamplers)"
            )
        if self.num_embeddings % 2:
            problems.append(
                f"num_embeddings={self.num_embeddings} must be even (cond + uncond halves)"
            )
        if self.input_skip and self.in_channels != 2 * self.out_channels + 1:
            problems.append(
                f"input_skip needs in_channels = 2 * out_channels + 1, got {self.in_channels}"
            )
        if self.local_kernel % 2 == 0:
            problems.append(f"local_kernel={self.local_kernel} must be odd")
        if problems:
            raise InvalidArgumentError("invalid MoebiusConfig: " + "; ".join(problems))

    # ------------------------------------------------------------------ derived sizes
    @property
    def downsample_factor(self) -> int:
        """How much the UNet shrinks its input (2 per down block but the last)."""
        return 2 ** (len(self.block_out_channels) - 1)

    @property
    def context_length(self) -> int:
        """Number of id tokens per row (half the id table)."""
        return self.num_embeddings // 2

    @property
    def time_embed_dim(self) -> int:
        return 4 * self.block_out_channels[0]

    @property
    def latent_channels(self) -> int:
        return self.out_channels

    # ------------------------------------------------------------------ presets
    @classmethod
    def official(cls) -> MoebiusConfig:
        """The released checkpoints (512x512 images, 64x64 latents, 226,041,531 parameters)."""
        return cls()

    @classmethod
    def tiny(cls, sample_size: int = 32) -> MoebiusConfig:
        """The reduced-width network of the golden tensors (2,583,995 parameters)."""
        return cls(
            sample_size=sample_size,
            block_out_channels=(32, 64, 128),
            cross_attention_dim=40,
            encoder_hid_dim=72,
        )

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (what ``config.json`` holds)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out["block_out_channels"] = list(self.block_out_channels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MoebiusConfig:
        """Build from our ``config.json`` or from the reference's diffusers-style config.

        Raises:
            InvalidArgumentError: Unknown layout (e.g. block types the reference never used).
        """
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        if "attention_head_dim" in data or "down_block_types" in data:
            for key in ("down_block_types", "up_block_types"):
                kinds = set(data.get(key) or [])
                if kinds - {"DWMixTFDownBlock2D", "DWMixTFUpBlock2D"}:
                    raise InvalidArgumentError(
                        f"unsupported {key} {sorted(kinds)} in the model config"
                    )
            if data.get("mid_block_type") is not None:
                raise InvalidArgumentError(
                    f"unsupported mid_block_type {data['mid_block_type']!r} (Moebius has none)"
                )
            kwargs = {_REFERENCE_KEYS[k]: v for k, v in data.items() if k in _REFERENCE_KEYS}
        else:
            kwargs = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k not in _REFERENCE_KEYS}
        if kwargs.get("sample_size") is None:
            kwargs.pop("sample_size", None)
        if "block_out_channels" in kwargs:
            kwargs["block_out_channels"] = tuple(kwargs["block_out_channels"])
        return cls(**kwargs, extra=extra)
