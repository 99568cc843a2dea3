"""Train a Moebius network: one script for one CPU, one GPU, or many under ``torchrun``.

``moebius-video train DATA... -o RUN`` (or :func:`train`) builds the data of
:mod:`moebius_video.train.data`, the network of :mod:`moebius_video.model`, the objective of
:mod:`moebius_video.train.objective` and optionally a distillation teacher
(:mod:`moebius_video.train.distill`), and runs AdamW with warm-up and cosine decay, gradient
clipping and an exponential moving average (EMA) of the weights. Under ``torchrun`` every
process trains on its own shard (``DistributedSampler``) and gradients are averaged by
``DistributedDataParallel`` (NCCL on GPUs, gloo on CPUs); only rank 0 logs and writes.

The run folder holds:

* ``checkpoint.pt``: network, EMA, optimizer, learning-rate schedule, step and config, written
  to a temporary name and renamed, every ``save_every`` steps, at the end and on Ctrl-C;
  ``--resume`` continues from it (the model part of the config must match; checkpoints
  written before the config was nested, with a flat config dict, still resume);
* ``log.jsonl``: one JSON object per ``log_every`` steps (loss, learning rate, images/s);
* ``model/``: the EMA weights as a pipeline folder
  (:meth:`~moebius_video.model.MoebiusInpaintingPipeline.save_pretrained`), loadable with
  ``MoebiusInpaintingPipeline.from_pretrained("RUN/model")``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from moebius_video.errors import CheckpointError, InvalidArgumentError
from moebius_video.model.config import DDIM_SCHEDULER_CONFIG, MoebiusConfig
from moebius_video.model.geometry import CLASSICAL_FILLS, MASKED_FILLS, masked_input
from moebius_video.model.latent import PixelUnshuffleLatent
from moebius_video.model.network import MoebiusNetwork
from moebius_video.train.masks import MaskConfig
from moebius_video.train.objective import (
    PREDICTION_TYPES,
    ObjectiveConfig,
    StudentConfig,
    diffusion_loss,
    encode_batch,
    pixel_loss,
    student_loss,
    windowed_student_loss,
)

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = 1

#: Fields of :class:`ModelShape` that define the model; a checkpoint must agree on all of them
#: to resume.
MODEL_FIELDS = (
    "crop_size",
    "latent_factor",
    "vae",
    "block_out_channels",
    "cross_attention_dim",
    "encoder_hid_dim",
    "num_heads",
    "prediction_type",
    "masked_fill",
    "input_skip",
    "student",
    "aux_fill",
)


def _raise_problems(problems: list[str]) -> None:
    if problems:
        raise InvalidArgumentError("invalid training config: " + "; ".join(problems))


@dataclass(frozen=True)
class ModelShape:
    """The network and its latent space: what a checkpoint must agree on to resume.

    Attributes:
        crop_size: Training crop side in pixels; the network's latent side is
            ``crop_size // latent_factor`` and it fills ``crop_size`` squares at inference.
        latent_factor: Pixel-unshuffle factor of the invertible latent (ignored with ``vae``).
        vae: A diffusers ``AutoencoderKL`` folder to diffuse in its latent space instead (for
            example hustvl/PixelHacker's ``vae/``, the space of the official Moebius models,
            which is what distilling from them needs); ``None``: the pixel-unshuffle latent.
        block_out_channels: Network widths (see :class:`MoebiusConfig`).
        cross_attention_dim: Width of the projected id embeddings.
        encoder_hid_dim: Width of the id embedding table.
        num_heads: Lambda heads.
        prediction_type: What the network predicts (``"sample"``, ``"epsilon"``, ``"v_prediction"``).
        masked_fill: What the network's masked-image input holds in the hole: ``"zeros"``
            (the reference), ``"pushpull"`` (a smooth interpolation of the surroundings,
            which spares a small network learning to carry colours across the hole), or
            ``"telea"`` / ``"ns"`` (OpenCV's inpainting, run on each training crop).
        input_skip: The network outputs a correction added to its masked-image input
            (:attr:`MoebiusConfig.input_skip`; needs the ``"sample"`` target).
        timestep_spacing: The sampling schedule saved with the model (``"trailing"`` makes
            1-step sampling start at t = 999 instead of the reference's t = 0).
        student: Train a deterministic one-step student instead of a diffusion model: a
            fixed timestep (999), a zero noisy-latent input, the clean image as the target,
            and a pixel L1 + image-gradient loss weighted to the hole
            (:func:`~moebius_video.train.objective.student_loss`). Needs ``input_skip`` and
            a filled ``masked_fill``; with the zero-initialised last layer the student
            starts exactly at its input. Exported with 1 step and ``deterministic``.
        aux_fill: With ``student``: a second fill of the hole fed in the noisy-latent slot
            (the two fills stacked as input channels; the correction is added to
            ``masked_fill``'s); ``None``: zeros there.
    """

    crop_size: int = 128
    latent_factor: int = 4
    vae: str | None = None
    block_out_channels: tuple[int, ...] = (32, 64, 128)
    cross_attention_dim: int = 40
    encoder_hid_dim: int = 72
    num_heads: int = 8
    prediction_type: str = "sample"
    masked_fill: str = "zeros"
    input_skip: bool = False
    timestep_spacing: str = "trailing"
    student: bool = False
    aux_fill: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_out_channels", tuple(self.block_out_channels))
        problems = []
        if self.latent_factor < 1 or self.latent_factor & (self.latent_factor - 1):
            problems.append(f"latent_factor must be a power of two, got {self.latent_factor}")
        down = 2 ** (len(self.block_out_channels) - 1)
        if self.vae is None and self.crop_size % (self.latent_factor * down):
            problems.append(
                f"crop_size {self.crop_size} must be a multiple of latent_factor x 2^(levels-1) "
                f"= {self.latent_factor * down}"
            )
        if self.prediction_type not in PREDICTION_TYPES:
            problems.append(
                f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}"
            )
        if self.input_skip and self.prediction_type != "sample":
            problems.append("input_skip needs prediction_type 'sample'")
        if self.masked_fill not in MASKED_FILLS:
            problems.append(f"masked_fill must be one of {MASKED_FILLS}, got {self.masked_fill!r}")
        if self.student and not self.input_skip:
            problems.append("student needs input_skip (it learns a correction of its input)")
        if self.student and self.masked_fill == "zeros":
            problems.append("student needs a filled masked image (masked_fill pushpull, telea or ns)")
        if self.aux_fill is not None and (not self.student or self.aux_fill not in MASKED_FILLS[1:]):
            problems.append(f"aux_fill needs student and one of {MASKED_FILLS[1:]}, got {self.aux_fill!r}")
        if self.student and self.timestep_spacing != "trailing":
            problems.append("student needs timestep_spacing 'trailing' (its one step is t = 999)")
        _raise_problems(problems)


@dataclass(frozen=True)
class DataSettings:
    """Where the training images come from (turned into a ``train.data.DataConfig``).

    Attributes:
        roots: Image folders, video files or folders of them (see ``discover_sources``).
        mask_kinds: Hole kinds to train with.
        mask_weights: Relative frequency of each of ``mask_kinds`` (same order); ``None``
            draws them equally often. The student's loss is a mean over all hole pixels of
            a batch, so a kind's share of the gradient is its frequency times its hole area:
            weighting the small-area kinds up (thin and medium strokes) gives them more say.
        object_roots: Where the ``object`` holes' silhouettes come from (clip ``masks/``
            folders, RGBA cut-outs); default: found under ``roots``.
        video_stride: Take every n-th frame of videos.
        holdout_fraction: Share of the clips/images kept out for evaluation.
        num_workers: DataLoader worker processes.
        window_size: With a student on a classical ``masked_fill``: train on windows of this
            many pixels (more than the network's ``crop_size``), filled by OpenCV at full
            resolution and shrunk to the network, the correction enlarged back and the
            loss measured there (:func:`~moebius_video.train.objective.windowed_student_loss`),
            as the pipeline fills holes in larger images; ``None``: windows of the
            network's size.
    """

    roots: tuple[str, ...]
    mask_kinds: tuple[str, ...] = ("thin", "medium", "thick", "box", "object")
    mask_weights: tuple[float, ...] | None = None
    object_roots: tuple[str, ...] = ()
    video_stride: int = 10
    holdout_fraction: float = 0.15
    num_workers: int = 0
    window_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("roots", "mask_kinds", "object_roots"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.mask_weights is not None:
            object.__setattr__(self, "mask_weights", tuple(float(w) for w in self.mask_weights))
        _raise_problems([] if self.roots else ["no training data given"])
        MaskConfig(kinds=self.mask_kinds, weights=self.mask_weights)  # one-line error if unfit


@dataclass(frozen=True)
class OptimSettings:
    """The optimizer, its schedule and the diffusion objective's knobs.

    Attributes:
        steps: Optimizer steps to reach (a resumed run continues up to this number).
        batch_size: Images per step per process.
        lr: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        warmup_steps: Linear warm-up length.
        min_lr_ratio: Cosine decay floor relative to ``lr``.
        grad_clip: Max gradient norm (0 = off).
        ema_decay: EMA decay per step.
        uncond_prob: Probability of the unconditional ids (classifier-free guidance dropout).
        hole_weight: Extra loss weight inside the hole.
        focus_prob: Probability of training a sample at one of the timesteps of the model's
            default sampling schedule (``export.default_steps`` with ``timestep_spacing``)
            instead of a uniform one.
    """

    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    uncond_prob: float = 0.1
    hole_weight: float = 10.0
    focus_prob: float = 0.0

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be >= 1, got {getattr(self, name)}"
            for name in ("steps", "batch_size")
            if getattr(self, name) < 1
        ]
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        _raise_problems(problems)


@dataclass(frozen=True)
class DistillSettings:
    """Where the weights start and what teacher, if any, guides them.

    Attributes:
        teacher: A pipeline (folder or shipped name) to distil from (same latent space).
        distill_weight: Weight of the distillation loss next to the diffusion loss.
        distill_blocks: Blocks for feature alignment (see :mod:`moebius_video.train.distill`).
        init_from: A pipeline (folder or shipped name) whose network weights start the run.
    """

    teacher: str | None = None
    distill_weight: float = 1.0
    distill_blocks: tuple[str, ...] = ()
    init_from: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "distill_blocks", tuple(self.distill_blocks))


@dataclass(frozen=True)
class ExportSettings:
    """What is written with the exported model.

    Attributes:
        export_dtype: Dtype of the exported weights (``"float16"`` halves the file).
        default_steps: Recommended DDIM steps written with the exported model.
        default_guidance: Recommended guidance written with the exported model.
    """

    export_dtype: str = "float16"
    default_steps: int = 4
    default_guidance: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if self.default_steps < 1:
            problems.append(f"default_steps must be >= 1, got {self.default_steps}")
        if self.export_dtype not in ("float16", "bfloat16", "float32"):
            problems.append(f"export_dtype must be float16, bfloat16 or float32, got {self.export_dtype!r}")
        _raise_problems(problems)


@dataclass(frozen=True)
class RunSettings:
    """The run folder, the seed, the cadence of logs and checkpoints, the device.

    Attributes:
        output_dir: The run folder (checkpoint, log, exported model).
        seed: Seed of data order, masks, noise and initial weights.
        log_every: Steps between log lines.
        save_every: Steps between checkpoints.
        device: ``"auto"`` (the local CUDA device if any), ``"cpu"`` or ``"cuda"``.
    """

    output_dir: str
    seed: int = 0
    log_every: int = 10
    save_every: int = 200
    device: str = "auto"

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be >= 1, got {getattr(self, name)}"
            for name in ("log_every", "save_every")
            if getattr(self, name) < 1
        ]
        if self.device not in ("auto", "cpu", "cuda"):
            problems.append(f"device must be auto, cpu or cuda, got {self.device!r}")
        _raise_problems(problems)


#: The sections of :class:`TrainConfig` and the dataclass of each.
_SECTIONS: dict[str, type] = {
    "model": ModelShape,
    "data": DataSettings,
    "optim": OptimSettings,
    "distill": DistillSettings,
    "export": ExportSettings,
    "run": RunSettings,
}
#: Flat field name (the form of checkpoints written before the nesting, and of the CLI's
#: flags) -> its section.
_SECTION_OF = {f.name: section for section, cls in _SECTIONS.items() for f in dataclasses.fields(cls)}


def nest_config_dict(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A config dict in the nested form, from the nested form, the old flat one or a mix.

    Section entries (``{"model": {...}}``) are read first; flat keys (``"crop_size"``) are
    routed to their section and win over them, so a saved config can be overridden by
    flat flags. Unknown keys are dropped (as the flat loader always did).
    """
    nested: dict[str, dict[str, Any]] = {section: {} for section in _SECTIONS}
    for section in _SECTIONS:
        if isinstance(data.get(section), dict):
            names = {f.name for f in dataclasses.fields(_SECTIONS[section])}
            nested[section].update({k: v for k, v in data[section].items() if k in names})
    for key, value in data.items():
        if key in _SECTION_OF:
            nested[_SECTION_OF[key]][key] = value
    return nested


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on, by concern.

    Attributes:
        data: The training images (:class:`DataSettings`; its ``roots`` is required).
        run: The run folder, seed, cadence and device (:class:`RunSettings`; its
            ``output_dir`` is required).
        model: The network and latent space (:class:`ModelShape`).
        optim: Optimizer, schedule and objective (:class:`OptimSettings`).
        distill: Initial weights and teacher (:class:`DistillSettings`).
        export: What the exported model carries (:class:`ExportSettings`).
    """

    data: DataSettings
    run: RunSettings
    model: ModelShape = field(default_factory=ModelShape)
    optim: OptimSettings = field(default_factory=OptimSettings)
    distill: DistillSettings = field(default_factory=DistillSettings)
    export: ExportSettings = field(default_factory=ExportSettings)

    def __post_init__(self) -> None:
        window = self.data.window_size
        if window is None:
            return
        problems = []
        if window < self.model.crop_size or window % 8:
            problems.append(
                f"window_size must be a multiple of 8 and >= crop_size ({self.model.crop_size}), got {window}"
            )
        if not self.model.student or self.model.masked_fill not in CLASSICAL_FILLS:
            problems.append(
                "window_size needs --student with a classical --masked-fill (ns or telea): the "
                "correction is added to OpenCV's fill of the whole window"
            )
        if self.distill.teacher is not None:
            problems.append("window_size cannot be combined with a distillation teacher")
        _raise_problems(problems)

    def latent_geometry(self) -> tuple[int, int]:
        """``(latent channels, pixels per latent position)``; reads the VAE's config.json."""
        m = self.model
        if m.vae is None:
            return 3 * m.latent_factor**2, m.latent_factor
        path = Path(m.vae) / "config.json"
        try:
            data = json.loads(path.read_text())
            return int(data["latent_channels"]), 2 ** (len(data["block_out_channels"]) - 1)
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"--vae {m.vae}: cannot read {path}: {exc}") from exc

    def network_config(self) -> MoebiusConfig:
        """The :class:`MoebiusConfig` of the network this run trains."""
        m = self.model
        channels, factor = self.latent_geometry()
        down = 2 ** (len(m.block_out_channels) - 1)
        if m.crop_size % (factor * down):
            raise InvalidArgumentError(
                f"crop_size {m.crop_size} must be a multiple of the latent factor x "
                f"2^(levels-1) = {factor * down}"
            )
        return MoebiusConfig(
            sample_size=m.crop_size // factor,
            in_channels=2 * channels + 1,
            out_channels=channels,
            block_out_channels=m.block_out_channels,
            cross_attention_dim=m.cross_attention_dim,
            encoder_hid_dim=m.encoder_hid_dim,
            num_heads=m.num_heads,
            input_skip=m.input_skip,
        )

    def scheduler_config(self) -> dict[str, Any]:
        """The DDIM settings saved with the model: the reference's, with this run's target."""
        return {
            **DDIM_SCHEDULER_CONFIG,
            "prediction_type": self.model.prediction_type,
            "timestep_spacing": self.model.timestep_spacing,
        }

    def to_dict(self) -> dict[str, Any]:
        """The nested form, ``{"model": {...}, "data": {...}, ...}`` (what checkpoints hold)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from :meth:`to_dict`'s nested form or the flat form of older checkpoints.

        See :func:`nest_config_dict` (flat keys override section entries).
        """
        nested = nest_config_dict(data)
        return cls(**{section: _SECTIONS[section](**nested[section]) for section in _SECTIONS})


@dataclass
class TrainResult:
    """What a run did."""

    step: int
    final_loss: float
    images_per_second: float
    seconds: float
    model_dir: Path
    checkpoint: Path
    interrupted: bool = False
    world_size: int = 1
    replica_checksums: list[float] = field(default_factory=list)


# ---------------------------------------------------------------------------- distributed setup
@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    initialised_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: str) -> _Dist:
    """Read torchrun's environment; start the process group when there is more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError("--device cuda asked for, but no CUDA device is available")
    dev = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    here = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        here = True
    return _Dist(rank, world, local, dev, here)


# ---------------------------------------------------------------------------- schedule, EMA
def lr_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` at ``steps``."""
    o = config.optim
    if step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    span = max(o.steps - o.warmup_steps, 1)
    progress = min((step - o.warmup_steps) / span, 1.0)
    return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_ema(network: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """torch's ``AveragedModel`` with an EMA rule; buffers (BatchNorm statistics) averaged too."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


# ---------------------------------------------------------------------------- checkpoints
def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_resume_config(saved: dict[str, Any], config: TrainConfig, source: str) -> None:
    """Raise :class:`CheckpointError` naming every model field that differs."""
    saved_model = nest_config_dict(saved)["model"]  # nested, or flat from older runs
    diffs = []
    for name in MODEL_FIELDS:
        old, new = saved_model.get(name), getattr(config.model, name)
        if isinstance(new, tuple):
            old = tuple(old) if old is not None else None
        if old != new:
            diffs.append(f"{name} {old!r} != {new!r}")
    if diffs:
        raise CheckpointError(
            f"{source} was trained with another model config ({'; '.join(diffs)}); "
            "use the same settings or another output folder"
        )


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`train` (``weights_only``: no pickled code runs)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file ends here, named
        raise CheckpointError(f"cannot read the checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a moebius-video training checkpoint")
    return state


def load_latent(config: TrainConfig) -> Any:
    """The run's latent space: a frozen ``AutoencoderKL`` (``config.model.vae``) or pixel-unshuffle."""
    if config.model.vae is None:
        return PixelUnshuffleLatent(config.model.latent_factor)
    from moebius_video.model.pipeline import _load_vae

    vae = _load_vae(config.model.vae, torch.float32).eval()
    vae.requires_grad_(False)
    return vae


def same_latent_space(a: Any, b: Any) -> bool:
    """Whether two latent modules encode alike (same kind and the same config numbers)."""
    if type(a) is not type(b):
        return False
    keys = ("latent_channels", "scaling_factor", "block_out_channels", "factor", "shift_factor")
    return all(getattr(a.config, k, None) == getattr(b.config, k, None) for k in keys)


def export_model(
    network: torch.nn.Module,
    config: TrainConfig,
    folder: str | os.PathLike[str],
    latent: Any = None,
) -> Path:
    """Write ``network`` as a pipeline folder (weights in ``config.export.export_dtype``)."""
    from moebius_video.model.pipeline import MoebiusInpaintingPipeline
    from moebius_video.model.sampling import make_scheduler

    net = MoebiusNetwork(network.config)
    net.load_state_dict(network.state_dict())
    student = config.model.student
    pipeline = MoebiusInpaintingPipeline(
        net,
        latent if latent is not None else load_latent(config),
        make_scheduler(config.scheduler_config()),
        defaults={
            "num_inference_steps": 1 if student else config.export.default_steps,
            "guidance_scale": 1.0 if student else config.export.default_guidance,
        },
        masked_fill=config.model.masked_fill,
        deterministic=student,
        aux_fill=config.model.aux_fill,
    )
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    pipeline.save_pretrained(tmp, dtype=getattr(torch, config.export.export_dtype))
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old")
        if old.exists():
            shutil.rmtree(old)
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old)
    else:
        tmp.rename(folder)
    return folder


def zero_correction(network: MoebiusNetwork) -> None:
    """Zero the output layer's last BatchNorm (scale and shift): with ``input_skip`` the
    network then returns its masked-image input exactly, in train and in eval mode."""
    if not network.config.input_skip:
        raise InvalidArgumentError("zero_correction needs a network with input_skip")
    bn = network.diff_model.conv_out.bn2
    with torch.no_grad():
        bn.weight.zero_()
        bn.bias.zero_()


# ---------------------------------------------------------------------------- the loop
def _batches(loader: DataLoader, sampler: Any, epoch: int) -> Iterator[tuple[int, dict[str, Any]]]:
    while True:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        dataset = loader.dataset
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        for batch in loader:
            yield epoch, batch
        epoch += 1


def _build_data(config: TrainConfig, ctx: _Dist) -> tuple[DataLoader, Any]:
    from moebius_video.train.data import DataConfig, InpaintingDataset

    data = DataConfig(
        roots=tuple(config.data.roots),
        crop_size=config.data.window_size or config.model.crop_size,
        video_stride=config.data.video_stride,
        split="train",
        holdout_fraction=config.data.holdout_fraction,
        mask=MaskConfig(kinds=tuple(config.data.mask_kinds), weights=config.data.mask_weights),
        seed=config.run.seed,
        object_roots=tuple(Path(r) for r in config.data.object_roots) or None,
    )
    dataset = InpaintingDataset(data)
    if ctx.world_size > 1:
        sampler: Any = DistributedSampler(
            dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.run.seed
        )
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(config.run.seed))
    loader = DataLoader(
        dataset,
        batch_size=config.optim.batch_size,
        sampler=sampler,
        num_workers=config.data.num_workers,
        drop_last=len(dataset) >= config.optim.batch_size * ctx.world_size,
        persistent_workers=config.data.num_workers > 0,
    )
    return loader, sampler


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    max_minutes: float | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Run (or continue) a training run; see the module docstring for what it writes.

    Args:
        config: The run's settings.
        resume: Continue from ``output_dir/checkpoint.pt``. Without it, an existing checkpoint
            is an error (nothing is overwritten by accident).
        max_minutes: Stop cleanly (checkpoint + export) after this much wall time, so a run
            can be spread over several sessions with ``resume``.
        progress: Show a tqdm bar (default: on a terminal, rank 0 only).

    Returns:
        :class:`TrainResult` (on every rank).

    Raises:
        InvalidArgumentError: Bad settings or unusable data.
        CheckpointError: A checkpoint that does not fit this config, or one in the way.
    """
    from tqdm import tqdm

    from moebius_video.model.sampling import get_timesteps, make_scheduler

    out = Path(config.run.output_dir)
    ckpt_path = out / CHECKPOINT_NAME
    if ckpt_path.exists() and not resume:
        raise CheckpointError(
            f"{ckpt_path} already exists: pass --resume to continue that run, or choose "
            "another output folder"
        )
    if resume and not ckpt_path.exists():
        raise CheckpointError(f"--resume: there is no checkpoint at {ckpt_path}")
    saved = load_checkpoint(ckpt_path) if resume else None
    if saved is not None:
        check_resume_config(saved["config"], config, str(ckpt_path))

    ctx = _setup_distributed(config.run.device)
    try:
        torch.manual_seed(config.run.seed)  # identical initial weights on every rank
        loader, sampler = _build_data(config, ctx)
        network = MoebiusNetwork(config.network_config())
        if config.distill.init_from and saved is None:
            from moebius_video.model.pipeline import MoebiusInpaintingPipeline

            source = MoebiusInpaintingPipeline.from_pretrained(config.distill.init_from)
            if source.network.config.to_dict() != network.config.to_dict():
                raise CheckpointError(
                    f"--init-from {config.distill.init_from}: its network config differs from this "
                    f"run's ({source.network.config} vs {network.config})"
                )
            network.load_state_dict(source.network.state_dict())
            if config.model.student and not source.deterministic:
                # The correction's last layer starts at zero: step 0 returns the input.
                # (A student's weights are continued as they are.)
                zero_correction(network)
        network.to(ctx.device).train()
        ema = make_ema(network, config.optim.ema_decay)
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay
        )
        step = 0
        if saved is not None:
            network.load_state_dict(saved["network"])
            ema.load_state_dict(saved["ema"])
            optimizer.load_state_dict(saved["optimizer"])
            step = int(saved["step"])
        model: torch.nn.Module = network
        if ctx.world_size > 1:
            model = torch.nn.parallel.DistributedDataParallel(
                network, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None
            )
        vae = load_latent(config).to(ctx.device)
        scheduler = make_scheduler(config.scheduler_config())
        objective = ObjectiveConfig(
            uncond_prob=config.optim.uncond_prob,
            hole_weight=config.optim.hole_weight,
            focus_timesteps=tuple(int(t) for t in get_timesteps(scheduler, config.export.default_steps, 1.0)),
            focus_prob=config.optim.focus_prob,
        )
        student = StudentConfig(hole_weight=config.optim.hole_weight)
        distiller = _build_distiller(config, network, model, scheduler, vae, ctx)
        if distiller is not None:
            optimizer.add_param_group({"params": list(distiller.parameters())})
            if saved is not None and "distiller" in saved:
                distiller.load_state_dict(saved["distiller"])
        generator = torch.Generator().manual_seed(config.run.seed * 1000 + ctx.rank + step)

        def snapshot() -> dict[str, Any]:
            state = {
                "format": CHECKPOINT_FORMAT,
                "step": step,
                "config": config.to_dict(),
                "network": network.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict(),
                "world_size": ctx.world_size,
            }
            if distiller is not None:
                state["distiller"] = distiller.state_dict()
            return state

        def save() -> None:
            if ctx.main:
                out.mkdir(parents=True, exist_ok=True)
                _atomic_save(snapshot(), ckpt_path)
                export_model(ema.module, config, out / "model", vae)

        if ctx.main:
            out.mkdir(parents=True, exist_ok=True)
            logger.info(
                "training %s parameters on %d image(s) x %d process(es), %s, from step %d",
                f"{sum(p.numel() for p in network.parameters()):,}",
                len(loader.dataset),
                ctx.world_size,
                ctx.device,
                step,
            )
        show = progress if progress is not None else os.isatty(2)
        bar = tqdm(
            total=config.optim.steps, initial=step, disable=not (show and ctx.main), unit="step",
            dynamic_ncols=True,
        )
        start, first_step = time.monotonic(), step
        window_start, window_images = start, 0
        running = float("nan")
        interrupted = False
        log_file = (out / "log.jsonl").open("a") if ctx.main else None
        try:
            epoch = step * config.optim.batch_size * ctx.world_size // max(len(loader.dataset), 1)
            batches = _batches(loader, sampler, epoch)
            while step < config.optim.steps:
                if max_minutes is not None and (time.monotonic() - start) > 60 * max_minutes:
                    logger.info("--max-minutes reached at step %d", step)
                    break
                _, batch = next(batches)
                image = batch["image"].to(ctx.device, non_blocking=True)
                mask = batch["mask"].to(ctx.device, non_blocking=True)
                for group in optimizer.param_groups:
                    group["lr"] = config.optim.lr * lr_factor(step, config)
                if config.data.window_size:
                    windowed = windowed_student_loss(
                        model, vae, image, mask, config.model.crop_size, config.model.masked_fill,
                        config.model.aux_fill, student,
                    )
                    loss = windowed.loss
                    # The same loss of the student's input (its step 0): what it must beat.
                    parts = {"student": float(loss.detach()), "student_input": windowed.input_loss}
                else:
                    latent_batch = encode_batch(vae, image, mask, config.model.masked_fill)
                    if config.model.student:
                        aux = None
                        if config.model.aux_fill is not None:
                            with torch.no_grad():
                                aux_pixels = masked_input(image, (mask > 0.5).to(image.dtype), config.model.aux_fill)
                                aux = vae.encode(aux_pixels).latent_dist.sample() * vae.config.scaling_factor
                        result = student_loss(model, vae, image, latent_batch, mask, student, aux)
                    else:
                        result = diffusion_loss(model, scheduler, latent_batch, objective, generator=generator)
                    loss = result.loss
                    parts = {"student" if config.model.student else "diffusion": float(loss.detach())}
                    if config.model.student:
                        # The same loss of the student's input (its step 0): what it must beat.
                        with torch.no_grad():
                            base = vae.decode(latent_batch.masked_latents / vae.config.scaling_factor).sample
                            parts["student_input"] = float(pixel_loss(base, image, mask, student))
                if distiller is not None:
                    distilled = distiller.loss(
                        latent_batch.latents,
                        latent_batch.latent_mask,
                        latent_batch.masked_latents,
                        generator=generator,
                    )
                    loss = loss + config.distill.distill_weight * distilled.total
                    parts.update({f"distill/{k}": v for k, v in distilled.parts.items()})
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"the loss became {float(loss)} at step {step}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.optim.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(network.parameters(), config.optim.grad_clip)
                optimizer.step()
                ema.update_parameters(network)
                step += 1
                value = float(loss.detach())
                running = value if math.isnan(running) else 0.98 * running + 0.02 * value
                window_images += image.shape[0] * ctx.world_size
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}")
                if step % config.run.log_every == 0 or step == config.optim.steps:
                    now = time.monotonic()
                    rate = window_images / max(now - window_start, 1e-9)
                    window_start, window_images = now, 0
                    if log_file is not None:
                        record = {
                            "step": step,
                            "loss": value,
                            "loss_smooth": running,
                            "lr": optimizer.param_groups[0]["lr"],
                            "images_per_s": rate,
                            "elapsed_s": now - start,
                            **parts,
                        }
                        log_file.write(json.dumps(record) + "\n")
                        log_file.flush()
                    logger.info("step %d loss %.4f (%.1f images/s)", step, running, rate)
                if step % config.run.save_every == 0 and step < config.optim.steps:
                    save()
        except KeyboardInterrupt:
            interrupted = True
            logger.warning("interrupted at step %d: saving the checkpoint", step)
        finally:
            bar.close()
            if log_file is not None:
                log_file.close()
        save()
        if distiller is not None:
            distiller.close()
        checksums = _replica_checksums(network, ctx)
        seconds = time.monotonic() - start
        if interrupted:
            raise KeyboardInterrupt
        return TrainResult(
            step=step,
            final_loss=running,
            # Only the steps of this call: a resumed run's earlier steps took other time.
            images_per_second=(step - first_step) * config.optim.batch_size * ctx.world_size
            / max(seconds, 1e-9),
            seconds=seconds,
            model_dir=out / "model",
            checkpoint=ckpt_path,
            world_size=ctx.world_size,
            replica_checksums=checksums,
        )
    finally:
        if ctx.initialised_here:
            dist.destroy_process_group()


def _replica_checksums(network: torch.nn.Module, ctx: _Dist) -> list[float]:
    """Sum of every parameter on every rank; DDP keeps them equal, and this checks it."""
    with torch.no_grad():
        total = torch.stack([p.detach().double().sum() for p in network.parameters()]).sum()
    if ctx.world_size == 1:
        return [float(total)]
    local = total.reshape(1).to(ctx.device)
    gathered = [torch.zeros_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, local)
    values = [float(g) for g in gathered]
    if max(values) - min(values) > 1e-6 * max(1.0, abs(values[0])):
        raise RuntimeError(f"the data-parallel replicas diverged: parameter sums {values}")
    return values


def _build_distiller(
    config: TrainConfig,
    network: MoebiusNetwork,
    model: torch.nn.Module,
    scheduler: Any,
    vae: Any,
    ctx: _Dist,
) -> Any:
    """The teacher-student distiller, when ``config.distill.teacher`` is set."""
    if not config.distill.teacher:
        return None
    if ctx.world_size > 1:
        # The distiller runs the student outside the DDP wrapper (for its feature hooks), so
        # its gradients would not be averaged across processes: refuse rather than diverge.
        raise InvalidArgumentError(
            "--teacher (distillation) runs in a single process for now; start it without torchrun"
        )
    from moebius_video.model.pipeline import MoebiusInpaintingPipeline
    from moebius_video.train.distill import DistillConfig, Distiller

    teacher = MoebiusInpaintingPipeline.from_pretrained(config.distill.teacher)
    tvae = teacher.vae
    if not same_latent_space(tvae, vae):
        raise CheckpointError(
            f"teacher {config.distill.teacher} works in another latent space "
            f"({type(tvae).__name__}, {tvae.config.latent_channels} channels) than this run "
            f"({type(vae).__name__}, {vae.config.latent_channels} channels): train the "
            "student with --vae set to the teacher's VAE"
        )
    kwargs: dict[str, Any] = {}
    if config.distill.distill_blocks:
        kwargs["feature_blocks"] = tuple(config.distill.distill_blocks)
    return Distiller(
        network,
        teacher.network.to(ctx.device),
        scheduler,
        DistillConfig(**kwargs),
        vae=vae,
    ).to(ctx.device)


def config_from_args(roots: Sequence[str], output_dir: str, **kwargs: Any) -> TrainConfig:
    """Build a :class:`TrainConfig` from flat field names (the CLI's), dropping ``None`` values
    (= the defaults)."""
    unknown = sorted(set(kwargs) - set(_SECTION_OF))
    if unknown:
        raise TypeError(f"config_from_args: unknown field(s) {', '.join(unknown)}")
    flat = {k: v for k, v in kwargs.items() if v is not None}
    return TrainConfig.from_dict({**flat, "roots": tuple(roots), "output_dir": output_dir})


__all__ = [
    "CHECKPOINT_NAME",
    "MODEL_FIELDS",
    "DataSettings",
    "DistillSettings",
    "ExportSettings",
    "ModelShape",
    "OptimSettings",
    "RunSettings",
    "TrainConfig",
    "TrainResult",
    "check_resume_config",
    "config_from_args",
    "export_model",
    "load_checkpoint",
    "lr_factor",
    "make_ema",
    "nest_config_dict",
    "train",
    "zero_correction",
]
