"""Spatial-aware knowledge distillation of a Moebius student from a Moebius teacher.

The recipe of the Moebius paper, in four loss terms that are each optional:

1. ``"features"``: intermediate feature alignment. The outputs of chosen UNet blocks of the
   student go through small learned adapters (1x1 conv, student width -> teacher width; a
   bilinear resize when the spatial sizes differ) and are matched to the teacher's, with a
   spatial weight that favours the hole and its border.
2. ``"output"``: both networks predict on the same noisy input at a random timestep; their
   predictions are matched (hole-weighted MSE).
3. ``"trajectory"``: the teacher samples a short DDIM trajectory from pure noise
   (``trajectory_steps`` steps, no grad); at every visited state the student predicts too and
   its predictions are matched to the teacher's.
4. ``"perceptual"``: the two predictions of (2) are converted to clean latents, decoded with
   the VAE and compared in the feature space of a frozen extractor (hole-weighted).

The terms are combined with weights that either stay fixed or adapt so that every term
contributes a comparable gradient norm on the student's parameters (:class:`AdaptiveLossWeights`).

Block names: ``"down.<i>"`` is the hidden state returned by ``diff_model.down_blocks[i]``
(after its downsampler, i.e. the first element of the block's ``(x, skips)`` tuple) and
``"up.<i>"`` the output of ``diff_model.up_blocks[i]`` (after its upsampler).

Typical use::

    distiller = Distiller(student, teacher, scheduler, DistillConfig(), vae=vae)
    optimizer = torch.optim.AdamW([*student.parameters(), *distiller.parameters()], lr=1e-4)
    for latents, latent_mask, masked_latents in batches:
        out = distiller.loss(latents, latent_mask, masked_latents)
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
    distiller.close()
"""

from __future__ import annotations

import copy
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from moebius_video.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

#: Names of the loss terms, in the order they are computed and reported.
TERM_NAMES: tuple[str, ...] = ("output", "trajectory", "features", "perceptual")

#: A perceptual feature extractor: ``B, 3, H, W`` images in ``[-1, 1]`` -> feature maps.
FeatureExtractor = Callable[[torch.Tensor], Sequence[torch.Tensor]]

_BLOCK_NAME = re.compile(r"^(down|up)\.(\d+)$")


