"""DDIM sampling with classifier-free guidance, in latent space, as the reference does it.

One step: the network sees ``cat([latents, latent_mask, masked_latents])`` twice (batch ``2B``)
with ids ``[uncond]*B + [cond]*B`` (unconditional half first); the guided prediction is
``eps_u + g * (eps_c - eps_u)``; diffusers' ``DDIMScheduler.step`` (eta 0) gives the next latents.
``strength < 1`` starts from the clean latent noised to the first used timestep (this includes
0.99: it is *not* pure noise); ``strength >= 1`` starts from pure noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from moebius_video.errors import InvalidArgumentError
from moebius_video.model.config import DDIM_SCHEDULER_CONFIG


def make_scheduler(config: dict[str, Any] | None = None) -> Any:
    """A diffusers ``DDIMScheduler`` with the reference's settings (or ``config``)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(dict(config if config is not None else DDIM_SCHEDULER_CONFIG))


def get_timesteps(scheduler: Any, num_inference_steps: int, strength: float) -> torch.Tensor:
    """Set the schedule for ``num_inference_steps`` and keep the last ``int(steps * strength)``.

    The DDIM step size stays ``1000 // num_inference_steps`` even when strength skips steps.

    Returns:
        The int64 timesteps to iterate (may be empty when ``int(steps * strength) == 0``).
    """
    scheduler.set_timesteps(num_inference_steps)
    init = min(int(num_inference_steps * strength), num_inference_steps)
    start = max(num_inference_steps - init, 0)
    return scheduler.timesteps[start * scheduler.order :]


@dataclass
class StepTrace:
    """What one sampling step computed (for tests and debugging)."""

    timestep: int
    noise_pred_uncond_cond: torch.Tensor
    noise_pred_cfg: torch.Tensor
    latents: torch.Tensor


@dataclass
class DenoiseResult:
    """Final latents, the timesteps used, the start latents and (optionally) a per-step trace."""

    latents: torch.Tensor
    timesteps: torch.Tensor
    init_latents: torch.Tensor
    trace: list[StepTrace] = field(default_factory=list)


def guided_noise(
    network: torch.nn.Module,
    latents: torch.Tensor,
    latent_mask: torch.Tensor,
    masked_latents: torch.Tensor,
    timestep: torch.Tensor,
    guidance_scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One CFG network evaluation.

    With ``guidance_scale == 1`` the guided prediction *is* the conditional one, so only the
    conditional half is run (half the compute; the small shipped models are used that way).

    Returns:
        ``(raw, guided)``: the ``2B`` raw predictions (uncond rows first; only the ``B``
        conditional rows when ``guidance_scale == 1``) and the ``B`` guided ones.
    """
    b = latents.shape[0]
    x = torch.cat([latents, latent_mask, masked_latents], dim=1)
    if guidance_scale == 1.0:
        cond = network(x.to(network.dtype), timestep, network.cfg_input_ids(b)[b:])
        return cond, cond
    x = torch.cat([x, x]).to(network.dtype)
    raw = network(x, timestep, network.cfg_input_ids(b))
    uncond, cond = raw.chunk(2)
    return raw, uncond + guidance_scale * (cond - uncond)


def denoise(
    network: torch.nn.Module,
    scheduler: Any,
    *,
    clean_latents: torch.Tensor,
    masked_latents: torch.Tensor,
    latent_mask: torch.Tensor,
    noise: torch.Tensor,
    num_inference_steps: int = 20,
    strength: float = 1.0,
    guidance_scale: float = 4.5,
    return_trace: bool = False,
    callback: Callable[[int, int, torch.Tensor], None] | None = None,
) -> DenoiseResult:
    """Run CFG + DDIM from ``clean_latents`` (noised by ``strength``) or from pure ``noise``.

    Args:
        network: A :class:`~moebius_video.model.network.MoebiusNetwork` in eval mode.
        scheduler: A diffusers ``DDIMScheduler`` (its timesteps are reset here).
        clean_latents: ``B, 4, h, w`` scaled latents of the image (the img2img start).
        masked_latents: ``B, 4, h, w`` scaled latents of the masked image.
        latent_mask: ``B, 1, h, w`` 1 = hole, in the latents' dtype.
        noise: ``B, 4, h, w`` noise (any offset noise already added).
        num_inference_steps: Length of the full DDIM schedule.
        strength: Fraction of the schedule to run (``>= 1``: start from pure noise).
        guidance_scale: Classifier-free guidance weight.
        return_trace: Keep every step's predictions and latents.
        callback: Called as ``callback(step_index, timestep, latents)`` after each step.

    Returns:
        The final latents, the timesteps used, the start latents and the optional trace.

    Raises:
        InvalidArgumentError: Bad step count, strength or mismatched shapes.
    """
    if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
        raise InvalidArgumentError(
            f"num_inference_steps must be a positive int, got {num_inference_steps!r}"
        )
    if not 0.0 < strength <= 1.0:
        raise InvalidArgumentError(f"strength must be in (0, 1], got {strength!r}")
    shape = clean_latents.shape
    if (
        noise.shape != shape
        or masked_latents.shape != shape
        or latent_mask.shape != (shape[0], 1, *shape[2:])
    ):
        raise InvalidArgumentError(
            f"latent shapes do not fit: clean {tuple(shape)}, masked {tuple(masked_latents.shape)}, "
            f"mask {tuple(latent_mask.shape)}, noise {tuple(noise.shape)}"
        )
    timesteps = get_timesteps(scheduler, num_inference_steps, strength)
    if strength < 1:
        latents = (
            scheduler.add_noise(clean_latents, noise, timesteps[:1])
            if len(timesteps)
            else clean_latents
        )
    else:
        latents = noise
    result = DenoiseResult(latents=latents, timesteps=timesteps, init_latents=latents)
    device = latents.device
    for i, t in enumerate(timesteps):
        t_in = t.to(device).unsqueeze(0)
        model_in = scheduler.scale_model_input(latents, t_in)
        raw, guided = guided_noise(
            network, model_in, latent_mask, masked_latents, t_in, guidance_scale
        )
        # The scheduler computes in float32 for half-precision inputs; keep the latents' dtype.
        latents = scheduler.step(guided.to(latents.dtype), t_in, latents, return_dict=False)[0].to(
            latents.dtype
        )
        if return_trace:
            result.trace.append(StepTrace(int(t), raw, guided, latents))
        if callback is not None:
            callback(i, int(t), latents)
    result.latents = latents
    return result
