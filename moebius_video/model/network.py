"""The Moebius inpainting network (hustvl/Moebius student, "LλMI" UNet).

A latent-diffusion UNet whose attention is replaced by lambda layers (linear in the number of
tokens), with depthwise-separable ResNet blocks, a GLU "MixFFN" and a learned table of task-id
embeddings as its only conditioning. Module names, registration order and parameter shapes
follow the reference exactly, so its checkpoints load with ``strict=True``:
``embedding_layer.weight`` and ``diff_model.<...>``.

Shapes: the network takes ``sample`` ``B, 9, S, S`` (noisy latent 4 + mask 1 + masked-image
latent 4; ``S = config.sample_size``), a timestep (int, float or tensor of shape ``[]``,
``[1]`` or ``[B]``) and ``input_ids`` ``B, n/2`` int64, and returns the noise prediction
``B, 4, S, S``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.models.downsampling import Downsample2D
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.upsampling import Upsample2D
from torch import nn

from moebius_video.errors import InvalidArgumentError
from moebius_video.model.config import MoebiusConfig


def _square_side(num_tokens: int) -> int:
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise InvalidArgumentError(
            f"lambda layers need a square token grid, got {num_tokens} tokens"
        )
    return side


# ---------------------------------------------------------------------------- convolutions
class DepthwiseSeparableConv(nn.Module):
    """Depthwise kxk conv, BN + ReLU, pointwise 1x1 conv, BN; residual when widths match.

    The layout of timm's ``DepthwiseSeparableConv`` with its defaults (keys ``conv_dw``,
    ``bn1``, ``conv_pw``, ``bn2``; no biases in the convs).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=in_channels,
            bias=False,
        )
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv_pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.has_skip = in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv_dw(x)))
        h = self.bn2(self.conv_pw(h))
        return h + x if self.has_skip else h


class DWResnetBlock2D(nn.Module):
    """GN-SiLU-DWConv, + projected time embedding, GN-SiLU-DWConv, + (1x1) shortcut."""

    def __init__(
        self, in_channels: int, out_channels: int, temb_channels: int, groups: int, eps: float
    ) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = DepthwiseSeparableConv(in_channels, out_channels, 3)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = DepthwiseSeparableConv(out_channels, out_channels, 3)
        self.conv_shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        shortcut = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return shortcut + h