# ---------------------------------------------------------------------------- config / result
@dataclass(frozen=True)
class DistillConfig:
    """Settings of :class:`Distiller`.

    Attributes:
        feature_blocks: Blocks whose outputs are aligned (``"down.<i>"`` / ``"up.<i>"``, see
            the module docstring). Empty disables the feature term.
        hole_weight: Extra spatial weight inside the hole (``w = 1 + hole_weight * hole + ...``).
        border_weight: Extra spatial weight on the band around the hole's edge.
        border_px: Half-width of that band in latent pixels (dilation minus erosion).
        trajectory_steps: Number ``K`` of teacher DDIM steps from pure noise whose states both
            networks predict on.
        use_output: Enable the random-timestep output-matching term.
        use_trajectory: Enable the trajectory-matching term.
        use_features: Enable the intermediate-feature term (needs ``feature_blocks``).
        use_perceptual: Enable the perceptual term (needs a VAE).
        adaptive_weights: Balance the terms by their gradient norms; else use ``fixed_weights``.
        weight_ema: EMA factor of the adaptive weights (0 = no smoothing).
        weight_every: Recompute the adaptive weights every this many training calls.
        weight_params: Parameters on which gradient norms are measured: ``"all"`` (every
            trainable student parameter) or ``"conv_in"`` (the student's input conv, which
            every term reaches).
        fixed_weights: Weight per term name when ``adaptive_weights`` is False (missing terms
            get 1.0); ignored otherwise.
        uncond_prob: Probability that a sample uses the unconditional ids (so the student also
            learns the unconditional half that classifier-free guidance needs). Only used when
            ``loss`` is called without ``input_ids``.
        eps: Small constant of the gradient-norm balancing and the feature normalisation.
    """

    feature_blocks: tuple[str, ...] = ("down.1", "up.0")
    hole_weight: float = 2.0
    border_weight: float = 1.0
    border_px: int = 1
    trajectory_steps: int = 2
    use_output: bool = True
    use_trajectory: bool = True
    use_features: bool = True
    use_perceptual: bool = True
    adaptive_weights: bool = True
    weight_ema: float = 0.9
    weight_every: int = 10
    weight_params: str = "all"
    fixed_weights: Mapping[str, float] | None = None
    uncond_prob: float = 0.0
    eps: float = 1e-8

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_blocks", tuple(self.feature_blocks))
        problems = []
        if self.hole_weight < 0 or self.border_weight < 0:
            problems.append(
                f"hole_weight and border_weight must be >= 0, got {self.hole_weight} and "
                f"{self.border_weight}"
            )
        if self.border_px < 0:
            problems.append(f"border_px must be >= 0, got {self.border_px}")
        if self.trajectory_steps < 1:
            problems.append(f"trajectory_steps must be >= 1, got {self.trajectory_steps}")
        if not 0.0 <= self.weight_ema < 1.0:
            problems.append(f"weight_ema must be in [0, 1), got {self.weight_ema}")
        if self.weight_every < 1:
            problems.append(f"weight_every must be >= 1, got {self.weight_every}")
        if self.weight_params not in ("all", "conv_in"):
            problems.append(f"weight_params must be 'all' or 'conv_in', got {self.weight_params!r}")
        if not 0.0 <= self.uncond_prob <= 1.0:
            problems.append(f"uncond_prob must be in [0, 1], got {self.uncond_prob}")
        if self.fixed_weights is not None:
            unknown = sorted(set(self.fixed_weights) - set(TERM_NAMES))
            if unknown:
                problems.append(
                    f"fixed_weights has unknown terms {unknown}; valid: {list(TERM_NAMES)}"
                )
            negative = sorted(k for k, v in self.fixed_weights.items() if v < 0)
            if negative:
                problems.append(f"fixed_weights must be >= 0, negative for {negative}")
        for name in self.feature_blocks:
            if _BLOCK_NAME.match(name) is None:
                problems.append(f"feature block {name!r} is not of the form 'down.<i>' or 'up.<i>'")
        if not self.enabled_terms:
            problems.append("every loss term is disabled")
        if problems:
            raise InvalidArgumentError("invalid DistillConfig: " + "; ".join(problems))

    @property
    def enabled_terms(self) -> tuple[str, ...]:
        """The names of the enabled terms, in :data:`TERM_NAMES` order."""
        flags = {
            "output": self.use_output,
            "trajectory": self.use_trajectory,
            "features": self.use_features and bool(self.feature_blocks),
            "perceptual": self.use_perceptual,
        }
        return tuple(name for name in TERM_NAMES if flags[name])


@dataclass
class DistillOutput:
    """One distillation loss evaluation.

    Attributes:
        total: The weighted sum to back-propagate (scalar, with graph).
        parts: The unweighted value of each enabled term.
        weights: The weight each term got in ``total``.
        grad_norms: Each term's gradient norm on the balancing parameters, when this call
            re-balanced the adaptive weights (empty otherwise).
    """

    total: torch.Tensor
    parts: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    grad_norms: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------- spatial weights
