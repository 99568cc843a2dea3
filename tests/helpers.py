"""The tests' one helper module: clip builders, the tiny model, the synthetic tracking clip.

- :data:`SHARED_DATA`: where ``../shared/data`` (real footage) is; the only definition.
- PyAV clip writers and readers (patterns, variable frame rate, audio, broken files).
- Synthetic scenes with masks for the end-to-end tests, the tiny VAE/UNet of the model tests.
- :func:`make_clip`: a textured clip with an exact ground-truth mask for the tracker tests.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np
import torch

from moebius_video.fill.base import Filler, FillResult, FutureFrame
from moebius_video.io.frames import Frame
from moebius_video.io.masks import save_mask
from moebius_video.synthetic import SceneConfig, SyntheticScene, write_scene_clip

#: ../shared/data beside the repository (present for developers and CI, absent on a fresh clone).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ---- end-to-end clips (synthetic scenes with masks) ------------------------------------

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


def make_tiny_sample_pipeline(seed: int = 0):
    """A tiny random 32-px pipeline like the shipped one: sample target, trailing spacing,
    PixelUnshuffle latent (no VAE compute), 4 default steps."""
    from moebius_video.model import MoebiusConfig, MoebiusInpaintingPipeline, MoebiusNetwork
    from moebius_video.model.latent import PixelUnshuffleLatent
    from moebius_video.model.sampling import make_scheduler

    torch.manual_seed(seed)
    config = MoebiusConfig(
        sample_size=8, in_channels=97, out_channels=48, block_out_channels=(32, 64),
        cross_attention_dim=40, encoder_hid_dim=72,
    )
    scheduler = make_scheduler(
        {**make_scheduler().config, "prediction_type": "sample", "timestep_spacing": "trailing"}
    )
    return MoebiusInpaintingPipeline(
        MoebiusNetwork(config).eval(), PixelUnshuffleLatent(4), scheduler,
        defaults={"num_inference_steps": 4, "guidance_scale": 1.0},
    )


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


# ---- I/O clips written with PyAV --------------------------------------------------------

def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A smooth, moving RGB test picture (compresses well, easy to compare).

    Args:
        index: Frame number (moves the pattern).
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        ``height, width, 3`` uint8 RGB.
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 128 + 100 * np.sin((x + 3 * index) / 9.0)
    green = 128 + 100 * np.cos((y - 2 * index) / 7.0)
    blue = np.full_like(x, (40 + 10 * index) % 256)
    image = np.stack([red, green, blue], axis=-1)
    # A bright square in the top-left corner shows the orientation.
    image[: max(2, height // 6), : max(2, width // 6)] = 255
    return image.clip(0, 255).astype(np.uint8)


def write_clip(
    path: Path,
    *,
    codec: str = "libx264",
    width: int = 64,
    height: int = 48,
    num_frames: int = 12,
    rate: Fraction = Fraction(25),
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    pix_fmt: str | None = None,
    rotation: int | None = None,
    audio: str | None = None,
    audio_rate: int = 44100,
    options: dict[str, str] | None = None,
) -> list[np.ndarray]:
    """Encode a small clip and return the RGB pictures that went in.

    Args:
        path: Output file; its suffix picks the container.
        codec: Video encoder.
        width: Width.
        height: Height.
        num_frames: Number of frames (ignored when ``pts`` is given).
        rate: Nominal frame rate.
        pts: Explicit timestamps (in ``time_base``) for a variable frame rate.
        time_base: Stream time base; default ``1/rate``.
        pix_fmt: Pixel format; default yuv420p (yuv444p for odd sizes).
        rotation: Counter-clockwise display rotation stored as side data (PyAV's
            ``set_display_rotation``), or ``None``.
        audio: Audio encoder for a sine tone as long as the video (``"aac"``,
            ``"pcm_s16le"``, ``"libmp3lame"``, ``"libopus"``...), or ``None``.
        audio_rate: Audio sample rate.
        options: Encoder options.

    Returns:
        The pictures, ``height, width, 3`` uint8 RGB, in order.
    """
    time_base = time_base or 1 / Fraction(rate)
    if pts is None:
        step = 1 / Fraction(rate) / time_base
        pts = [round(i * step) for i in range(num_frames)]
    odd = width % 2 or height % 2
    container = av.open(str(path), mode="w")
    try:
        stream = container.add_stream(codec, rate=Fraction(rate))
        stream.width = width
        stream.height = height
        stream.pix_fmt = pix_fmt or ("yuv444p" if odd else "yuv420p")
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if options:
            stream.codec_context.options = options
        if rotation is not None:
            stream.set_display_rotation(rotation)
        audio_stream = None
        if audio is not None:
            audio_stream = container.add_stream(audio, rate=audio_rate)
            audio_stream.layout = "mono"
        pictures = []
        for i, stamp in enumerate(pts):
            picture = pattern(i, width, height)
            pictures.append(picture)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = stamp
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if audio_stream is not None:
            seconds = (pts[-1] + (pts[-1] - pts[-2] if len(pts) > 1 else 1)) * time_base
            _write_sine(container, audio_stream, float(seconds), audio_rate)
    finally:
        container.close()
    return pictures


def _write_sine(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    seconds: float,
    rate: int,
) -> None:
    total = int(round(seconds * rate))
    chunk = 1024
    t = np.arange(total, dtype=np.float64) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440.0 * t) * 32767).astype(np.int16)
    for start in range(0, total, chunk):
        block = samples[start : start + chunk].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def write_audio_only(path: Path, seconds: float = 0.5, codec: str = "aac") -> None:
    """Write a file with a sine tone and no video stream.

    Args:
        path: Output file.
        seconds: Duration.
        codec: Audio encoder.
    """
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=44100)
        stream.layout = "mono"
        _write_sine(container, stream, seconds, 44100)


def decoded_times(path: Path) -> tuple[list[Fraction], Fraction]:
    """Presentation times (seconds, relative to the first frame) of a file's video frames.

    Args:
        path: Video file.

    Returns:
        The sorted relative times and the stream's time base.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stamps = sorted(f.pts for f in container.decode(stream))
        tb = Fraction(stream.time_base)
    return [(s - stamps[0]) * tb for s in stamps], tb


