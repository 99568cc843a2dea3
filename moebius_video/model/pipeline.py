"""``MoebiusInpaintingPipeline``: image inpainting with the Moebius network, diffusers-style.

Three separately built components — the network (:class:`MoebiusNetwork`), a diffusers
``AutoencoderKL`` and a diffusers ``DDIMScheduler`` — and one ``__call__`` that reads as
numbered steps. Each image is handled on a window around its hole (see
:mod:`moebius_video.model.geometry`), so a 4K frame with a small hole costs one model-size
crop, and pixels outside the mask come back bit-identical.

Loading never touches the network: a local folder (diffusers layout with ``model_index.json``
or the reference's ``weight/Moebius/<variant>/diffusion_pytorch_model.bin`` + ``weight/vae``)
or a repository name already in the local Hugging Face cache (looked up with
``local_files_only=True``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from moebius_video.errors import CheckpointError, InvalidArgumentError, InvalidMaskError
from moebius_video.model.checkpoint import find_weights, load_state_dict_strict, read_state_dict
from moebius_video.model.config import DDIM_SCHEDULER_CONFIG, MoebiusConfig
from moebius_video.model.geometry import (
    CLASSICAL_FILLS,
    MASKED_FILLS,
    CropBox,
    binarize_mask,
    classical_fill_uint8,
    crop_window,
    masked_input,
    paste,
    resize_image,
    resize_mask,
)
from moebius_video.model.latent import PixelUnshuffleLatent, is_latent_folder
from moebius_video.model.network import MoebiusNetwork
from moebius_video.model.sampling import denoise, make_scheduler
from tracking.geometry import mask_box

logger = logging.getLogger(__name__)

#: Hugging Face repositories of the official files (only ever read from the local cache).
OFFICIAL_REPO = "hustvl/Moebius"
OFFICIAL_VARIANT = "pretrained"
VAE_REPO = "hustvl/PixelHacker"

#: Models that ship inside the package, by name (``from_pretrained("moebius-tiny")``).
SHIPPED_MODELS = {
    "moebius-tiny": Path(__file__).resolve().parent.parent / "assets" / "models" / "moebius-tiny",
}

#: Key of ``model_index.json`` that holds a model's recommended call settings.
DEFAULTS_KEY = "moebius_video_defaults"
#: Key of ``model_index.json`` that holds how the model was trained to see its input.
INPUT_KEY = "moebius_video_input"

_OUTPUT_TYPES = ("pil", "np", "pt", "latent")

#: The reference's call settings: what a call uses where neither the caller nor the model's
#: ``model_index.json`` (``moebius_video_defaults``) gives a value.
REFERENCE_CALL_DEFAULTS: dict[str, Any] = {
    "num_inference_steps": 20,
    "guidance_scale": 4.5,
    "strength": 1.0,
}


@dataclass
class MoebiusPipelineOutput:
    """What :meth:`MoebiusInpaintingPipeline.__call__` returns.

    Attributes:
        images: One result per input at the input's size: PIL images (``"pil"``), a list of
            ``H, W, 3`` float32 arrays in [0, 1] (``"np"``), a list of ``3, H, W`` float tensors
            in [0, 1] (``"pt"``), or ``None`` for ``"latent"``. Lists because sizes may differ.
        latents: ``B, 4, h, w`` final latents (the video warm start); rows of images that
            had no hole are zeros.
        crop_boxes: The window each image was processed in (``None``: no hole, untouched).
    """

    images: list[Any] | None
    latents: torch.Tensor
    crop_boxes: list[CropBox | None]


# ---------------------------------------------------------------------------- input conversion
def _image_to_uint8(image: Any, index: int) -> torch.Tensor:
    """PIL / ``H,W,3`` numpy (uint8, or float in [0,1]) / ``3,H,W`` tensor -> ``3,H,W`` uint8 CPU."""
    name = f"image[{index}]"
    if isinstance(image, Image.Image):
        return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise InvalidArgumentError(f"{name} must be an H,W,3 array, got shape {image.shape}")
        if image.dtype == np.uint8:
            return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()
        if np.issubdtype(image.dtype, np.floating):
            return (
                (torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1).clamp(0, 1) * 255)
                .round()
                .to(torch.uint8)
            )
        raise InvalidArgumentError(
            f"{name} must be uint8 or floating in [0, 1], got dtype {image.dtype}"
        )
    if torch.is_tensor(image):
        t = image.detach().cpu()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] != 3:
            raise InvalidArgumentError(
                f"{name} must be a 3,H,W tensor, got shape {tuple(image.shape)}"
            )
        if t.dtype == torch.uint8:
            return t.contiguous()
        if t.is_floating_point():
            return (t.float().clamp(0, 1) * 255).round().to(torch.uint8)
        raise InvalidArgumentError(
            f"{name} must be uint8 or floating in [0, 1], got dtype {t.dtype}"
        )
    raise InvalidArgumentError(
        f"{name} must be a PIL image, numpy array or tensor, got {type(image).__name__}"
    )


def _mask_to_bool(mask: Any, index: int) -> torch.Tensor:
    """PIL / ``H,W`` numpy / ``H,W`` or ``1,H,W`` tensor -> ``H,W`` bool (binarised at 0.5)."""
    name = f"mask_image[{index}]"
    if isinstance(mask, Image.Image):
        t = torch.from_numpy(np.array(mask.convert("L")))
    elif isinstance(mask, np.ndarray):
        arr = mask[..., 0] if mask.ndim == 3 and mask.shape[2] in (1, 3) else mask
        if arr.ndim != 2:
            raise InvalidMaskError(f"{name} must be an H,W array, got shape {mask.shape}")
        if not (
            arr.dtype == np.bool_ or arr.dtype == np.uint8 or np.issubdtype(arr.dtype, np.floating)
        ):
            raise InvalidMaskError(f"{name} must be bool, uint8 or floating, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    elif torch.is_tensor(mask):
        t = mask.detach().cpu()
        while t.ndim > 2 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 2:
            raise InvalidMaskError(
                f"{name} must be an H,W or 1,H,W tensor, got shape {tuple(mask.shape)}"
            )
    else:
        raise InvalidMaskError(
            f"{name} must be a PIL image, numpy array or tensor, got {type(mask).__name__}"
        )
    try:
        return binarize_mask(t)
    except InvalidMaskError as exc:
        raise InvalidMaskError(f"{name}: {exc}") from None


def _as_list(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return list(x)
    if torch.is_tensor(x) and x.ndim == 4 and x.shape[0] > 1:
        return list(x)
    return [x]


# ---------------------------------------------------------------------------- loading helpers
def _resolve_local(name_or_path: str | os.PathLike[str], subfolder: str | None = None) -> Path:
    """A shipped model by name, a local path as is, an ``owner/name`` repository from the cache."""
    name = str(name_or_path)
    if name in SHIPPED_MODELS:
        shipped = SHIPPED_MODELS[name]
        if not (shipped / "model_index.json").is_file():
            raise CheckpointError(
                f"the shipped model {name!r} is missing from this installation ({shipped}); "
                "reinstall moebius-video"
            )
        return shipped
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    if name.count("/") != 1 or name.startswith((".", "/")):
        raise CheckpointError(f"no such file or folder: {name}")
    try:
        from huggingface_hub import snapshot_download

        allow = [f"{subfolder}/*"] if subfolder else None
        snapshot = snapshot_download(name, local_files_only=True, allow_patterns=allow)
    except Exception as exc:  # noqa: BLE001 - any cache miss ends here
        raise CheckpointError(
            f"{name} is neither a local folder nor in the local Hugging Face cache "
            f"(moebius-video never downloads; see the README for where to put the files): {exc}"
        ) from exc
    return Path(snapshot)


def _find_reference_vae(folder: Path) -> Path | None:
    for candidate in (folder / "vae", folder.parent / "vae", folder.parent.parent / "vae"):
        if (candidate / "config.json").is_file():
            return candidate
    try:
        root = _resolve_local(VAE_REPO, "vae")
    except CheckpointError:
        return None
    return root / "vae" if (root / "vae" / "config.json").is_file() else None


def _load_vae(source: Any, torch_dtype: torch.dtype | None) -> Any:
    from diffusers import AutoencoderKL

    if isinstance(source, (AutoencoderKL, PixelUnshuffleLatent)):
        return torch.nn.Module.to(source, dtype=torch_dtype) if torch_dtype is not None else source
    folder = Path(source)
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"VAE folder {folder} has no config.json (its scaling factor lives there)"
        )
    if is_latent_folder(folder):
        latent = PixelUnshuffleLatent.from_pretrained(folder)
        return latent.to(dtype=torch_dtype) if torch_dtype is not None else latent
    # low_cpu_mem_usage=False: the same result without the optional `accelerate` package.
    kwargs: dict[str, Any] = {"local_files_only": True, "low_cpu_mem_usage": False}
    if torch_dtype is not None:
        kwargs["torch_dtype"] = torch_dtype
    try:
        return AutoencoderKL.from_pretrained(str(folder), **kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised with the folder named
        raise CheckpointError(f"cannot load the VAE from {folder}: {exc}") from exc


def load_network(
    weights: str | os.PathLike[str],
    config: MoebiusConfig | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> MoebiusNetwork:
    """Build a :class:`MoebiusNetwork` (on ``meta``) and load a checkpoint file strictly.

    Args:
        weights: ``.bin`` (read with ``weights_only=True``) or ``.safetensors`` file.
        config: Network config; the official one by default.
        device: Where to put it (CPU by default).
        dtype: Floating dtype (float32 by default).

    Returns:
        The network, in eval mode.

    Raises:
        CheckpointError: Unreadable file or keys/shapes that do not match exactly.
    """
    with torch.device("meta"):
        network = MoebiusNetwork(config or MoebiusConfig.official())
    load_state_dict_strict(network, read_state_dict(weights), source=str(weights))
    return network.to(device=device or "cpu", dtype=dtype or torch.float32).eval()


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a ``B, C, H, W`` tensor (edges replicated)."""
    radius = max(1, int(3 * sigma + 0.5))
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(taps**2) / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"),
                 kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"),
                    kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


