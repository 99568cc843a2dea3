"""``bench model``: time the Moebius network and the VAE with random weights.

Measures, per dtype, the milliseconds of one UNet step (one classifier-free-guided network
evaluation: batch ``2B`` at the latent size) and of the VAE encode (image + masked image) and
decode, and derives the time per image for ``--image-steps`` steps. Peak memory is
``torch.cuda.max_memory_allocated`` on CUDA and the peak resident-set growth over the run on
CPU (sampled from ``/proc/self/statm``; ``ru_maxrss`` elsewhere). The same command runs on a
GPU with ``--device cuda`` (fp16 by default there, timed with CUDA events).

The published reference figure is 26 ms per step on one GPU (0.52 s per 512x512 image at 20
steps).
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from moebius_video.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

#: Stable-Diffusion-style VAE (4 levels, factor 8, 4 latent channels), random weights.
SD_VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}


@dataclass
class ModelBenchRow:
    """One line of the result table."""

    dtype: str
    step_ms: float
    vae_ms: float | None
    image_ms: float | None
    peak_mib: float
    peak_kind: str


# ---------------------------------------------------------------------------- memory / timing
def _current_rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class _RssPeak:
    """Peak RSS growth over a ``with`` block (a sampling thread; ``ru_maxrss`` as fallback)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak_delta = 0
        self._stop = threading.Event()

    def __enter__(self) -> _RssPeak:
        self._start = _current_rss_bytes()
        self._start_max = _maxrss_bytes()
        self._peak = self._start or 0
        if self._start is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _current_rss_bytes() or 0
            self._peak = max(self._peak, rss)
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._start is not None:
            self._thread.join()
            self.peak_delta = max(self._peak, _current_rss_bytes() or 0) - self._start
        else:
            self.peak_delta = _maxrss_bytes() - self._start_max


def _time_ms(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    """Mean milliseconds of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / repeats
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) * 1000 / repeats


# ---------------------------------------------------------------------------- the benchmark
@dataclass(frozen=True)
class ModelBenchConfig:
    """What ``bench model`` times (the flags of the same names)."""

    device: str = "cpu"
    dtypes: tuple[str, ...] | None = None
    config: str = "official"
    batch_size: int = 1
    steps: int = 3
    warmup: int = 1
    image_steps: int = 20
    no_vae: bool = False
    channels_last: bool = False
    compile: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        unknown = [n for n in self.dtypes or () if n not in _DTYPES]
        if unknown:
            raise InvalidArgumentError(f"unknown dtype(s) {unknown}; choose from {sorted(_DTYPES)}")
        if self.steps < 1 or self.warmup < 0 or self.batch_size < 1:
            raise InvalidArgumentError("--steps and --batch-size must be >= 1, --warmup >= 0")
        if self.config not in ("official", "tiny"):
            raise InvalidArgumentError(f"config must be 'official' or 'tiny', got {self.config!r}")


def _bench_dtype(args: ModelBenchConfig, device: torch.device, name: str) -> ModelBenchRow:
    from moebius_video.model.config import MoebiusConfig
    from moebius_video.model.network import MoebiusNetwork

    dtype = _DTYPES[name]
    config = MoebiusConfig.official() if args.config == "official" else MoebiusConfig.tiny()
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    with _RssPeak() as rss:
        with torch.device(device):
            network = MoebiusNetwork(config)
        network = network.to(dtype=dtype).eval()
        if args.channels_last:
            for p in network.parameters():
                if p.ndim == 4:
                    p.data = p.data.contiguous(memory_format=torch.channels_last)
        run_net: Callable[..., torch.Tensor] = torch.compile(network) if args.compile else network
        b, s = args.batch_size, config.sample_size
        x = torch.randn(2 * b, config.in_channels, s, s, device=device, dtype=dtype)
        ids = network.cfg_input_ids(b)
        t = torch.tensor([500], device=device)

        def step() -> torch.Tensor:
            return run_net(x, t, ids)

        with torch.inference_mode():
            step_ms = _time_ms(step, device, args.steps, args.warmup)
            vae_ms = None
            if not args.no_vae:
                from diffusers import AutoencoderKL

                vae = AutoencoderKL.from_config(SD_VAE_CONFIG)
                # nn.Module.to: the plain cast, without ModelMixin's "keep in float32" warning.
                vae = torch.nn.Module.to(vae, device=device, dtype=dtype).eval()
                factor = 2 ** (len(vae.config.block_out_channels) - 1)
                img = torch.rand(b, 3, s * factor, s * factor, device=device, dtype=dtype) * 2 - 1
                lat = torch.randn(b, 4, s, s, device=device, dtype=dtype)

                def vae_pass() -> object:
                    vae.encode(img).latent_dist.sample()  # the image
                    vae.encode(img).latent_dist.sample()  # the masked image
                    return vae.decode(lat).sample

                vae_ms = _time_ms(vae_pass, device, 1, 1 if device.type == "cuda" else 0)
    if device.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(device) / 2**20, "CUDA max allocated"
    else:
        peak, kind = rss.peak_delta / 2**20, "RSS growth"
    image_ms = None if vae_ms is None else vae_ms + args.image_steps * step_ms
    return ModelBenchRow(name, step_ms, vae_ms, image_ms, peak, kind)


def format_rows(rows: list[ModelBenchRow], args: ModelBenchConfig, device: torch.device) -> str:
    """The result table, with what was measured above it and the reference below."""
    b = args.batch_size
    size = 512 if args.config == "official" else 256
    head = f"{'dtype':<6} {'ms/step':>10} {'VAE ms':>10} {f'ms/image@{args.image_steps}':>14} {'peak MiB':>10}  memory"
    lines = [f"Moebius {args.config} network, random weights, {device} "
             f"({torch.get_num_threads()} threads), batch {b} (CFG: {2 * b}), {size}x{size} images",
             head, "-" * len(head)]
    for r in rows:
        vae = "-" if r.vae_ms is None else f"{r.vae_ms:10.1f}"
        img = "-" if r.image_ms is None else f"{r.image_ms / b:14.1f}"
        lines.append(f"{r.dtype:<6} {r.step_ms:10.1f} {vae:>10} {img:>14} {r.peak_mib:10.1f}  {r.peak_kind}")
    lines.append("(step = one guided network evaluation; image = 2 VAE encodes + 1 decode + steps x step)")
    lines.append("published reference: 26 ms/step, 0.52 s/image at 20 steps on one GPU")
    return "\n".join(lines)


def measure_model(args: ModelBenchConfig) -> tuple[list[ModelBenchRow], torch.device]:
    """Time the network (and the VAE) once per dtype; returns the rows and the device.

    Raises:
        InvalidArgumentError: CUDA asked for but absent.
    """
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError("--device cuda but no CUDA device is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.dtypes or (("fp16",) if device.type == "cuda" else ("fp32", "bf16"))
    return [_bench_dtype(args, device, n) for n in names], device


__all__ = ["ModelBenchConfig", "ModelBenchRow", "format_rows", "measure_model"]
