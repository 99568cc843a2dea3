"""Small clip builders shared by the end-to-end tests (real PyAV encoding into tmp_path)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch

from moebius_video.io.masks import save_mask
from moebius_video.synthetic import SceneConfig, SyntheticScene, write_scene_clip


def scene(width: int = 96, height: int = 64, frames: int = 16, **kw: object) -> SyntheticScene:
    """A small generated scene with a moving object (10 % of the frame by default)."""
    kw.setdefault("object_fraction", 0.1)
    kw.setdefault("pan_speed", 1.0)
    return SyntheticScene(SceneConfig(width=width, height=height, num_frames=frames, **kw))


def clip_with_masks(folder: Path, sc: SyntheticScene, *, audio: bool = True,
                    frame_rate: Fraction = Fraction(30000, 1001)) -> tuple[Path, Path, Path]:
    """Write ``clip.mp4``, the exact per-frame masks (``masks/``) and the first mask."""
    clip = folder / "clip.mp4"
    write_scene_clip(clip, sc, frame_rate=frame_rate, audio=audio, crf=0 if sc.config.width < 200 else 16)
    masks = folder / "masks"
    masks.mkdir()
    for i in range(len(sc)):
        save_mask(masks / f"{i:05d}.png", sc.frame(i).mask)
    return clip, masks, masks / "00000.png"


def frame_folder(folder: Path, sc: SyntheticScene) -> Path:
    """Write the scene as numbered PNG frames (lossless input)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(len(sc)):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(sc.frame(i).image, cv2.COLOR_RGB2BGR))
    return folder


def vfr_clip(path: Path, pts: list[int], time_base: Fraction = Fraction(1, 1000),
             size: tuple[int, int] = (64, 48)) -> None:
    """An H.264 MKV whose frames sit at the irregular ``pts`` (in ``time_base``)."""
    w, h = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        for i, p in enumerate(pts):
            img = np.roll(base, i, axis=1)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = p
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_video(path: Path) -> tuple[list[np.ndarray], list[float], Fraction | None, float | None]:
    """All frames (RGB), their times in seconds, the average rate, and the audio duration."""
    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        rate = vs.average_rate
        frames, times = [], []
        for frame in container.decode(vs):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.pts * frame.time_base))
    audio_seconds = None
    with av.open(str(path)) as container:
        if container.streams.audio:
            astream = container.streams.audio[0]
            total = 0
            for frame in container.decode(astream):
                total += frame.samples
            audio_seconds = total / astream.rate
    return frames, times, rate, audio_seconds


# ---------------------------------------------------------------- tiny Moebius components
def make_tiny_vae(seed: int = 0):
    """A 4-level (factor 8) AutoencoderKL with 4 latent channels and random weights."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[32] * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=64,
    ).eval()


def make_tiny_network(seed: int = 0, sample_size: int = 8):
    """The golden tiny widths at an 8x8 latent (64x64 images), with non-trivial BN statistics."""
    from moebius_video.model import MoebiusConfig, MoebiusNetwork

    torch.manual_seed(seed)
    net = MoebiusNetwork(MoebiusConfig.tiny(sample_size=sample_size))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
    return net.eval()


class FakeEvent:
    """An event that stays pending until flipped (or until someone synchronizes on it)."""

    made: list[FakeEvent] = []  # every event made, for tests that inspect them all

    def __init__(self, done: bool = False) -> None:
        self.done = done
        self.recorded = 0
        self.syncs = 0
        FakeEvent.made.append(self)

    def record(self, stream: Any = None) -> None:
        self.recorded += 1

    def wait(self, stream: Any = None) -> None:
        pass

    def query(self) -> bool:
        return self.done

    def synchronize(self) -> None:
        self.syncs += 1
        self.done = True

    def flip(self) -> None:
        self.done = True
