"""Spatial fill with the Moebius inpainting model (``--fill moebius --model PATH``).

Wraps :class:`moebius_video.model.MoebiusInpaintingPipeline` as a per-frame filler: each
frame's hole is cropped with context, inpainted at the model's size and pasted back, so the
cost follows the hole, not the frame. Without ``model`` the small model that ships inside the
package (``"moebius-tiny"``, trained here; see :mod:`moebius_video.train`) is used; ``model``
may name a local folder (the official files in the reference's layout, or a folder written by
``save_pretrained`` / ``moebius-video train``) or a repository already in the local Hugging
Face cache. Nothing is ever downloaded.

The video warm start (the previous frame's latents, noised to a small strength, denoised in
a few steps) is the real-time engine's work; this filler runs each frame cold, seeded, so
that a static hole gets the same noise every frame. Frames are independent, so several can
share one model call (``batch_size``; the engine batches consecutive frames in file mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from moebius_video.errors import InvalidArgumentError
from moebius_video.fill.base import (
    Filler,
    FillResult,
    FutureFrame,
    check_batch,
    check_frame_and_mask,
)

#: The model that ships inside the package (used when no ``model`` is given).
SHIPPED_MODEL = "moebius-tiny"
#: The reference's sampling settings, for models that do not name their own.
REFERENCE_STEPS = 20
REFERENCE_GUIDANCE = 4.5


class MoebiusFiller(Filler):
    """Fills each frame's hole with the Moebius model.

    Args:
        pipeline: A ready pipeline (placed on its device and dtype by the caller).
        num_inference_steps: DDIM steps per frame (default: the model's recommended count
            from ``pipeline.defaults``, else the reference's 20).
        guidance_scale: Classifier-free guidance weight (default: the model's, else 4.5).
        seed: Seed of the per-frame noise (the same for every frame).
        batch_size: Frames per model call in :meth:`fill_batch` (and the engine's
            ``max_batch``). Each frame keeps its own seeded noise, so the output does not
            depend on it; a GPU gets busier with more, a CPU barely faster.

    Raises:
        InvalidArgumentError: ``num_inference_steps`` or ``batch_size`` below 1.
    """

    name = "moebius"

    def __init__(
        self,
        pipeline: Any,
        *,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        seed: int = 0,
        batch_size: int = 1,
    ) -> None:
        defaults = getattr(pipeline, "defaults", None) or {}
        if num_inference_steps is None:
            num_inference_steps = int(defaults.get("num_inference_steps", REFERENCE_STEPS))
        if guidance_scale is None:
            guidance_scale = float(defaults.get("guidance_scale", REFERENCE_GUIDANCE))
        if num_inference_steps < 1:
            raise InvalidArgumentError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        if batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
        self.pipeline = pipeline
        self.num_inference_steps = int(num_inference_steps)
        self.guidance_scale = float(guidance_scale)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.max_batch = self.batch_size

    @classmethod
    def from_pretrained(
        cls,
        model: str | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        transfers: bool = True,
        **kwargs: Any,
    ) -> MoebiusFiller:
        """Load the pipeline from ``model`` (a local folder, a cached hub name, a shipped name).

        Args:
            model: Where the weights are (default: the shipped ``moebius-tiny``).
            device: ``"cpu"``, ``"cuda"``...; default CUDA when available.
            dtype: ``"fp32"``, ``"fp16"`` or ``"bf16"``; default fp16 on CUDA, fp32 on CPU.
            transfers: Move crops and results through the pipeline's transfer layer
                (:meth:`~moebius_video.model.MoebiusInpaintingPipeline.enable_transfers`:
                pinned buffers, side streams and events on CUDA; plain copies elsewhere).
            **kwargs: Passed to the constructor (steps, guidance, seed, batch size).

        Raises:
            InvalidArgumentError: An unknown dtype.
            CheckpointError: ``model`` cannot be loaded.
        """
        import torch

        from moebius_video.model import MoebiusInpaintingPipeline

        model = model or SHIPPED_MODEL
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
        name = dtype or ("fp16" if dev.startswith("cuda") else "fp32")
        if name not in dtypes:
            raise InvalidArgumentError(f"dtype must be one of {sorted(dtypes)}, got {name!r}")
        pipe = MoebiusInpaintingPipeline.from_pretrained(model, torch_dtype=dtypes[name]).to(dev)
        if transfers:
            pipe.enable_transfers()
        return cls(pipe, **kwargs)

    def fill(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        future: Sequence[FutureFrame] = (),
    ) -> FillResult:
        return self.fill_batch([image], [mask])[0]

    def fill_batch(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        futures: Sequence[Sequence[FutureFrame]] | None = None,
    ) -> list[FillResult]:
        """Fill the frames with one pipeline call per ``batch_size`` frames that have a hole.

        Every frame gets its own generator seeded with ``seed``, exactly as :meth:`fill`
        does, so a batch gives the frames :meth:`fill` would (up to float rounding of the
        batched kernels). Frames with an empty mask are copied without calling the model.

        Args:
            images: ``H, W, 3`` uint8 RGB frames (sizes may differ).
            masks: One ``H, W`` bool mask per frame.
            futures: Ignored (a spatial filler); checked for length only.

        Returns:
            One result per frame, in order.

        Raises:
            InvalidArgumentError: Mismatched lengths or a frame that is not ``H, W, 3`` uint8.
            InvalidMaskError: A mask that is not ``H, W`` bool of its frame's size.
        """
        check_batch(images, masks, futures)
        for image, mask in zip(images, masks, strict=True):
            check_frame_and_mask(image, mask)
        results: list[FillResult] = [FillResult(image.copy()) for image in images]
        active = [i for i, mask in enumerate(masks) if mask.any()]
        for start in range(0, len(active), self.batch_size):
            chunk = active[start : start + self.batch_size]
            for i, filled in zip(chunk, self._inpaint(images, masks, chunk), strict=True):
                results[i].image[masks[i]] = filled[masks[i]]
                results[i].spatial_pixels = int(masks[i].sum())
        return results

    def _inpaint(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray], chunk: list[int]
    ) -> list[np.ndarray]:
        """One pipeline call on the frames ``chunk``; their uint8 outputs in that order."""
        import torch

        generators = [torch.Generator(device="cpu").manual_seed(self.seed) for _ in chunk]
        out = self.pipeline(
            [images[i] for i in chunk],
            [masks[i] for i in chunk],
            num_inference_steps=self.num_inference_steps,
            guidance_scale=self.guidance_scale,
            generator=generators,
            output_type="np",
        )
        return [np.clip(np.rint(o * 255.0), 0, 255).astype(np.uint8) for o in out.images]
