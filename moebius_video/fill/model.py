"""Spatial fill with the Moebius inpainting model (``--fill moebius --model PATH``).

Wraps :class:`moebius_video.model.MoebiusInpaintingPipeline` as a per-frame filler: each
frame's hole is cropped with context, inpainted at the model's size and pasted back, so the
cost follows the hole, not the frame. No weights ship with this version and none can be
downloaded here, so ``model`` must name a local folder (see the README: the official files
in the reference's layout, or a folder written by ``save_pretrained``) or a repository that
is already in the local Hugging Face cache.

The video warm start (the previous frame's latents, noised to a small strength, denoised in
a few steps) is the real-time engine's work; this filler runs each frame cold, seeded, so
that a static hole gets the same noise every frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from moebius_video.errors import InvalidArgumentError
from moebius_video.fill.base import Filler, FillResult, FutureFrame, check_frame_and_mask


class MoebiusFiller(Filler):
    """Fills each frame's hole with the Moebius model.

    Args:
        pipeline: A ready pipeline (placed on its device and dtype by the caller).
        num_inference_steps: DDIM steps per frame.
        guidance_scale: Classifier-free guidance weight.
        seed: Seed of the per-frame noise (the same for every frame).
    """

    name = "moebius"

    def __init__(
        self,
        pipeline: Any,
        *,
        num_inference_steps: int = 20,
        guidance_scale: float = 4.5,
        seed: int = 0,
    ) -> None:
        if num_inference_steps < 1:
            raise InvalidArgumentError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        self.pipeline = pipeline
        self.num_inference_steps = int(num_inference_steps)
        self.guidance_scale = float(guidance_scale)
        self.seed = int(seed)

    @classmethod
    def from_pretrained(
        cls,
        model: str | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        **kwargs: Any,
    ) -> MoebiusFiller:
        """Load the pipeline from ``model`` (a local folder or a cached hub name).

        Args:
            model: Where the weights are; required.
            device: ``"cpu"``, ``"cuda"``...; default CUDA when available.
            dtype: ``"fp32"``, ``"fp16"`` or ``"bf16"``; default fp16 on CUDA, fp32 on CPU.
            **kwargs: Passed to the constructor (steps, guidance, seed).

        Raises:
            InvalidArgumentError: No ``model`` given, or an unknown dtype.
        """
        import torch

        from moebius_video.model import MoebiusInpaintingPipeline

        if not model:
            raise InvalidArgumentError(
                "--fill moebius needs --model PATH (the Moebius weights: see the README; "
                "they cannot be downloaded by this tool)"
            )
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
        name = dtype or ("fp16" if dev.startswith("cuda") else "fp32")
        if name not in dtypes:
            raise InvalidArgumentError(f"dtype must be one of {sorted(dtypes)}, got {name!r}")
        pipe = MoebiusInpaintingPipeline.from_pretrained(model, torch_dtype=dtypes[name]).to(dev)
        return cls(pipe, **kwargs)

    def fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        future: Sequence[FutureFrame] = (),
    ) -> FillResult:
        check_frame_and_mask(image, mask)
        hole = int(mask.sum())
        if hole == 0:
            return FillResult(image.copy())
        import torch

        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        out = self.pipeline(
            image,
            mask,
            num_inference_steps=self.num_inference_steps,
            guidance_scale=self.guidance_scale,
            generator=generator,
            output_type="np",
        )
        filled = np.clip(np.rint(out.images[0] * 255.0), 0, 255).astype(np.uint8)
        result = image.copy()
        result[mask] = filled[mask]
        return FillResult(result, spatial_pixels=hole)