def audio_duration(path: Path) -> float | None:
    """Seconds of audio in a file (from its decoded samples), or ``None`` without audio.

    Args:
        path: Media file.

    Returns:
        The duration in seconds.
    """
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        samples = 0
        rate = stream.codec_context.sample_rate
        for frame in container.decode(stream):
            samples += frame.samples
            rate = frame.sample_rate
    return samples / rate


def write_undecodable(path: Path, template: Path, num_packets: int = 5) -> None:
    """Write a file with a valid video stream whose packets are random bytes.

    Args:
        path: Output file (the container follows its suffix).
        template: A video file whose video stream's parameters are copied.
        num_packets: Number of garbage packets.
    """
    rng = np.random.default_rng(0)
    with av.open(str(template)) as source, av.open(str(path), mode="w") as out:
        video = source.streams.video[0]
        stream = out.add_stream_from_template(video)
        for i in range(num_packets):
            packet = av.Packet(rng.integers(0, 256, 200, dtype=np.uint8).tobytes())
            packet.pts = packet.dts = i * 40
            packet.time_base = Fraction(1, 1000)
            packet.stream = stream
            out.mux(packet)


def has_encoder(name: str) -> bool:
    """Whether PyAV's FFmpeg has the encoder ``name``."""
    try:
        av.Codec(name, "w")
    except Exception:  # any failure means "not available"
        return False
    return True


def write_decode_order_timestamps(path: Path, template: Path) -> None:
    """Remux ``template`` with every packet's pts set to its dts (a known file defect).

    With B-frames, the decoder then labels frames with shuffled timestamps although it
    outputs them in display order (seen in real MP4s and DivX AVIs).

    Args:
        path: Output file.
        template: An MP4 clip with B-frames (x264's default).
    """
    with av.open(str(template)) as source, av.open(str(path), mode="w") as out:
        video = source.streams.video[0]
        stream = out.add_stream_from_template(video)
        first: int | None = None
        for packet in source.demux(video):
            if packet.size == 0:
                continue
            assert packet.dts is not None, "use an MP4 template (it stores dts)"
            first = packet.dts if first is None else first
            packet.pts = packet.dts = packet.dts - first
            packet.stream = stream
            out.mux(packet)