def spatial_weight_map(
    latent_mask: torch.Tensor, hole_weight: float, border_weight: float, border_px: int
) -> torch.Tensor:
    """The per-pixel loss weight ``1 + hole_weight * hole + border_weight * ring``, mean 1.

    ``ring`` is the band of half-width ``border_px`` around the hole's edge (dilation minus
    erosion of the hole, so it straddles the edge). Each sample's map is normalised to mean 1,
    so the weights reshape the loss without changing its overall scale.

    Args:
        latent_mask: ``B, 1, h, w`` mask in ``[0, 1]`` (1 = hole).
        hole_weight: Extra weight inside the hole.
        border_weight: Extra weight on the edge band.
        border_px: Half-width of the edge band in pixels (0: no band).

    Returns:
        ``B, 1, h, w`` weights in the mask's dtype, each sample of mean 1.

    Raises:
        InvalidArgumentError: ``latent_mask`` is not ``B, 1, h, w``.
    """
    if latent_mask.ndim != 4 or latent_mask.shape[1] != 1:
        raise InvalidArgumentError(f"latent_mask must be B,1,h,w, got {tuple(latent_mask.shape)}")
    hole = latent_mask.clamp(0, 1)
    weight = 1 + hole_weight * hole
    if border_px > 0 and border_weight:
        k = 2 * border_px + 1
        dilated = F.max_pool2d(hole, k, stride=1, padding=border_px)
        eroded = -F.max_pool2d(-hole, k, stride=1, padding=border_px)
        weight = weight + border_weight * (dilated - eroded)
    return weight / weight.mean(dim=(1, 2, 3), keepdim=True)


