"""Tiny synthetic clips written with PyAV, for the I/O tests."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


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


def shared_data() -> Path:
    """The project's sibling data folder (``../shared/data`` from the repository root)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


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