# ---------------------------------------------------------------------------- the pipeline
class MoebiusInpaintingPipeline:
    """Removes the masked content of images with the Moebius latent-diffusion network.

    Args:
        network: The denoising network (put in eval mode here).
        vae: A diffusers ``AutoencoderKL`` (or the invertible
            :class:`~moebius_video.model.latent.PixelUnshuffleLatent` of the small models)
            with ``latent_channels == network.config.out_channels``.
        scheduler: A diffusers ``DDIMScheduler`` (default: the reference's settings).
        context: Context around the hole's bounding box, per side, relative to its longer side.
        feather: Radius of the softened paste edge, in frame pixels, inside the hole.
        defaults: The model's recommended call settings (``num_inference_steps``,
            ``guidance_scale``, optionally ``strength``), read from and written to
            ``model_index.json``. A call that leaves a setting at ``None`` uses these, then
            the reference's (:data:`REFERENCE_CALL_DEFAULTS`), as diffusers does.
        masked_fill: What the masked-image input holds in the hole: ``"zeros"`` (the
            reference), ``"pushpull"`` (a smooth interpolation of the surroundings), or
            ``"telea"`` / ``"ns"`` (OpenCV's classical inpainting, radius 5). A property
            of the weights, saved with them. With a classical fill the fill is computed on
            the full-resolution window, the network sees it resized to the model size, and
            the result is that full-resolution fill plus the network's correction (its
            output minus its input, resized to the window): a network whose correction is
            zero returns exactly OpenCV's fill.
        correction_blur: With a ``masked_fill`` other than ``"zeros"``: the decoded crop's
            difference from that filled input (the network's correction) is smoothed by a
            Gaussian of this width (model-size pixels) before the paste; 0 = off (the
            reference). The pixel-unshuffle latent of the small models turns each latent
            position into a 4x4 pixel block, and their corrections showed those blocks at
            the hole's edges; saved with the weights.
        deterministic: Start from zero latents instead of noise (the generator and
            ``noise_offset`` are then unused): the one-step students, trained at a fixed
            timestep with a zero noisy-latent input, are deterministic functions of the
            image. Saved with the weights.
        aux_fill: With ``deterministic``: the noisy-latent slot holds the latents of a
            second fill of the hole (one of ``masked_fill``'s values but ``"zeros"``)
            instead of zeros, so the network sees two classical fills stacked as input
            channels (the correction is still added to ``masked_fill``'s). Saved with the
            weights.
    """

    def __init__(
        self,
        network: MoebiusNetwork,
        vae: Any,
        scheduler: Any | None = None,
        *,
        context: float = 0.5,
        feather: float = 3.0,
        defaults: dict[str, Any] | None = None,
        masked_fill: str = "zeros",
        correction_blur: float = 0.0,
        deterministic: bool = False,
        aux_fill: str | None = None,
    ) -> None:
        if vae.config.latent_channels != network.config.latent_channels:
            raise InvalidArgumentError(
                f"VAE has {vae.config.latent_channels} latent channels, the network expects "
                f"{network.config.latent_channels}"
            )
        self.network = network.eval()
        self.vae = vae.eval()
        self.scheduler = scheduler if scheduler is not None else make_scheduler()
        self.context = context
        self.feather = feather
        self.defaults: dict[str, Any] = dict(defaults or {})
        if masked_fill not in MASKED_FILLS:
            raise InvalidArgumentError(
                f"masked_fill must be one of {MASKED_FILLS}, got {masked_fill!r}"
            )
        self.masked_fill = masked_fill
        if not (math.isfinite(correction_blur) and correction_blur >= 0):
            raise InvalidArgumentError(f"correction_blur must be >= 0, got {correction_blur!r}")
        if correction_blur > 0 and masked_fill == "zeros":
            raise InvalidArgumentError(
                "correction_blur needs a filled masked image (masked_fill pushpull, telea or ns): "
                "the base it smooths against"
            )
        self.correction_blur = float(correction_blur)
        self.deterministic = bool(deterministic)
        if aux_fill is not None and (aux_fill not in MASKED_FILLS or aux_fill == "zeros" or not deterministic):
            raise InvalidArgumentError(
                f"aux_fill must be one of {MASKED_FILLS[1:]} and needs deterministic=True, got {aux_fill!r}"
            )
        self.aux_fill = aux_fill
        #: Transfer layer (:meth:`enable_transfers`); ``None`` = plain ``.to()`` copies.
        self.transfers: Any | None = None

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return self.network.device

    @property
    def dtype(self) -> torch.dtype:
        return self.network.dtype

    @property
    def vae_scale_factor(self) -> int:
        factor = getattr(self.vae, "scale_factor", None)
        if isinstance(factor, int):
            return factor
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def image_size(self) -> int:
        """Side of the square the network works on, in pixels (512 for the official weights)."""
        return self.network.config.sample_size * self.vae_scale_factor

    # ------------------------------------------------------------------ placement
    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> MoebiusInpaintingPipeline:
        """Move (and optionally cast) the network and the VAE; returns ``self``."""
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        self.network.to(device=device, dtype=dtype)
        # nn.Module.to: the plain cast (diffusers' ModelMixin.to warns about fp32-only modules,
        # of which AutoencoderKL has none).
        torch.nn.Module.to(self.vae, device=device, dtype=dtype)
        if self.transfers is not None and self.transfers.device != self.device:
            self.enable_transfers()  # new streams and rings on the new device
        return self

    def enable_transfers(self, *, upload_slots: int = 3, download_slots: int = 4) -> MoebiusInpaintingPipeline:
        """Move crops and results through a :class:`~moebius_video.device.DeviceContext`.

        On CUDA each call then uploads its model-size crops (RGB and hole as one RGBA
        uint8 image) through a ring of pinned buffers with ``non_blocking`` copies on an
        upload stream, runs the VAE and the denoiser on a compute stream that waits for the
        uploads' events, and brings the decoded crops back through a pinned ring on a
        download stream; the host waits on the downloads' events only, never on a
        device-wide ``synchronize()``. Elsewhere the same code runs with the streams
        reduced to plain calls. The crops are quantised to 8 bits on the way (at most
        half a grey level from the plain path before the model). Returns ``self``.
        """
        from moebius_video.device import DeviceContext  # no torch.cuda at import

        self.transfers = DeviceContext(
            self.device, dtype=torch.float32, upload_slots=upload_slots, download_slots=download_slots
        )
        return self

    def enable_channels_last(self) -> MoebiusInpaintingPipeline:
        """Use the channels-last memory format for 4-D weights (faster convolutions on GPUs).

        (``Module.to(memory_format=...)`` refuses the 5-D position-conv weights, so the 4-D
        parameters are converted one by one.)
        """
        for module in (self.network, self.vae):
            for param in module.parameters():
                if param.ndim == 4:
                    param.data = param.data.contiguous(memory_format=torch.channels_last)
        return self

    def compile(self, **kwargs: Any) -> MoebiusInpaintingPipeline:
        """Wrap the network in ``torch.compile(**kwargs)`` (optional; the weights are shared)."""
        self.network = torch.compile(self.network, **kwargs)  # type: ignore[assignment]
        return self

    # ------------------------------------------------------------------ loading / saving
    @classmethod
    def from_pretrained(
        cls,
        pretrained: str | os.PathLike[str] = OFFICIAL_REPO,
        *,
        torch_dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        subfolder: str | None = None,
        vae: Any = None,
        **pipeline_kwargs: Any,
    ) -> MoebiusInpaintingPipeline:
        """Load from a local folder or file, or from the local Hugging Face cache. Never downloads.

        Accepted layouts:

        * diffusers: ``model_index.json``, ``unet/`` (config.json + weights), ``vae/``,
          ``scheduler/`` — what :meth:`save_pretrained` writes;
        * reference: a folder with ``diffusion_pytorch_model.bin`` (or its parent holding
          ``pretrained/``, ``ft_places2/``, ... — pick one with ``subfolder``), or the file
          itself; the VAE comes from ``vae=`` or a ``vae/`` folder next to it or one or two
          levels up (``weight/vae``), or from ``hustvl/PixelHacker`` in the cache;
        * ``"hustvl/Moebius"`` (default) from the local cache, variant ``subfolder``
          (``"pretrained"`` by default).

        Args:
            pretrained: Folder, weight file or cached repository name.
            torch_dtype: Floating dtype of network and VAE (float32 by default).
            device: Where to put them (CPU by default).
            subfolder: Variant folder of the reference layout.
            vae: A VAE folder or an ``AutoencoderKL`` instance (overrides the search).
            **pipeline_kwargs: ``context``, ``feather``.

        Raises:
            CheckpointError: Nothing found, a checkpoint that does not fit, or no VAE.
        """
        root = _resolve_local(
            pretrained,
            subfolder or (OFFICIAL_VARIANT if str(pretrained) == OFFICIAL_REPO else None),
        )
        scheduler = None
        defaults: dict[str, Any] = {}
        inputs: dict[str, Any] = {}
        if root.is_file():
            folder, weights = root.parent, root
        elif (root / "model_index.json").is_file():
            try:
                index = json.loads((root / "model_index.json").read_text())
            except ValueError as exc:
                raise CheckpointError(f"{root / 'model_index.json'} is not JSON: {exc}") from exc
            defaults = dict(index.get(DEFAULTS_KEY) or {})
            inputs = dict(index.get(INPUT_KEY) or {})
            folder = root / "unet"
            weights = find_weights(folder)
            if (root / "scheduler" / "scheduler_config.json").is_file():
                from diffusers import DDIMScheduler

                scheduler = DDIMScheduler.from_pretrained(
                    str(root), subfolder="scheduler", local_files_only=True
                )
            if vae is None and (root / "vae").is_dir():
                vae = root / "vae"
        else:
            folder = root / subfolder if subfolder else root
            if (
                not subfolder
                and find_weights(folder) is None
                and (root / OFFICIAL_VARIANT).is_dir()
            ):
                folder = root / OFFICIAL_VARIANT
            weights = find_weights(folder)
        if weights is None:
            raise CheckpointError(
                f"no weights (diffusion_pytorch_model.bin/.safetensors) in {folder}"
            )
        config_file = folder / "config.json"
        config = (
            MoebiusConfig.from_dict(json.loads(config_file.read_text()))
            if config_file.is_file()
            else None
        )
        if vae is None:
            vae = _find_reference_vae(folder)
            if vae is None:
                raise CheckpointError(
                    f"no VAE found for {folder}: pass vae=<folder with config.json>, or put "
                    "hustvl/PixelHacker's vae/ folder next to the weights (e.g. weight/vae)"
                )
        network = load_network(weights, config, device=device, dtype=torch_dtype)
        vae_model = _load_vae(vae, torch_dtype).to(device=device or "cpu")
        logger.info("loaded Moebius weights from %s", weights)
        pipeline_kwargs.setdefault("defaults", defaults)
        if "masked_fill" in inputs:
            pipeline_kwargs.setdefault("masked_fill", inputs["masked_fill"])
        if "correction_blur" in inputs:
            pipeline_kwargs.setdefault("correction_blur", float(inputs["correction_blur"]))
        if "deterministic" in inputs:
            pipeline_kwargs.setdefault("deterministic", bool(inputs["deterministic"]))
        if inputs.get("aux_fill"):
            pipeline_kwargs.setdefault("aux_fill", str(inputs["aux_fill"]))
        return cls(network, vae_model, scheduler, **pipeline_kwargs)

    def save_pretrained(
        self, save_directory: str | os.PathLike[str], *, dtype: torch.dtype | None = None
    ) -> None:
        """Write the diffusers layout: ``model_index.json``, ``unet/``, ``vae/``, ``scheduler/``.

        ``unet/diffusion_pytorch_model.safetensors`` holds the whole network with the
        reference's keys (``embedding_layer.weight``, ``diff_model.*``).

        Args:
            save_directory: Folder to write (created if needed).
            dtype: Store the network's floating tensors in this dtype (e.g. ``torch.float16``
                halves the file; loading casts back to the dtype asked for).
        """
        import diffusers
        from safetensors.torch import save_file

        root = Path(save_directory)
        (root / "unet").mkdir(parents=True, exist_ok=True)
        network = getattr(self.network, "_orig_mod", self.network)
        index = {
            "_class_name": type(self).__name__,
            "_diffusers_version": diffusers.__version__,
            "unet": ["moebius_video", "MoebiusNetwork"],
            "vae": (
                ["moebius_video", type(self.vae).__name__]
                if isinstance(self.vae, PixelUnshuffleLatent)
                else ["diffusers", "AutoencoderKL"]
            ),
            "scheduler": ["diffusers", "DDIMScheduler"],
        }
        if self.defaults:
            index[DEFAULTS_KEY] = dict(self.defaults)
        inputs: dict[str, Any] = {}
        if self.masked_fill != "zeros":
            inputs["masked_fill"] = self.masked_fill
            if self.correction_blur > 0:
                inputs["correction_blur"] = self.correction_blur
        if self.deterministic:
            inputs["deterministic"] = True
        if self.aux_fill is not None:
            inputs["aux_fill"] = self.aux_fill
        if inputs:
            index[INPUT_KEY] = inputs
        (root / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        config = {"_class_name": "MoebiusNetwork", **network.config.to_dict()}
        (root / "unet" / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        state = {}
        for key, value in network.state_dict().items():
            value = value.detach().contiguous().cpu()
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            state[key] = value
        save_file(state, str(root / "unet" / "diffusion_pytorch_model.safetensors"))
        self.vae.save_pretrained(str(root / "vae"), safe_serialization=True)
        self.scheduler.save_pretrained(str(root / "scheduler"))

    # ------------------------------------------------------------------ inference
    def call_settings(
        self,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        strength: float | None = None,
    ) -> tuple[int, float, float]:
        """The settings a call runs with: each given value, else the model's, else the reference's.

        Args:
            num_inference_steps: The caller's step count, or ``None``.
            guidance_scale: The caller's guidance weight, or ``None``.
            strength: The caller's strength, or ``None``.

        Returns:
            ``(num_inference_steps, guidance_scale, strength)`` as the call will use them.
        """
        given = {
            "num_inference_steps": num_inference_steps,
            "guidance_scale": guidance_scale,
            "strength": strength,
        }
        out = {
            key: value if value is not None else self.defaults.get(key, REFERENCE_CALL_DEFAULTS[key])
            for key, value in given.items()
        }
        steps = out["num_inference_steps"]
        if isinstance(steps, float) and steps.is_integer():
            steps = int(steps)  # JSON may carry 4.0
        return steps, out["guidance_scale"], out["strength"]

    def _check_call_args(
        self,
        num_inference_steps: int,
        guidance_scale: float,
        strength: float,
        output_type: str,
        prompt: Any,
    ) -> None:
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise InvalidArgumentError(
                f"num_inference_steps must be a positive int, got {num_inference_steps!r}"
            )
        if not 0.0 < float(strength) <= 1.0:
            raise InvalidArgumentError(f"strength must be in (0, 1], got {strength!r}")
        if not np.isfinite(guidance_scale):
            raise InvalidArgumentError(f"guidance_scale must be finite, got {guidance_scale!r}")
        if output_type not in _OUTPUT_TYPES:
            raise InvalidArgumentError(
                f"output_type must be one of {_OUTPUT_TYPES}, got {output_type!r}"
            )
        prompts = prompt if isinstance(prompt, (list, tuple)) else [prompt]
        if any(p for p in prompts):
            warnings.warn(
                "prompt is ignored: the Moebius weights have no text encoder (conditioning is a "
                "fixed learned 'background' embedding)",
                UserWarning,
                stacklevel=3,
            )

    def _encode(self, pixels: torch.Tensor, generator: Any) -> torch.Tensor:
        dist = self.vae.encode(pixels.to(device=self.vae.device, dtype=self.vae.dtype)).latent_dist
        return dist.sample(generator=generator).to(self.dtype) * self.vae.config.scaling_factor

    @torch.no_grad()
    def __call__(
        self,
        image: Any,
        mask_image: Any,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        strength: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt: str | Sequence[str] | None = None,
        output_type: str = "pil",
        *,
        noise_offset: float | None = None,
    ) -> MoebiusPipelineOutput:
        """Fill the masked regions.

        Args:
            image: One image or a list: PIL, ``H,W,3`` numpy (uint8 or float in [0, 1]) or a
                ``3,H,W`` / ``B,3,H,W`` tensor (float in [0, 1] or uint8).
            mask_image: Matching mask(s), non-zero = remove: PIL, ``H,W`` numpy / tensor (bool,
                uint8 binarised at 128, float at 0.5). An image whose mask is empty is
                returned unchanged with a warning (nothing to remove is not an error).
            num_inference_steps: Length of the DDIM schedule. ``None`` (default): the
                model's saved setting (``self.defaults``, from ``model_index.json``; 4 for
                ``moebius-tiny``), else the reference's 20.
            guidance_scale: Classifier-free guidance weight. ``None``: the model's saved
                setting (1.0 for ``moebius-tiny``: one network pass per step), else the
                reference's 4.5 (the reference CLI uses 2.5).
            strength: 1.0 starts from pure noise; below 1 from the image latents (or
                ``latents``) noised to that fraction of the schedule (the reference's 0.99).
                ``None``: the model's saved setting, else 1.0.
            generator: Seeds the VAE posterior samples and the noise.
            latents: ``B, 4, h, w`` start latents: with ``strength < 1`` the *clean* latents
                to noise instead of encoding the image (the video warm start: pass the previous
                frame's ``.latents``); with ``strength == 1`` the initial noise.
            prompt: Accepted for API compatibility; a non-empty prompt warns (no text encoder).
            output_type: ``"pil"``, ``"np"``, ``"pt"`` or ``"latent"``.
            noise_offset: Offset-noise weight (the reference CLI uses 0.0357; off by default).

        Returns:
            :class:`MoebiusPipelineOutput` with the images, final latents and crop windows.

        Raises:
            InvalidArgumentError: Bad argument values, image types or sizes.
            InvalidMaskError: Mask/image size mismatch or an unusable mask.
        """
        # 1. Resolve the settings left at None (caller, then model, then reference), check
        #    the arguments and convert the inputs.
        num_inference_steps, guidance_scale, strength = self.call_settings(
            num_inference_steps, guidance_scale, strength
        )
        self._check_call_args(num_inference_steps, guidance_scale, strength, output_type, prompt)
        images, masks = _as_list(image), _as_list(mask_image)
        if len(images) != len(masks):
            raise InvalidArgumentError(f"got {len(images)} images but {len(masks)} masks")
        frames = [_image_to_uint8(im, i) for i, im in enumerate(images)]
        holes = [_mask_to_bool(m, i) for i, m in enumerate(masks)]
        for i, (frame, hole) in enumerate(zip(frames, holes, strict=True)):
            if tuple(hole.shape) != tuple(frame.shape[-2:]):
                raise InvalidMaskError(
                    f"mask_image[{i}] is {hole.shape[1]}x{hole.shape[0]} but image[{i}] is "
                    f"{frame.shape[2]}x{frame.shape[1]} (width x height)"
                )

        # 2. Crop a window around each hole and resize it to the model size.
        size = self.image_size
        classical = self.masked_fill in CLASSICAL_FILLS
        boxes: list[CropBox | None] = []
        crops, crop_masks = [], []
        #: With a classical fill: each window filled by OpenCV at full resolution (float
        #: [0, 1]); the network's crop is this fill resized, and its correction is added to it.
        bases: list[torch.Tensor] = []
        for i, (frame, hole) in enumerate(zip(frames, holes, strict=True)):
            bbox = mask_box(hole.cpu().numpy())
            if bbox is None:
                warnings.warn(
                    f"mask_image[{i}] is empty: image[{i}] is returned unchanged",
                    UserWarning,
                    stacklevel=2,
                )
                boxes.append(None)
                continue
            box = crop_window(tuple(frame.shape[-2:]), bbox, context=self.context, min_side=size)
            rows, cols = box.slices()
            boxes.append(box)
            window = frame[:, rows, cols]
            if classical:
                filled = classical_fill_uint8(
                    window.permute(1, 2, 0).numpy(), hole[rows, cols].numpy(), self.masked_fill
                )
                window = torch.from_numpy(filled).permute(2, 0, 1)
                bases.append(window.float() / 255)
            crops.append(resize_image(window.float() / 255, (size, size)).clamp(0, 1))
            crop_masks.append(resize_mask(hole[rows, cols], (size, size)))
        active = [i for i, b in enumerate(boxes) if b is not None]

        ctx = self.transfers
        if ctx is not None and not all(c.device.type == "cpu" for c in crops):
            ctx = None  # images given as device tensors are already there
        compute = ctx.on(ctx.compute_stream) if ctx is not None else contextlib.nullcontext()
        if ctx is not None and ctx.is_cuda:
            # Inputs the caller made on its stream (warm-start latents) come first.
            ctx.compute_stream.wait_stream(torch.cuda.current_stream(ctx.device))
        if active and ctx is not None:
            # 3. (transfer layer) one RGBA uint8 upload per crop, ordered by events.
            staged = []
            for crop, crop_mask in zip(crops, crop_masks, strict=True):
                rgba = torch.cat([crop, crop_mask[None].to(crop.dtype)])
                rgba = rgba.mul(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
                staged.append(ctx.upload(rgba)[0])
            with compute:
                both = torch.cat(staged)
                pixels = both[:, :3] * 2 - 1
                mask = (both[:, 3:] > 0.5).to(torch.uint8)
        elif active:
            # 3. Model-space tensors: image in [-1, 1], binary mask, masked image.
            pixels = torch.stack(crops).to(self.device) * 2 - 1
            mask = torch.stack(crop_masks)[:, None].to(self.device, torch.uint8)
        with compute:
            final = self._sample(
                pixels if active else None, mask if active else None, active, len(frames),
                generator, latents, noise_offset, num_inference_steps, guidance_scale, strength,
            )
            if output_type != "latent" and active:
                decoded = self.vae.decode(
                    (final[active] / self.vae.config.scaling_factor).to(self.vae.dtype)
                ).sample.float()
                if self.correction_blur > 0:
                    base = self._masked(pixels, mask).float()
                    decoded = base + _gaussian_blur(decoded - base, self.correction_blur)
                decoded = ((decoded + 1) / 2).clamp(0, 1)
        if ctx is not None and ctx.is_cuda:
            # The returned latents are used on the caller's stream: order it after ours.
            caller = torch.cuda.current_stream(ctx.device)
            caller.wait_stream(ctx.compute_stream)
            final.record_stream(caller)

        if output_type == "latent":
            return MoebiusPipelineOutput(images=None, latents=final, crop_boxes=boxes)

        # 6. Bring the crops back, resize them to their windows and paste inside the holes.
        outputs = list(frames)
        if active:
            if ctx is not None:
                back = []
                for start in range(0, len(active), ctx.download_slots):  # a slot is reused after
                    pending = [ctx.download(d) for d in decoded[start : start + ctx.download_slots]]
                    back += [torch.from_numpy(p.wait().copy()).permute(2, 0, 1).float() / 255 for p in pending]
            else:
                back = list(decoded.cpu())
            for j, i in enumerate(active):
                box = boxes[i]
                assert box is not None
                result = back[j]
                if classical:
                    # The full-resolution OpenCV fill plus the network's correction (its
                    # output minus the model-size input it saw), resized to the window.
                    correction = result - crops[j]
                    result = bases[j] + resize_image(correction, tuple(bases[j].shape[-2:]))
                outputs[i] = paste(frames[i], result.clamp(0, 1), holes[i], box, feather=self.feather)

        # 7. Convert to the requested type.
        if output_type == "pil":
            out: list[Any] = [Image.fromarray(o.permute(1, 2, 0).numpy()) for o in outputs]
        elif output_type == "np":
            out = [o.permute(1, 2, 0).numpy().astype(np.float32) / 255 for o in outputs]
        else:
            out = [o.float() / 255 for o in outputs]
        return MoebiusPipelineOutput(images=out, latents=final, crop_boxes=boxes)

    def _masked(self, pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The network's masked-image input. Crops of a classical fill come already filled
        (OpenCV ran on the full-resolution window), so they are their own masked image."""
        if self.masked_fill in CLASSICAL_FILLS:
            return pixels
        return masked_input(pixels, mask, self.masked_fill)

    def _sample(
        self,
        pixels: torch.Tensor | None,
        mask: torch.Tensor | None,
        active: list[int],
        n_frames: int,
        generator: Any,
        latents: torch.Tensor | None,
        noise_offset: float | None,
        num_inference_steps: int,
        guidance_scale: float,
        strength: float,
    ) -> torch.Tensor:
        """Steps 4-5 of :meth:`__call__`: the final latents of every frame (zeros where
        ``active`` has no entry), from model-space ``pixels`` in [-1, 1] and ``mask``."""
        from diffusers.utils.torch_utils import randn_tensor

        h = w = self.network.config.sample_size
        final = torch.zeros(
            n_frames, self.network.config.latent_channels, h, w, dtype=self.dtype, device=self.device
        )
        if active:
            assert pixels is not None and mask is not None
            masked = self._masked(pixels, mask)

            # 4. Latents: VAE posterior samples (as the reference), mask by nearest sampling.
            if isinstance(generator, list):
                if len(generator) != n_frames:
                    raise InvalidArgumentError(
                        f"got {len(generator)} generators for {n_frames} images"
                    )
                generator = [generator[i] for i in active]
            clean = self._encode(pixels, generator)
            masked_latents = self._encode(masked, generator)
            latent_mask = F.interpolate(mask, size=(h, w)).to(self.dtype)
            if self.deterministic and self.aux_fill is not None:
                noise = self._encode(masked_input(pixels, mask, self.aux_fill), generator)
            elif self.deterministic:
                noise = torch.zeros_like(clean)
            else:
                noise = randn_tensor(
                    tuple(clean.shape), generator=generator, device=self.device, dtype=self.dtype
                )
            if noise_offset and not self.deterministic:
                offset = randn_tensor(
                    (*clean.shape[:2], 1, 1),
                    generator=generator,
                    device=self.device,
                    dtype=self.dtype,
                )
                noise = noise + noise_offset * offset
            if latents is not None:
                if latents.shape[0] == n_frames:
                    latents = latents[active]
                if tuple(latents.shape) != tuple(clean.shape):
                    raise InvalidArgumentError(
                        f"latents must be {n_frames},{clean.shape[1]},{h},{w}, got {tuple(latents.shape)}"
                    )
                latents = latents.to(device=self.device, dtype=self.dtype)
                if strength < 1:
                    clean = latents
                else:
                    noise = latents

            # 5. Classifier-free-guided DDIM.
            result = denoise(
                self.network,
                self.scheduler,
                clean_latents=clean,
                masked_latents=masked_latents,
                latent_mask=latent_mask,
                noise=noise,
                num_inference_steps=num_inference_steps,
                strength=float(strength),
                guidance_scale=float(guidance_scale),
            )
            final[active] = result.latents
        return final


__all__ = [
    "DDIM_SCHEDULER_CONFIG",
    "MoebiusInpaintingPipeline",
    "MoebiusPipelineOutput",
    "load_network",
]
