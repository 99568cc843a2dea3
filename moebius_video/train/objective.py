"""The Moebius training objective: latent diffusion conditioned on the mask and the masked image.

As in the reference (hustvl/Moebius ``train.py``, inherited from PixelHacker): encode the image
and the masked image, noise the image latents to a uniformly drawn timestep, feed the network
``cat([noisy, latent_mask, masked_latents])`` with the conditional task ids, and regress its
output on the scheduler's target with a mean squared error. The task ids are replaced by the
unconditional ones with probability ``uncond_prob``, which is what makes classifier-free
guidance possible at sampling time.

The target follows ``scheduler.config.prediction_type``: ``"epsilon"`` (the reference's),
``"v_prediction"`` or ``"sample"`` (the clean latents; what the shipped ``moebius-tiny`` uses,
see :mod:`moebius_video.model.latent` for why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from moebius_video.errors import InvalidArgumentError
from moebius_video.model.geometry import CLASSICAL_FILLS, masked_input, resize_image

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


@dataclass(frozen=True)
class ObjectiveConfig:
    """Settings of :func:`diffusion_loss`.

    Attributes:
        uncond_prob: Probability of training a sample with the unconditional ids (CFG dropout).
        hole_weight: Extra loss weight inside the latent hole (0 = the reference's plain MSE;
            ``w`` makes a hole position count ``1 + w`` times).
        focus_timesteps: Timesteps the model will be sampled at (e.g. a 4-step schedule);
            empty = none.
        focus_prob: Probability of drawing a sample's timestep from ``focus_timesteps``
            instead of uniformly (0 = the reference's uniform draw). A small model has no
            capacity to spare for timesteps it is never sampled at.
    """

    uncond_prob: float = 0.1
    hole_weight: float = 0.0
    focus_timesteps: tuple[int, ...] = ()
    focus_prob: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.uncond_prob <= 1.0:
            raise InvalidArgumentError(f"uncond_prob must be in [0, 1], got {self.uncond_prob}")
        if self.hole_weight < 0:
            raise InvalidArgumentError(f"hole_weight must be >= 0, got {self.hole_weight}")
        object.__setattr__(self, "focus_timesteps", tuple(int(t) for t in self.focus_timesteps))
        if not 0.0 <= self.focus_prob <= 1.0:
            raise InvalidArgumentError(f"focus_prob must be in [0, 1], got {self.focus_prob}")
        if self.focus_prob > 0 and not self.focus_timesteps:
            raise InvalidArgumentError("focus_prob > 0 needs focus_timesteps")


@dataclass
class LatentBatch:
    """A batch in model space.

    Attributes:
        latents: ``B,C,h,w`` scaled latents of the images.
        masked_latents: ``B,C,h,w`` scaled latents of the images with the hole zeroed.
        latent_mask: ``B,1,h,w`` 1 = hole, sampled with nearest neighbours as the pipeline does.
    """

    latents: torch.Tensor
    masked_latents: torch.Tensor
    latent_mask: torch.Tensor


@torch.no_grad()
def encode_batch(
    vae: Any, image: torch.Tensor, mask: torch.Tensor, masked_fill: str = "zeros"
) -> LatentBatch:
    """Pixels to model space, exactly as :class:`MoebiusInpaintingPipeline` prepares its input.

    Args:
        vae: Encoder with the ``AutoencoderKL`` interface.
        image: ``B,3,H,W`` in [-1, 1].
        mask: ``B,1,H,W``, 1 = hole.
        masked_fill: What the masked image holds in the hole (``"zeros"``, the reference's,
            or ``"pushpull"``; see :func:`~moebius_video.model.geometry.masked_input`).

    Returns:
        The :class:`LatentBatch` (on the image's device, in the VAE's dtype).
    """
    if image.ndim != 4 or mask.ndim != 4 or mask.shape[1] != 1 or image.shape[-2:] != mask.shape[-2:]:
        raise InvalidArgumentError(
            f"image must be B,3,H,W and mask B,1,H,W of the same size, got "
            f"{tuple(image.shape)} and {tuple(mask.shape)}"
        )
    hole = (mask > 0.5).to(image.dtype)
    masked = masked_input(image, hole, masked_fill)
    scale = vae.config.scaling_factor
    latents = vae.encode(image).latent_dist.sample() * scale
    masked_latents = vae.encode(masked).latent_dist.sample() * scale
    latent_mask = F.interpolate(hole, size=latents.shape[-2:]).to(latents.dtype)
    return LatentBatch(latents, masked_latents, latent_mask)


def prediction_target(
    scheduler: Any, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """What the network should output for ``scheduler.config.prediction_type``."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    if kind == "sample":
        return latents
    raise InvalidArgumentError(f"prediction_type must be one of {PREDICTION_TYPES}, got {kind!r}")


def predicted_clean(
    scheduler: Any, noisy: torch.Tensor, prediction: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """The clean latents implied by a prediction of ``scheduler.config.prediction_type``."""
    alphas = scheduler.alphas_cumprod.to(device=noisy.device, dtype=torch.float32)[timesteps]
    a = alphas.sqrt().view(-1, 1, 1, 1).to(noisy.dtype)
    s = (1 - alphas).sqrt().view(-1, 1, 1, 1).to(noisy.dtype)
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return (noisy - s * prediction) / a
    if kind == "v_prediction":
        return a * noisy - s * prediction
    if kind == "sample":
        return prediction
    raise InvalidArgumentError(f"prediction_type must be one of {PREDICTION_TYPES}, got {kind!r}")


def task_ids(network: Any, batch_size: int, uncond_prob: float, generator: Any = None) -> torch.Tensor:
    """Conditional ids, each row replaced by the unconditional ones with ``uncond_prob``."""
    ids = network.cfg_input_ids(batch_size)
    uncond, cond = ids[:batch_size], ids[batch_size:]
    if uncond_prob <= 0:
        return cond
    drop = torch.rand(batch_size, generator=generator, device="cpu") < uncond_prob
    return torch.where(drop.to(cond.device)[:, None], uncond, cond)


@dataclass
class LossOutput:
    """The loss and what it was computed from (for logging and distillation)."""

    loss: torch.Tensor
    noisy: torch.Tensor
    timesteps: torch.Tensor
    prediction: torch.Tensor
    target: torch.Tensor


def diffusion_loss(
    network: Any,
    scheduler: Any,
    batch: LatentBatch,
    config: ObjectiveConfig | None = None,
    *,
    generator: torch.Generator | None = None,
) -> LossOutput:
    """One evaluation of the training objective.

    Args:
        network: A :class:`~moebius_video.model.network.MoebiusNetwork` (or a DDP wrapper
            of one: only ``forward`` and ``cfg_input_ids`` of the underlying module are used).
        scheduler: A diffusers scheduler with ``add_noise`` and ``config.num_train_timesteps``.
        batch: Model-space inputs from :func:`encode_batch`.
        config: Dropout and hole weight.
        generator: CPU generator for the timesteps, noise and id dropout (reproducible runs).

    Returns:
        :class:`LossOutput`; ``loss`` is a scalar with a graph to the network's parameters.
    """
    config = config or ObjectiveConfig()
    module = getattr(network, "module", network)
    latents = batch.latents
    b = latents.shape[0]
    steps = scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, steps, (b,), generator=generator)
    if config.focus_prob > 0:
        focus = torch.tensor(config.focus_timesteps, dtype=timesteps.dtype)
        pick = focus[torch.randint(0, len(focus), (b,), generator=generator)]
        use = torch.rand(b, generator=generator) < config.focus_prob
        timesteps = torch.where(use, pick, timesteps)
    timesteps = timesteps.to(latents.device)
    noise = torch.randn(latents.shape, generator=generator, dtype=latents.dtype).to(latents.device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    ids = task_ids(module, b, config.uncond_prob, generator)
    sample = torch.cat([noisy, batch.latent_mask, batch.masked_latents], dim=1)
    prediction = network(sample, timesteps, ids)
    target = prediction_target(scheduler, latents, noise, timesteps)
    error = (prediction.float() - target.float()).pow(2)
    if config.hole_weight > 0:
        weight = 1 + config.hole_weight * batch.latent_mask.float()
        loss = (error * weight).sum() / (weight.sum() * error.shape[1])
    else:
        loss = error.mean()
    return LossOutput(loss, noisy, timesteps, prediction, target)


@dataclass(frozen=True)
class StudentConfig:
    """Settings of :func:`student_loss` (the deterministic one-step student).

    Attributes:
        timestep: The one timestep the student runs at (999: a 1-step ``"trailing"`` DDIM
            schedule; the pipeline's 1-step call uses it).
        hole_weight: Extra weight of hole pixels (a hole pixel counts ``1 + w`` times).
        gradient_weight: Weight of the image-gradient L1 term next to the pixel L1 term.
    """

    timestep: int = 999
    hole_weight: float = 10.0
    gradient_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.hole_weight < 0 or self.gradient_weight < 0:
            raise InvalidArgumentError(
                f"hole_weight and gradient_weight must be >= 0, got {self.hole_weight}, {self.gradient_weight}"
            )


def _weighted_l1(error: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (error.abs() * weight).sum() / (weight.expand_as(error).sum()).clamp_min(1e-8)


def student_loss(
    network: Any,
    vae: Any,
    image: torch.Tensor,
    batch: LatentBatch,
    hole: torch.Tensor,
    config: StudentConfig | None = None,
    aux_latents: torch.Tensor | None = None,
) -> LossOutput:
    """The loss of a deterministic one-step student, in pixels.

    The network sees ``cat([zeros, latent_mask, masked_latents])`` at the fixed
    ``config.timestep`` with the conditional ids (no noise, no dropout: what the pipeline
    feeds a ``deterministic`` model); its output (with ``input_skip``: the masked image
    plus a correction) is decoded and compared with the image: L1 on the pixels plus L1 on
    their horizontal and vertical differences (which rewards edges and structure, not only
    the mean), each weighted ``1 + hole_weight`` inside the hole.

    Args:
        network: A :class:`~moebius_video.model.network.MoebiusNetwork` (or a DDP wrapper).
        vae: The latent space; its ``decode`` must be differentiable (pixel-unshuffle is).
        image: ``B, 3, H, W`` target in [-1, 1].
        batch: :func:`encode_batch`'s output for ``image``.
        hole: ``B, 1, H, W``, 1 = hole.
        config: Timestep and weights.
        aux_latents: Latents of a second fill for the noisy-latent slot (the pipeline's
            ``aux_fill``); ``None``: zeros.

    Returns:
        :class:`LossOutput` (``noisy`` is that slot's input, ``target`` the image's latents).
    """
    config = config or StudentConfig()
    module = getattr(network, "module", network)
    b = image.shape[0]
    zeros = torch.zeros_like(batch.latents) if aux_latents is None else aux_latents
    timesteps = torch.full((b,), config.timestep, dtype=torch.int64, device=image.device)
    ids = module.cfg_input_ids(b)[b:]
    sample = torch.cat([zeros, batch.latent_mask, batch.masked_latents], dim=1)
    prediction = network(sample, timesteps, ids)
    pixels = vae.decode(prediction / vae.config.scaling_factor).sample.float()
    loss = pixel_loss(pixels, image, hole, config)
    return LossOutput(loss, zeros, timesteps, prediction, batch.latents)


def pixel_loss(
    pixels: torch.Tensor, image: torch.Tensor, hole: torch.Tensor, config: StudentConfig | None = None
) -> torch.Tensor:
    """:func:`student_loss`'s loss of ``pixels`` against ``image`` (both ``B, 3, H, W``).

    L1 on the pixels plus ``gradient_weight`` times the mean L1 of the horizontal and
    vertical differences; a pixel (or a pair of neighbours touching the hole) inside the
    hole weighs ``1 + hole_weight``. Also the score of the student's input (its step 0).
    """
    config = config or StudentConfig()
    pixels, target = pixels.float(), image.float()
    weight = 1 + config.hole_weight * (hole > 0.5).float()
    loss = _weighted_l1(pixels - target, weight)
    if config.gradient_weight > 0:
        wx = torch.maximum(weight[..., :, 1:], weight[..., :, :-1])
        wy = torch.maximum(weight[..., 1:, :], weight[..., :-1, :])
        dx = pixels.diff(dim=-1) - target.diff(dim=-1)
        dy = pixels.diff(dim=-2) - target.diff(dim=-2)
        loss = loss + config.gradient_weight * 0.5 * (_weighted_l1(dx, wx) + _weighted_l1(dy, wy))
    return loss


def shrink_mask(hole: torch.Tensor, size: int) -> torch.Tensor:
    """A ``B, 1, H, W`` hole resized to ``size`` the pipeline's way: any partial cover is hole
    (:func:`~moebius_video.model.geometry.resize_mask` on a batch); float 0/1."""
    if hole.shape[-1] == size and hole.shape[-2] == size:
        return (hole > 0.5).to(torch.float32)
    cover = F.interpolate(
        (hole > 0.5).float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return (cover > 1e-3).float()


@dataclass
class WindowedLoss:
    """:func:`windowed_student_loss`'s answer: the loss, and the same loss of the input alone."""

    loss: torch.Tensor
    input_loss: float
    prediction: torch.Tensor


def windowed_student_loss(
    network: Any,
    vae: Any,
    image: torch.Tensor,
    hole: torch.Tensor,
    size: int,
    masked_fill: str,
    aux_fill: str | None,
    config: StudentConfig | None = None,
) -> WindowedLoss:
    """The student's loss on a window larger than the network, measured as the pipeline fills.

    :class:`~moebius_video.model.pipeline.MoebiusInpaintingPipeline` (with a classical
    ``masked_fill``) fills the full-resolution window with OpenCV, shrinks that fill and the
    hole to the network's ``size``, runs the network, and adds its correction (output minus
    input), enlarged back to the window, to the full-resolution fill inside the hole. Trained
    on crops of the network's size instead, the student learns to correct OpenCV's errors at
    that size, which are not the errors of a larger window's fill seen shrunk (smoother, and
    better on thin strokes). This loss follows the pipeline's steps (the same resize
    functions) and scores the composite at the window's resolution with :func:`pixel_loss`.

    Args:
        network: The student (``input_skip``).
        vae: The latent space (differentiable ``decode``).
        image: ``B, 3, S, S`` windows in [-1, 1], ``S >= size``.
        hole: ``B, 1, S, S``, 1 = hole.
        size: The network's side in pixels.
        masked_fill: The classical fill the correction is added to (``"ns"`` or ``"telea"``).
        aux_fill: The second fill in the noisy-latent slot (``None``: zeros).
        config: Timestep and weights.
    """
    if masked_fill not in CLASSICAL_FILLS:
        raise InvalidArgumentError(
            f"a training window larger than the network needs a classical masked_fill "
            f"{CLASSICAL_FILLS}, got {masked_fill!r}"
        )
    config = config or StudentConfig()
    module = getattr(network, "module", network)
    b = image.shape[0]
    known = hole < 0.5
    with torch.no_grad():
        base = (masked_input(image, (~known).to(image.dtype), masked_fill) + 1) / 2  # [0, 1]
        crop = resize_image(base, (size, size)).clamp(0, 1)
        small_hole = shrink_mask(hole, size).to(image.dtype)
        pixels = crop * 2 - 1
        scale = vae.config.scaling_factor
        masked_latents = vae.encode(pixels).latent_dist.sample() * scale
        if aux_fill is None:
            aux = torch.zeros_like(masked_latents)
        else:
            aux = vae.encode(masked_input(pixels, small_hole, aux_fill)).latent_dist.sample() * scale
        latent_mask = F.interpolate(small_hole, size=masked_latents.shape[-2:]).to(masked_latents.dtype)
        input_loss = float(pixel_loss(base * 2 - 1, image, hole, config))
    timesteps = torch.full((b,), config.timestep, dtype=torch.int64, device=image.device)
    ids = module.cfg_input_ids(b)[b:]
    prediction = network(torch.cat([aux, latent_mask, masked_latents], dim=1), timesteps, ids)
    decoded = ((vae.decode(prediction / scale).sample.float() + 1) / 2).clamp(0, 1)
    full = base + resize_image(decoded - crop, tuple(image.shape[-2:]))
    composite = torch.where(known, (image.float() + 1) / 2, full.clamp(0, 1))
    loss = pixel_loss(composite * 2 - 1, image, hole, config)
    return WindowedLoss(loss, input_loss, prediction)


__all__ = [
    "PREDICTION_TYPES",
    "StudentConfig",
    "WindowedLoss",
    "shrink_mask",
    "windowed_student_loss",
    "pixel_loss",
    "student_loss",
    "LatentBatch",
    "LossOutput",
    "ObjectiveConfig",
    "diffusion_loss",
    "encode_batch",
    "predicted_clean",
    "prediction_target",
    "task_ids",
]