def resize_weight(weight: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a ``B, 1, h, w`` weight map to ``size`` (area when shrinking) and renormalise to mean 1."""
    if tuple(weight.shape[-2:]) == tuple(size):
        return weight
    if size[0] <= weight.shape[-2] and size[1] <= weight.shape[-1]:
        out = F.adaptive_avg_pool2d(weight, size)
    else:
        out = F.interpolate(weight, size=size, mode="nearest")
    return out / out.mean(dim=(1, 2, 3), keepdim=True)


def weighted_mse(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of ``weight * (a - b)**2``; ``weight`` (``B, 1, h, w``) is resized to ``a`` if needed.

    Args:
        a: ``B, C, H, W`` tensor.
        b: Same shape as ``a``.
        weight: ``B, 1, h, w`` spatial weight (mean 1).

    Returns:
        Scalar loss.
    """
    weight = resize_weight(weight.to(a.dtype), (a.shape[-2], a.shape[-1]))
    return (weight * (a - b).square()).mean()


# ---------------------------------------------------------------------------- perceptual default
class PyramidGradientFeatures(nn.Module):
    """A fixed, download-free "perceptual" feature extractor: image pyramid + Sobel gradients.

    No pretrained VGG / LPIPS weights are available offline, and the features of a random or
    partly trained network say little about images, so the default compares what can be
    measured honestly without learning: at each of ``levels`` scales (2x average pooling
    between them) the maps are the image itself (colour / low-frequency content) and its
    Sobel x/y gradients (edges and texture contrast). The divergence is therefore a
    multi-scale colour + gradient loss: it penalises blur, seams and wrong edges in the
    decoded fill, but it is *not* a learned perceptual metric. Pass a real one (e.g. a frozen
    VGG returning a list of activations) as ``feature_extractor`` where weights exist.

    Args:
        levels: Number of pyramid levels (>= 1).
    """

    def __init__(self, levels: int = 3) -> None:
        super().__init__()
        if levels < 1:
            raise InvalidArgumentError(f"levels must be >= 1, got {levels}")
        self.levels = levels
        sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
        self.register_buffer(
            "kernel", torch.stack([sobel_x, sobel_x.t()])[:, None], persistent=False
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of ``images`` (``B, C, H, W``): per level ``B, 3C, H/2^l, W/2^l``."""
        feats = []
        x = images
        c = x.shape[1]
        kernel = self.kernel.to(dtype=x.dtype, device=x.device).repeat(c, 1, 1, 1)
        for level in range(self.levels):
            if level:
                if min(x.shape[-2:]) < 2:
                    break
                x = F.avg_pool2d(x, 2)
            grads = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)
            feats.append(torch.cat([x, grads], dim=1))
        return feats


# ---------------------------------------------------------------------------- adaptive weights
class AdaptiveLossWeights(nn.Module):
    """Gradient-norm balancing of loss terms: ``w_i ∝ 1 / (||∇ L_i|| + eps)``.

    The raw weights are normalised to sum to the number of terms and smoothed with an EMA
    (the first update sets them directly). The weights and the update count are buffers, so
    they are saved with the distiller's ``state_dict``.

    Args:
        names: Term names.
        ema: EMA factor (0 = use the newest estimate).
        eps: Added to each gradient norm.
    """

    def __init__(self, names: Sequence[str], ema: float = 0.9, eps: float = 1e-8) -> None:
        super().__init__()
        self.names = tuple(names)
        self.ema = ema
        self.eps = eps
        self.register_buffer("values", torch.ones(len(self.names)))
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    def as_dict(self) -> dict[str, float]:
        """The current weights by term name."""
        return dict(zip(self.names, self.values.tolist(), strict=True))

    def update(
        self, losses: Mapping[str, torch.Tensor], params: Sequence[torch.Tensor]
    ) -> dict[str, float]:
        """Measure each term's gradient norm on ``params`` and move the weights.

        The graph of every loss is retained (``retain_graph=True``) so the caller can still
        back-propagate the total. Terms whose gradient on ``params`` is zero or absent keep
        their previous weight.

        Args:
            losses: Scalar loss per term name (every name of :attr:`names`).
            params: The shared parameters (``requires_grad``).

        Returns:
            The gradient norm of each term.
        """
        norms: dict[str, float] = {}
        for name in self.names:
            grads = torch.autograd.grad(losses[name], params, retain_graph=True, allow_unused=True)
            sq = [g.detach().float().square().sum() for g in grads if g is not None]
            norms[name] = math.sqrt(float(torch.stack(sq).sum())) if sq else 0.0
        measured = [i for i, n in enumerate(self.names) if norms[n] > 0 and math.isfinite(norms[n])]
        if not measured:
            return norms
        old = self.values.clone()
        inv = torch.tensor([1.0 / (norms[self.names[i]] + self.eps) for i in measured])
        # Measured terms share the total their old weights had; unmeasured ones keep theirs,
        # so the weights keep summing to the number of terms.
        raw = old.clone()
        raw[measured] = (inv / inv.sum() * old[measured].sum()).to(raw.dtype)
        new = raw if int(self.updates) == 0 else self.ema * old + (1 - self.ema) * raw
        self.values.copy_(new * (len(self.names) / new.sum()))
        self.updates += 1
        return norms


# ---------------------------------------------------------------------------- helpers
def _prediction_to_x0(
    scheduler: Any, prediction: torch.Tensor, x_t: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """Clean latent implied by a network prediction at ``x_t`` (per-sample timesteps)."""
    alphas = scheduler.alphas_cumprod.to(device=x_t.device, dtype=torch.float32)[timesteps]
    a = alphas.reshape(-1, 1, 1, 1)
    kind = scheduler.config.prediction_type
    pred, xt = prediction.float(), x_t.float()
    if kind == "epsilon":
        x0 = (xt - (1 - a).sqrt() * pred) / a.sqrt()
    elif kind == "v_prediction":
        x0 = a.sqrt() * xt - (1 - a).sqrt() * pred
    elif kind == "sample":
        x0 = pred
    else:
        raise InvalidArgumentError(f"unsupported scheduler prediction_type {kind!r}")
    return x0.to(prediction.dtype)


def _module_dtype(module: Any, fallback: torch.dtype) -> torch.dtype:
    """The dtype a (possibly parameter-free) VAE works in: ``.dtype``, its parameters, or ``fallback``."""
    dtype = getattr(module, "dtype", None)
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(module, nn.Module):
        for tensor in (*module.parameters(), *module.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype
    return fallback


def _block(network: nn.Module, name: str) -> nn.Module:
    kind, index = name.split(".")
    blocks = network.diff_model.down_blocks if kind == "down" else network.diff_model.up_blocks
    return blocks[int(index)]


def _valid_block_names(network: nn.Module) -> list[str]:
    unet = network.diff_model
    return [f"down.{i}" for i in range(len(unet.down_blocks))] + [
        f"up.{i}" for i in range(len(unet.up_blocks))
    ]


def _block_width(network: nn.Module, name: str) -> int:
    kind, index = name.split(".")
    widths = network.config.block_out_channels
    i = int(index)
    return widths[i] if kind == "down" else widths[len(widths) - 1 - i]


class _Capture:
    """Forward hooks storing block outputs while ``active``; cleared after every use."""

    def __init__(self, network: nn.Module, names: Iterable[str]) -> None:
        self.active = False
        self.features: dict[str, torch.Tensor] = {}
        self.handles = [
            _block(network, name).register_forward_hook(self._hook(name)) for name in names
        ]

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if self.active:
                self.features[name] = output[0] if isinstance(output, tuple) else output

        return hook

    def clear(self) -> None:
        self.active = False
        self.features = {}

    def remove(self) -> None:
        self.clear()
        for handle in self.handles:
            handle.remove()
        self.handles = []


@dataclass(frozen=True)
class _Networks:
    """Holds the student, teacher and VAE without registering them as submodules."""

    student: nn.Module
    teacher: nn.Module
    vae: Any


# ---------------------------------------------------------------------------- the distiller
class Distiller(nn.Module):
    """Computes the spatial-aware distillation loss of a student against a frozen teacher.

    Only the feature adapters (and the adaptive-weight buffers) belong to this module: the
    student, teacher and VAE are referenced but not registered, so ``distiller.parameters()``
    are the adapters alone and ``distiller.to(device)`` moves only them. Build the optimizer
    from ``[*student.parameters(), *distiller.parameters()]``.

    The constructor freezes the teacher (``eval()``, ``requires_grad_(False)``) and the VAE
    (``requires_grad_(False)``; gradients still flow *through* its decoder to the student),
    and installs forward hooks on the chosen blocks of both networks; they record only while
    :meth:`loss` runs and are removed by :meth:`close` (or leaving a ``with`` block).

    Args:
        student: The network being trained (a ``MoebiusNetwork``-compatible module).
        teacher: The reference network; same latent space, widths may differ.
        scheduler: A diffusers ``DDIMScheduler`` (its ``prediction_type`` is what both
            networks predict); a private copy drives the teacher trajectory.
        config: Distillation settings.
        vae: An ``AutoencoderKL``-like decoder, required by the perceptual term.
        feature_extractor: Images ``B, 3, H, W`` in ``[-1, 1]`` -> list of feature maps, for
            the perceptual term (default :class:`PyramidGradientFeatures`).

    Raises:
        InvalidArgumentError: Different latent spaces, unknown block names, or a perceptual
            term without a VAE.
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        scheduler: Any,
        config: DistillConfig | None = None,
        vae: Any = None,
        feature_extractor: FeatureExtractor | None = None,
    ) -> None:
        super().__init__()
        self.config = config if config is not None else DistillConfig()
        cfg = self.config
        s_cfg, t_cfg = student.config, teacher.config
        for attr in ("out_channels", "in_channels", "sample_size", "num_embeddings"):
            if getattr(s_cfg, attr) != getattr(t_cfg, attr):
                raise InvalidArgumentError(
                    f"student and teacher must share the latent space and ids: student "
                    f"{attr}={getattr(s_cfg, attr)}, teacher {attr}={getattr(t_cfg, attr)}"
                )
        if cfg.use_perceptual and vae is None:
            raise InvalidArgumentError(
                "use_perceptual=True needs a vae (pass vae=... or set use_perceptual=False)"
            )
        self.terms = cfg.enabled_terms
        self.blocks: tuple[str, ...] = cfg.feature_blocks if "features" in self.terms else ()
        valid = sorted(set(_valid_block_names(student)) & set(_valid_block_names(teacher)))
        bad = [name for name in self.blocks if name not in valid]
        if bad:
            raise InvalidArgumentError(
                f"unknown feature block(s) {bad}; valid names for this student and teacher: {valid}"
            )

        teacher.eval().requires_grad_(False)
        if isinstance(vae, nn.Module):
            vae.requires_grad_(False)
        self._nets = _Networks(student, teacher, vae)
        self.scheduler = scheduler
        self._trajectory_scheduler = copy.deepcopy(scheduler)
        self._trajectory_scheduler.set_timesteps(cfg.trajectory_steps)
        self.feature_extractor: FeatureExtractor = (
            feature_extractor if feature_extractor is not None else PyramidGradientFeatures()
        )

        self.adapters = nn.ModuleDict()
        for name in self.blocks:
            s_w, t_w = _block_width(student, name), _block_width(teacher, name)
            conv = nn.Conv2d(s_w, t_w, 1)
            if s_w == t_w:  # identity start: a copied teacher aligns at zero loss
                with torch.no_grad():
                    conv.weight.copy_(torch.eye(t_w)[:, :, None, None])
                    conv.bias.zero_()
            self.adapters[name.replace(".", "_")] = conv
        ref = next(student.parameters())
        self.adapters.to(device=ref.device, dtype=ref.dtype)
        self.balancer = AdaptiveLossWeights(self.terms, cfg.weight_ema, cfg.eps)
        self.balancer.to(ref.device)
        self._calls = 0
        self._student_capture = _Capture(student, self.blocks)
        self._teacher_capture = _Capture(teacher, self.blocks)

    # ------------------------------------------------------------------ properties / lifecycle
    @property
    def student(self) -> nn.Module:
        return self._nets.student

    @property
    def teacher(self) -> nn.Module:
        return self._nets.teacher

    @property
    def vae(self) -> Any:
        return self._nets.vae

    @property
    def num_hooks(self) -> int:
        """Forward hooks this distiller currently has installed (0 after :meth:`close`)."""
        return len(self._student_capture.handles) + len(self._teacher_capture.handles)

    def close(self) -> None:
        """Remove the forward hooks from the student and teacher (idempotent)."""
        self._student_capture.remove()
        self._teacher_capture.remove()

    def __enter__(self) -> Distiller:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def current_weights(self) -> dict[str, float]:
        """The weight each enabled term gets now."""
        if self.config.adaptive_weights:
            return self.balancer.as_dict()
        fixed = self.config.fixed_weights or {}
        return {name: float(fixed.get(name, 1.0)) for name in self.terms}

    # ------------------------------------------------------------------ the loss
    def loss(
        self,
        latents: torch.Tensor,
        latent_mask: torch.Tensor,
        masked_latents: torch.Tensor,
        input_ids: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> DistillOutput:
        """Evaluate the enabled terms on one batch and combine them.

        In training (module in train mode and grad enabled) this counts a step and, every
        ``weight_every`` steps, re-balances the adaptive weights from per-term gradients.

        Args:
            latents: ``B, C, S, S`` scaled clean latents of the target images.
            latent_mask: ``B, 1, S, S`` hole mask at latent size (1 = hole).
            masked_latents: ``B, C, S, S`` scaled latents of the masked images.
            input_ids: ``B, n/2`` task ids for both networks (default: conditional ids, or
                unconditional ones per sample with probability ``uncond_prob``).
            generator: Random source of timesteps and noise (on the latents' device).

        Returns:
            The weighted total and the per-term values and weights.

        Raises:
            InvalidArgumentError: Shapes that do not fit the networks or one another.
            RuntimeError: After :meth:`close` when the feature term is enabled.
        """
        cfg = self.config
        self._check_inputs(latents, latent_mask, masked_latents)
        if self.blocks and not self._student_capture.handles:
            raise RuntimeError("this Distiller was closed: its feature hooks are removed")
        b = latents.shape[0]
        if input_ids is None:
            input_ids = self._default_ids(b, generator, latents.device)
        weight = spatial_weight_map(
            latent_mask.to(latents.dtype), cfg.hole_weight, cfg.border_weight, cfg.border_px
        )
        cond = torch.cat([latent_mask.to(latents.dtype), masked_latents], dim=1)

        losses: dict[str, torch.Tensor] = {}
        try:
            if {"output", "features", "perceptual"} & set(self.terms):
                losses.update(self._random_t_terms(latents, cond, weight, input_ids, generator))
            if "trajectory" in self.terms:
                losses["trajectory"] = self._trajectory_term(
                    latents, cond, weight, input_ids, generator
                )
        finally:
            self._student_capture.clear()
            self._teacher_capture.clear()

        training = self.training and torch.is_grad_enabled()
        norms: dict[str, float] = {}
        if training and cfg.adaptive_weights:
            if self._calls % cfg.weight_every == 0:
                params = self._balance_params()
                live = {k: v for k, v in losses.items() if v.requires_grad}
                if params and len(live) == len(losses):
                    norms = self.balancer.update(losses, params)
                    logger.debug(
                        "distillation gradient norms %s -> weights %s",
                        norms,
                        self.balancer.as_dict(),
                    )
        if training:
            self._calls += 1
        weights = self.current_weights()
        total = sum(weights[name] * losses[name] for name in self.terms)
        assert isinstance(total, torch.Tensor)
        return DistillOutput(
            total=total,
            parts={name: float(losses[name].detach()) for name in self.terms},
            weights=weights,
            grad_norms=norms,
        )

    # ------------------------------------------------------------------ pieces
    def _check_inputs(
        self, latents: torch.Tensor, latent_mask: torch.Tensor, masked_latents: torch.Tensor
    ) -> None:
        c = self.student.config.out_channels
        s = self.student.config.sample_size
        expect = (c, s, s)
        if latents.ndim != 4 or tuple(latents.shape[1:]) != expect:
            raise InvalidArgumentError(f"latents must be B,{c},{s},{s}, got {tuple(latents.shape)}")
        if masked_latents.shape != latents.shape:
            raise InvalidArgumentError(
                f"masked_latents must match latents {tuple(latents.shape)}, got "
                f"{tuple(masked_latents.shape)}"
            )
        if latent_mask.shape != (latents.shape[0], 1, s, s):
            raise InvalidArgumentError(
                f"latent_mask must be {latents.shape[0]},1,{s},{s}, got {tuple(latent_mask.shape)}"
            )

    def _default_ids(
        self, batch: int, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor:
        ids = self.student.cfg_input_ids(batch)
        uncond, cond = ids[:batch], ids[batch:]
        if self.config.uncond_prob <= 0:
            return cond
        pick = torch.rand(batch, generator=generator, device=device) < self.config.uncond_prob
        return torch.where(pick[:, None].to(cond.device), uncond, cond)

    def _balance_params(self) -> list[torch.Tensor]:
        module = (
            self.student.diff_model.conv_in
            if self.config.weight_params == "conv_in"
            else self.student
        )
        return [p for p in module.parameters() if p.requires_grad]

    def _random_t_terms(
        self,
        latents: torch.Tensor,
        cond: torch.Tensor,
        weight: torch.Tensor,
        input_ids: torch.Tensor,
        generator: torch.Generator | None,
    ) -> dict[str, torch.Tensor]:
        """Output, feature and perceptual terms on one noisy input at random timesteps."""
        b, device = latents.shape[0], latents.device
        n_train = self.scheduler.config.num_train_timesteps
        t = torch.randint(0, n_train, (b,), generator=generator, device=device)
        noise = torch.randn(latents.shape, generator=generator, device=device, dtype=latents.dtype)
        x_t = self.scheduler.add_noise(latents, noise, t)
        sample = torch.cat([x_t, cond], dim=1)

        self._student_capture.active = self._teacher_capture.active = bool(self.blocks)
        with torch.no_grad():
            t_pred = self.teacher(sample.to(self.teacher.dtype), t, input_ids).to(latents.dtype)
        s_pred = self.student(sample, t, input_ids)
        self._student_capture.active = self._teacher_capture.active = False

        out: dict[str, torch.Tensor] = {}
        if "output" in self.terms:
            out["output"] = weighted_mse(s_pred, t_pred, weight)
        if "features" in self.terms:
            out["features"] = self._feature_term(weight)
        if "perceptual" in self.terms:
            out["perceptual"] = self._perceptual_term(s_pred, t_pred, x_t, t, weight)
        return out

    def _feature_term(self, weight: torch.Tensor) -> torch.Tensor:
        s_feats, t_feats = self._student_capture.features, self._teacher_capture.features
        terms = []
        for name in self.blocks:
            s_f, t_f = s_feats[name], t_feats[name].to(s_feats[name].dtype)
            mapped = self.adapters[name.replace(".", "_")](s_f)
            if mapped.shape[-2:] != t_f.shape[-2:]:
                mapped = F.interpolate(
                    mapped, size=t_f.shape[-2:], mode="bilinear", align_corners=False
                )
            # Normalise by the teacher's feature energy so blocks of any scale count alike.
            scale = t_f.detach().square().mean() + self.config.eps
            terms.append(weighted_mse(mapped, t_f, weight) / scale)
        return torch.stack(terms).mean()

    def _perceptual_term(
        self,
        s_pred: torch.Tensor,
        t_pred: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        weight: torch.Tensor,
    ) -> torch.Tensor:
        vae = self.vae
        scale = vae.config.scaling_factor
        vae_dtype = _module_dtype(vae, s_pred.dtype)
        s_x0 = _prediction_to_x0(self.scheduler, s_pred, x_t, t)
        with torch.no_grad():
            t_x0 = _prediction_to_x0(self.scheduler, t_pred, x_t, t)
            t_img = vae.decode((t_x0 / scale).to(vae_dtype)).sample
            t_feats = [f.detach() for f in self.feature_extractor(t_img)]
        # No clamp to [-1, 1]: it would cut the student's gradient where the image saturates.
        s_img = vae.decode((s_x0 / scale).to(vae_dtype)).sample
        s_feats = self.feature_extractor(s_img)
        if len(s_feats) != len(t_feats) or not s_feats:
            raise InvalidArgumentError(
                f"feature_extractor returned {len(s_feats)} and {len(t_feats)} maps for the "
                f"student and teacher images (need the same non-zero number)"
            )
        terms = [
            weighted_mse(s_f, t_f.to(s_f.dtype), weight)
            for s_f, t_f in zip(s_feats, t_feats, strict=True)
        ]
        return torch.stack(terms).mean().to(s_pred.dtype)

    def _trajectory_term(
        self,
        latents: torch.Tensor,
        cond: torch.Tensor,
        weight: torch.Tensor,
        input_ids: torch.Tensor,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Match the student on the states of a short teacher DDIM trajectory from noise."""
        sched = self._trajectory_scheduler
        state = torch.randn(
            latents.shape, generator=generator, device=latents.device, dtype=latents.dtype
        )
        terms = []
        for t in sched.timesteps:
            t_in = t.to(latents.device).expand(latents.shape[0])
            model_in = sched.scale_model_input(state, t)
            sample = torch.cat([model_in, cond], dim=1)
            with torch.no_grad():
                t_pred = self.teacher(sample.to(self.teacher.dtype), t_in, input_ids).to(
                    latents.dtype
                )
                next_state = sched.step(t_pred, t, state, return_dict=False)[0].to(latents.dtype)
            s_pred = self.student(sample, t_in, input_ids)
            terms.append(weighted_mse(s_pred, t_pred, weight))
            state = next_state
        return torch.stack(terms).mean()


__all__ = [
    "TERM_NAMES",
    "AdaptiveLossWeights",
    "DistillConfig",
    "DistillOutput",
    "Distiller",
    "FeatureExtractor",
    "PyramidGradientFeatures",
    "resize_weight",
    "spatial_weight_map",
    "weighted_mse",
]