# ---------------------------------------------------------------------------- lambda layers
class LocalSelfLambda(nn.Module):
    """Multi-query self-lambda with a local (k x k) position lambda ("MQSλ", ``attn1``).

    Y[h,v,n] = sum_k Q[h,k,n] (λc[k,v] + λp[k,v,n]) with λc = softmax_n(K) V^T and λp the same
    bank of ``dim_k`` spatial filters applied to every value channel.
    """

    def __init__(self, dim: int, heads: int, kernel_size: int) -> None:
        super().__init__()
        self.heads = heads
        self.dim_k = dim // heads
        self.dim_v = dim // heads
        self.to_q = nn.Conv2d(dim, self.dim_k * heads, 1, bias=False)
        self.to_k = nn.Conv2d(dim, self.dim_k, 1, bias=False)
        self.to_v = nn.Conv2d(dim, self.dim_v, 1, bias=False)
        self.norm_q = nn.BatchNorm2d(self.dim_k * heads)
        self.norm_v = nn.BatchNorm2d(self.dim_v)
        # Stored as the reference's Conv3d (weight [k, 1, 1, r, r]); run as a 2-D conv.
        self.pos_conv = nn.Conv3d(
            1,
            self.dim_k,
            (1, kernel_size, kernel_size),
            padding=(0, kernel_size // 2, kernel_size // 2),
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, c = tokens.shape
        side = _square_side(n)
        x = tokens.transpose(1, 2).reshape(b, c, side, side)
        q = self.norm_q(self.to_q(x)).reshape(b, self.heads, self.dim_k, n)
        k = self.to_k(x).reshape(b, self.dim_k, n).softmax(dim=-1)
        v = self.norm_v(self.to_v(x))  # b, v, side, side
        content = torch.einsum("bkm,bvm->bvk", k, v.reshape(b, self.dim_v, n))
        weight = self.pos_conv.weight.squeeze(2)  # k, 1, r, r
        pad = weight.shape[-1] // 2
        pos = F.conv2d(
            v.reshape(b * self.dim_v, 1, side, side), weight, self.pos_conv.bias, padding=pad
        )
        lam = pos.reshape(b, self.dim_v, self.dim_k, n) + content[..., None]  # b, v, k, n
        y = torch.einsum("bhkn,bvkn->bhvn", q, lam)
        return y.reshape(b, self.heads * self.dim_v, n).transpose(1, 2)


class GlobalCrossLambda(nn.Module):
    """Multi-query cross-lambda over the id tokens with a global position table ("MQCλ", ``attn2``).

    ``rel_pos_emb`` ``[side**2, L, dim_k, 1]`` holds one key-space vector per (query position,
    context token) pair, so the layer only accepts ``side x side`` inputs and ``L`` tokens.
    """

    def __init__(
        self, dim: int, heads: int, context_dim: int, side: int, context_length: int
    ) -> None:
        super().__init__()
        self.heads = heads
        self.dim_k = dim // heads
        self.dim_v = dim // heads
        self.to_q = nn.Conv2d(dim, self.dim_k * heads, 1, bias=False)
        self.to_k = nn.Linear(context_dim, self.dim_k, bias=False)
        self.to_v = nn.Linear(context_dim, self.dim_v, bias=False)
        self.norm_q = nn.BatchNorm2d(self.dim_k * heads)
        self.norm_v = nn.BatchNorm1d(self.dim_v)
        self.rel_pos_emb = nn.Parameter(torch.empty(side * side, context_length, self.dim_k, 1))
        nn.init.normal_(self.rel_pos_emb)

    def forward(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, c = tokens.shape
        side = _square_side(n)
        if n != self.rel_pos_emb.shape[0] or context.shape[1] != self.rel_pos_emb.shape[1]:
            raise InvalidArgumentError(
                f"cross-lambda built for {self.rel_pos_emb.shape[0]} positions and "
                f"{self.rel_pos_emb.shape[1]} context tokens, got {n} and {context.shape[1]}"
            )
        x = tokens.transpose(1, 2).reshape(b, c, side, side)
        q = self.norm_q(self.to_q(x)).reshape(b, self.heads, self.dim_k, n)
        k = self.to_k(context).transpose(1, 2).softmax(dim=-1)  # b, k, l
        v = self.norm_v(self.to_v(context).transpose(1, 2))  # b, v, l
        content = torch.einsum("bkl,bvl->bkv", k, v)
        y_content = torch.einsum("bhkn,bkv->bhvn", q, content)
        # λp[n,k,v] = sum_l E[n,l,k] V[v,l]; contract Q with E first (fewer flops, same sum).
        qe = torch.einsum("bhkn,nlk->bhnl", q, self.rel_pos_emb[..., 0])
        y_pos = torch.einsum("bhnl,bvl->bhvn", qe, v)
        y = y_content + y_pos
        return y.reshape(b, self.heads * self.dim_v, n).transpose(1, 2)


class _ConvLayer(nn.Module):
    """A conv under the key ``conv`` (the Sana ``ConvLayer`` layout, no norm)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class GLUMBConv(nn.Module):
    """Sana's MixFFN: 1x1 conv + SiLU, 3x3 depthwise conv, GLU gate (SiLU), 1x1 conv."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.inverted_conv = _ConvLayer(nn.Conv2d(dim, 2 * hidden, 1, bias=True))
        self.depth_conv = _ConvLayer(
            nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=True)
        )
        self.point_conv = _ConvLayer(nn.Conv2d(hidden, dim, 1, bias=False))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, c = tokens.shape
        side = _square_side(n)
        x = tokens.reshape(b, side, side, c).permute(0, 3, 1, 2)
        x = self.depth_conv(F.silu(self.inverted_conv(x)))
        x, gate = x.chunk(2, dim=1)
        x = self.point_conv(x * F.silu(gate))
        return x.reshape(b, c, n).permute(0, 2, 1)


class MixTransformerBlock(nn.Module):
    """Pre-norm block: self-lambda, cross-lambda, MixFFN, each with a residual."""

    def __init__(self, dim: int, config: MoebiusConfig, side: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn1 = LocalSelfLambda(dim, config.num_heads, config.local_kernel)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.attn2 = GlobalCrossLambda(
            dim, config.num_heads, config.cross_attention_dim, side, config.context_length
        )
        self.norm3 = nn.LayerNorm(dim, eps=1e-5)
        self.ff = GLUMBConv(dim, int(dim * config.mix_mlp_ratio))

    def forward(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        tokens = self.attn1(self.norm1(tokens)) + tokens
        tokens = self.attn2(self.norm2(tokens), context) + tokens
        return self.ff(self.norm3(tokens)) + tokens


class MixTransformer2D(nn.Module):
    """GroupNorm, 1x1 in, one :class:`MixTransformerBlock` on the token grid, 1x1 out, residual."""

    def __init__(self, dim: int, config: MoebiusConfig, side: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(config.norm_num_groups, dim, eps=1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([MixTransformerBlock(dim, config, side)])
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        for block in self.transformer_blocks:
            tokens = block(tokens, context)
        y = tokens.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()
        return self.proj_out(y) + x


# ---------------------------------------------------------------------------- UNet blocks
class DownBlock(nn.Module):
    """``layers_per_block`` (resnet, transformer) pairs, then an optional stride-2 conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        config: MoebiusConfig,
        side: int,
        add_downsample: bool,
    ) -> None:
        super().__init__()
        n = config.layers_per_block
        # Registration order matters for state_dict() order: attentions before resnets.
        self.attentions = nn.ModuleList(
            [MixTransformer2D(out_channels, config, side) for _ in range(n)]
        )
        self.resnets = nn.ModuleList(
            [
                DWResnetBlock2D(
                    in_channels if i == 0 else out_channels,
                    out_channels,
                    config.time_embed_dim,
                    config.norm_num_groups,
                    config.norm_eps,
                )
                for i in range(n)
            ]
        )
        self.downsamplers = (
            nn.ModuleList(
                [
                    Downsample2D(
                        out_channels, use_conv=True, out_channels=out_channels, padding=1, name="op"
                    )
                ]
            )
            if add_downsample
            else None
        )

    def forward(
        self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        skips: tuple[torch.Tensor, ...] = ()
        for resnet, attn in zip(self.resnets, self.attentions, strict=True):
            x = attn(resnet(x, temb), context)
            skips += (x,)
        if self.downsamplers is not None:
            for down in self.downsamplers:
                x = down(x)
            skips += (x,)
        return x, skips


class UpBlock(nn.Module):
    """``layers_per_block + 1`` pairs, each fed ``cat([x, skip])``, then an optional upsampler."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        prev_output_channels: int,
        config: MoebiusConfig,
        side: int,
        add_upsample: bool,
    ) -> None:
        super().__init__()
        n = config.layers_per_block + 1
        self.attentions = nn.ModuleList(
            [MixTransformer2D(out_channels, config, side) for _ in range(n)]
        )
        resnets = []
        for i in range(n):
            skip_channels = in_channels if i == n - 1 else out_channels
            resnet_in = prev_output_channels if i == 0 else out_channels
            resnets.append(
                DWResnetBlock2D(
                    resnet_in + skip_channels,
                    out_channels,
                    config.time_embed_dim,
                    config.norm_num_groups,
                    config.norm_eps,
                )
            )
        self.resnets = nn.ModuleList(resnets)
        self.upsamplers = (
            nn.ModuleList([Upsample2D(out_channels, use_conv=True, out_channels=out_channels)])
            if add_upsample
            else None
        )

    def forward(
        self,
        x: torch.Tensor,
        skips: tuple[torch.Tensor, ...],
        temb: torch.Tensor,
        context: torch.Tensor,
    ) -> torch.Tensor:
        for resnet, attn in zip(self.resnets, self.attentions, strict=True):
            x = torch.cat([x, skips[-1]], dim=1)
            skips = skips[:-1]
            x = attn(resnet(x, temb), context)
        if self.upsamplers is not None:
            for up in self.upsamplers:
                x = up(x)
        return x


class MoebiusUNet(nn.Module):
    """The UNet (the reference's ``diff_model``): no mid block, lambda transformers everywhere."""

    def __init__(self, config: MoebiusConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.block_out_channels
        self.conv_in = DepthwiseSeparableConv(config.in_channels, widths[0], config.conv_in_kernel)
        self.time_proj = Timesteps(widths[0], config.flip_sin_to_cos, config.freq_shift)
        self.time_embedding = TimestepEmbedding(widths[0], config.time_embed_dim, act_fn="silu")
        self.encoder_hid_proj = nn.Linear(config.encoder_hid_dim, config.cross_attention_dim)

        side = config.sample_size
        self.down_blocks = nn.ModuleList()
        out_ch = widths[0]
        for i, width in enumerate(widths):
            in_ch, out_ch = out_ch, width
            last = i == len(widths) - 1
            self.down_blocks.append(DownBlock(in_ch, out_ch, config, side, add_downsample=not last))
            if not last:
                side //= 2

        self.up_blocks = nn.ModuleList()
        rev = list(reversed(widths))
        out_ch = rev[0]
        for i in range(len(rev)):
            last = i == len(rev) - 1
            prev_out, out_ch = out_ch, rev[i]
            in_ch = rev[min(i + 1, len(rev) - 1)]
            self.up_blocks.append(
                UpBlock(in_ch, out_ch, prev_out, config, side, add_upsample=not last)
            )
            if not last:
                side *= 2

        self.conv_norm_out = nn.GroupNorm(config.norm_num_groups, widths[0], eps=config.norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = DepthwiseSeparableConv(
            widths[0], config.out_channels, config.conv_out_kernel
        )

    def time_embed(
        self, timestep: torch.Tensor | float | int, sample: torch.Tensor
    ) -> torch.Tensor:
        """Sinusoid (float32) cast to the sample dtype, then the 2-layer MLP. Returns ``B, 4*C0``."""
        if not torch.is_tensor(timestep):
            dtype = torch.float64 if isinstance(timestep, float) else torch.int64
            timestep = torch.tensor([timestep], dtype=dtype, device=sample.device)
        elif timestep.ndim == 0:
            timestep = timestep[None]
        timestep = timestep.to(sample.device).expand(sample.shape[0])
        t_emb = self.time_proj(timestep).to(dtype=sample.dtype)
        return self.time_embedding(t_emb)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
    ) -> torch.Tensor:
        size = self.config.sample_size
        if (
            sample.ndim != 4
            or sample.shape[1] != self.config.in_channels
            or tuple(sample.shape[-2:]) != (size, size)
        ):
            raise InvalidArgumentError(
                f"sample must be B,{self.config.in_channels},{size},{size} (the network only accepts "
                f"its trained latent size), got {tuple(sample.shape)}"
            )
        emb = self.time_embed(timestep, sample)
        context = self.encoder_hid_proj(encoder_hidden_states)

        x = self.conv_in(sample)
        skips: tuple[torch.Tensor, ...] = (x,)
        for block in self.down_blocks:
            x, res = block(x, emb, context)
            skips += res
        for block in self.up_blocks:
            n = len(block.resnets)
            res, skips = skips[-n:], skips[:-n]
            x = block(x, res, emb, context)
        x = self.conv_act(self.conv_norm_out(x))
        return self.conv_out(x)


class MoebiusNetwork(nn.Module):
    """Task-id embedding table + :class:`MoebiusUNet` (the reference's ``RemovalModel``).

    Build on any device with ``torch.device(...)`` as a context manager (``"meta"`` builds the
    0.226 B model without allocating). The constructor reads no file. BatchNorm layers make
    train mode behave differently (batch statistics): call ``.eval()`` for inference.
    """

    def __init__(self, config: MoebiusConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else MoebiusConfig.official()
        self.embedding_layer = nn.Embedding(self.config.num_embeddings, self.config.encoder_hid_dim)
        self.diff_model = MoebiusUNet(self.config)
        if self.config.input_skip:
            # Start as the identity on the conditioning: the output BN's scale at zero.
            nn.init.zeros_(self.diff_model.conv_out.bn2.weight)

    @property
    def dtype(self) -> torch.dtype:
        return self.embedding_layer.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.embedding_layer.weight.device

    def cfg_input_ids(self, batch_size: int) -> torch.Tensor:
        """Ids for a classifier-free-guidance batch: ``B`` unconditional rows, then ``B`` conditional.

        Returns:
            ``2B, n/2`` int64 on the network's device (ids ``n/2..n-1`` then ``0..n/2-1``).
        """
        half = self.config.context_length
        cond = torch.arange(half, dtype=torch.int64, device=self.device)
        uncond = cond + half
        return torch.cat([uncond.expand(batch_size, half), cond.expand(batch_size, half)])

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | float | int, input_ids: torch.Tensor
    ) -> torch.Tensor:
        """Predict the noise.

        Args:
            sample: ``B, 9, S, S`` network input (noisy latent, mask, masked-image latent).
            timestep: Diffusion timestep(s), broadcast to the batch.
            input_ids: ``B, n/2`` int64 task ids.

        Returns:
            ``B, 4, S, S`` noise prediction in the sample's dtype.

        Raises:
            InvalidArgumentError: Wrong input size or number of ids.
        """
        if input_ids.ndim != 2 or input_ids.shape != (sample.shape[0], self.config.context_length):
            raise InvalidArgumentError(
                f"input_ids must be {sample.shape[0]},{self.config.context_length}, got {tuple(input_ids.shape)}"
            )
        out = self.diff_model(sample, timestep, self.embedding_layer(input_ids))
        if self.config.input_skip:
            c = self.config.out_channels
            out = out + sample[:, c + 1 : 2 * c + 1]
        return out