# ---- tracking: a textured clip with an exact ground truth -------------------------------

@dataclass(frozen=True)
class SynthClip:
    """Frames (``N,H,W,3`` uint8 RGB) and true masks (``N,H,W`` bool)."""

    frames: np.ndarray
    masks: np.ndarray


def _texture(rng: np.random.Generator, h: int, w: int, low: int, high: int) -> np.ndarray:
    """Smooth colour noise in ``[low, high]``: something optical flow can lock on to."""
    noise = rng.random((h, w, 3)).astype(np.float32)
    coarse = cv2.resize(rng.random((h // 8 + 1, w // 8 + 1, 3)).astype(np.float32), (w, h))
    tex = 0.5 * cv2.GaussianBlur(noise, (0, 0), 1.2) + 0.5 * coarse
    tex = (tex - tex.min()) / (tex.max() - tex.min() + 1e-6)
    return (low + tex * (high - low)).astype(np.uint8)


def make_clip(
    n: int = 16,
    h: int = 96,
    w: int = 128,
    pan: tuple[float, float] = (2.0, 0.0),
    velocity: tuple[float, float] = (3.0, 1.0),
    start: tuple[float, float] = (40.0, 40.0),
    radii: tuple[int, int] = (18, 13),
    seed: int = 0,
) -> SynthClip:
    """A textured ellipse moving over a textured, panning background.

    Args:
        n: number of frames.
        h: frame height.
        w: frame width.
        pan: background displacement per frame (x, y), the camera pan.
        velocity: object displacement per frame (x, y) in the image.
        start: object centre on the first frame.
        radii: ellipse radii (x, y).
        seed: random seed.

    Returns:
        The clip.
    """
    rng = np.random.default_rng(seed)
    big = _texture(rng, h + 8 + int(abs(pan[1]) * n), w + 8 + int(abs(pan[0]) * n), 30, 200)
    big[..., 2] = big[..., 2] // 2  # background: little blue
    obj_tex = _texture(rng, 2 * radii[1] + 1, 2 * radii[0] + 1, 60, 255)
    obj_tex[..., 0] = obj_tex[..., 0] // 3  # object: little red, strong blue
    frames = np.zeros((n, h, w, 3), np.uint8)
    masks = np.zeros((n, h, w), bool)
    yy, xx = np.mgrid[0:h, 0:w]
    for t in range(n):
        ox, oy = int(round(abs(pan[0]) * t)), int(round(abs(pan[1]) * t))
        frame = big[oy : oy + h, ox : ox + w].copy()
        cx = start[0] + velocity[0] * t
        cy = start[1] + velocity[1] * t
        inside = ((xx - cx) / radii[0]) ** 2 + ((yy - cy) / radii[1]) ** 2 <= 1.0
        ty = np.clip(np.round(yy[inside] - cy).astype(int) + radii[1], 0, 2 * radii[1])
        tx = np.clip(np.round(xx[inside] - cx).astype(int) + radii[0], 0, 2 * radii[0])
        frame[inside] = obj_tex[ty, tx]
        frames[t] = frame
        masks[t] = inside
    return SynthClip(frames, masks)


# ---- live engine: a tiny scene, a recording sink, a slow filler ------------------------


def tiny_scene(frames: int = 30, width: int = 96, height: int = 64) -> SyntheticScene:
    return SyntheticScene(SceneConfig(width=width, height=height, num_frames=frames,
                                      object_fraction=0.1, pan_speed=1.0))


class CollectSink:
    """Keeps what it is given (copies of the indices; images optional)."""

    def __init__(self, delay: float = 0.0, keep_images: bool = False,
                 fail_at: int | None = None) -> None:
        self.delay = delay
        self.keep_images = keep_images
        self.fail_at = fail_at
        self.indices: list[int] = []
        self.pts: list[int | None] = []
        self.images: list[np.ndarray] = []
        self.closed = False
        self.aborted = False

    def write(self, frame: Frame) -> None:
        if self.fail_at is not None and len(self.indices) >= self.fail_at:
            raise OSError("sink exploded")
        if self.delay:
            time.sleep(self.delay)
        self.indices.append(frame.index)
        self.pts.append(frame.pts)
        if self.keep_images:
            self.images.append(frame.image)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class SlowFiller(Filler):
    """Copies the frame after sleeping (a filler slower than the source)."""

    name = "slow"

    def __init__(self, delay: float = 0.02, fail_at: int | None = None) -> None:
        self.delay = delay
        self.fail_at = fail_at
        self.calls = 0

    def fill(self, image: np.ndarray, mask: np.ndarray, *,
             future: Sequence[FutureFrame] = ()) -> FillResult:
        self.calls += 1
        if self.fail_at is not None and self.calls > self.fail_at:
            raise RuntimeError("filler exploded")
        time.sleep(self.delay)
        out = image.copy()
        out[mask] = 0
        return FillResult(out)


def live_threads() -> list[str]:
    # is_alive(): a thread whose join() was cut by Ctrl-C can stay listed after it ended.
    return [t.name for t in threading.enumerate() if t.name.startswith("live:") and t.is_alive()]


def web_scene(width: int = 160, height: int = 96, frames: int = 24) -> SyntheticScene:
    """The web editor tests' scene: a moving object over 10 % of the frame."""
    return SyntheticScene(SceneConfig(width=width, height=height, num_frames=frames,
                                      object_fraction=0.1, pan_speed=1.0))


def mask_png(mask: np.ndarray) -> bytes:
    """An ``H, W`` bool mask as the PNG (0/255) the web editor's page sends."""
    ok, data = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    assert ok
    return data.tobytes()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connect_mpegts_sender(
    port: int, width: int, height: int, fps: int, options: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[Any, Any]:
    """Open an H.264 MPEG-TS sender to ``tcp://127.0.0.1:port``, retrying until it listens.

    PyAV connects when the header is written, so the receiver may not be up yet.

    Returns:
        ``(container, stream)``, with encoding started; the caller closes the container.
    """
    deadline = time.monotonic() + timeout
    while True:
        container = av.open(f"tcp://127.0.0.1:{port}", "w", format="mpegts", timeout=5)
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency",
                                        **(options or {})}
        try:
            container.start_encoding()
            return container, stream
        except (av.error.FFmpegError, OSError):
            container.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def send_mpegts(
    port: int,
    images: list[np.ndarray],
    fps: int,
    errors: list[BaseException],
    *,
    options: dict[str, str] | None = None,
    hold: threading.Event | None = None,
) -> None:
    """Stream ``images`` as H.264 MPEG-TS to ``tcp://127.0.0.1:port`` at ``fps`` (a thread
    body): connect (retrying until the receiver listens), send, flush the encoder and close
    without an end marker. ``hold``: stall before the flush, the connection open and no data
    coming, until it is set (10 s at most). Any error is appended to ``errors``."""
    try:
        h, w = images[0].shape[:2]
        container, stream = connect_mpegts_sender(port, w, h, fps, options)
        with container:
            for i, image in enumerate(images):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = i
                for packet in stream.encode(frame):
                    container.mux(packet)
                time.sleep(1 / fps)
            if hold is not None:
                hold.wait(10)
            for packet in stream.encode():
                container.mux(packet)
    except BaseException as error:  # reported by the test
        errors.append(error)


class InterruptingFiller(Filler):
    """A grey fill that raises KeyboardInterrupt (a Ctrl-C) on its 4th frame."""

    name = "interrupting"

    def __init__(self) -> None:
        self.calls = 0

    def fill(self, image, mask, *, future=()):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == 4:
            raise KeyboardInterrupt
        out = image.copy()
        out[mask] = 128
        return FillResult(out)


def record_flow_calls(monkeypatch: Any, filler: Any) -> list[bool]:
    """Record each background-flow computation of ``filler`` while the test runs.

    ``FlowEstimator.__call__`` is wrapped (and still computes the flow); each call appends
    ``True`` when it ran in the fill (any estimator but the filler's prepare-stage one) and
    ``False`` when the prepare stage computed it.
    """
    from moebius_video.fill.flow import FlowEstimator

    estimate = FlowEstimator.__call__
    calls: list[bool] = []

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(self is not filler._prep_estimator)
        return estimate(self, *args, **kwargs)

    monkeypatch.setattr(FlowEstimator, "__call__", spy)
    return calls

