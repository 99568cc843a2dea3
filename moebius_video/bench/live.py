"""``bench live``: glass-to-glass latency and frames/s of the live engine.

For each size, a generated scene is encoded to H.264 in memory once; :class:`FakeCapture`
then delivers it by decoding one packet per frame (so capture includes a real decode), and
two pipelines are measured in the same run:

- ``decode+encode``: the engine with nothing to remove (track and fill pass frames
  through), encoding H.264 (ultrafast, zerolatency) to an MPEG-TS file: the floor;
- ``remove``: the same with the scene's object tracked and filled (default tracker/filler).

Each is run twice: unpaced in ``all`` mode (every frame, as fast as possible: frames/s),
and paced at ``--fps`` in ``live`` mode (latency p50/p95/max and frames dropped).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from moebius_video.engine.live import LiveConfig, LiveStats, run_live
from moebius_video.fill import DEFAULT_LIVE_FILLER
from moebius_video.io.capture import FakeCapture
from moebius_video.io.stream_out import AVStreamSink
from moebius_video.synthetic import SceneConfig, SyntheticScene


@dataclass
class LiveBenchRow:
    """One measured pipeline at one size."""

    size: str
    pipeline: str
    frames_per_second: float
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_max: float
    frames_in: int
    dropped: int
    stage_ms: dict[str, float]


class EncodedClip:
    """Frames of a scene, H.264-encoded in memory; calling it decodes frame ``index``.

    Access must be sequential (``0, 1, 2...``, wrapping around); a new decoder starts at
    every wrap.
    """

    def __init__(self, scene: SyntheticScene, frames: int) -> None:
        cfg = scene.config
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = cfg.width, cfg.height, "yuv420p"
        encoder.time_base, encoder.framerate = Fraction(1, 30), Fraction(30)
        encoder.gop_size = frames
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "20"}
        self.packets: list[bytes] = []
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(scene.frame(i % len(scene)).image, format="rgb24")
            frame.pts = i
            self.packets += [bytes(p) for p in encoder.encode(frame)]
        self.packets += [bytes(p) for p in encoder.encode(None)]
        self._decoder: av.CodecContext | None = None

    def __call__(self, index: int) -> np.ndarray:
        i = index % len(self.packets)
        if i == 0 or self._decoder is None:
            self._decoder = av.CodecContext.create("h264", "r")
            self._decoder.thread_type = "SLICE"  # no frame delay
        frames = self._decoder.decode(av.Packet(self.packets[i]))
        if len(frames) != 1:
            raise RuntimeError(f"packet {i} decoded to {len(frames)} frames, expected 1")
        return np.ascontiguousarray(frames[0].to_ndarray(format="rgb24"))


def _one_run(scene: SyntheticScene, clip: EncodedClip, frames: int, fps: float | None,
             remove: bool, fill: str, tracker: str | None, folder: Path, tag: str) -> LiveStats:
    cfg = scene.config
    source = FakeCapture(clip, num_frames=frames,
                         frame_rate=Fraction(fps).limit_denominator(1001) if fps else None)
    sink = AVStreamSink(folder / f"{tag}.ts", cfg.width, cfg.height, overwrite=True,
                        frame_rate=Fraction(fps or 30).limit_denominator(1001))
    config = LiveConfig(mode="live" if fps else "all", fill=fill, tracker=tracker)
    mask = scene.frame(0).mask if remove else None
    return run_live(source, [sink], config, mask=mask)


def measure(width: int, height: int, *, frames: int = 120, fps: float = 30.0,
            fill: str = DEFAULT_LIVE_FILLER, tracker: str | None = None) -> list[LiveBenchRow]:
    """Measure both pipelines at one size.

    Returns:
        Two rows: ``decode+encode`` then ``remove``.
    """
    scene = SyntheticScene(SceneConfig(width=width, height=height, num_frames=max(frames, 2)))
    clip = EncodedClip(scene, frames)
    rows = []
    with tempfile.TemporaryDirectory(prefix="moebius-live-bench-") as tmp:
        for name, remove in (("decode+encode", False), ("remove", True)):
            runs = [_one_run(scene, clip, frames, rate, remove, fill, tracker, Path(tmp),
                             f"{name}-{i}") for i, rate in enumerate((None, fps))]
            fast, paced = runs
            rows.append(LiveBenchRow(
                size=f"{width}x{height}", pipeline=name,
                frames_per_second=round(fast.fps_out, 1),
                latency_ms_p50=round(paced.latency_ms_p50, 1),
                latency_ms_p95=round(paced.latency_ms_p95, 1),
                latency_ms_max=round(paced.latency_ms_max, 1),
                frames_in=paced.frames_in, dropped=paced.dropped,
                stage_ms={k: round(v, 1) for k, v in paced.stage_ms.items() if k != "capture"},
            ))
    return rows


def format_rows(rows: list[LiveBenchRow], fps: float) -> str:
    """A text table."""
    head = (f"{'size':>9}  {'pipeline':<15} {'frames/s':>8}  {'latency @' + format(fps, 'g') + ' fps p50/p95/max ms':>34}"
            f"  {'dropped':>9}  per-stage ms (track/fill/encode)")
    lines = [head]
    base: dict[str, float] = {}
    for row in rows:
        if row.pipeline == "decode+encode":
            base[row.size] = row.frames_per_second
        ratio = ""
        if row.pipeline != "decode+encode" and base.get(row.size):
            ratio = f" ({row.frames_per_second / base[row.size]:.2f}x)"
        lat = f"{row.latency_ms_p50:.0f} / {row.latency_ms_p95:.0f} / {row.latency_ms_max:.0f}"
        st = row.stage_ms
        lines.append(
            f"{row.size:>9}  {row.pipeline:<15} {row.frames_per_second:>8.1f}{ratio:<8}"
            f"{lat:>28}  {row.dropped:>4}/{row.frames_in:<4}  "
            f"{st.get('track', 0):.1f} / {st.get('fill', 0):.1f} / {st.get('encode', 0):.1f}"
        )
    return "\n".join(lines)


__all__ = ["EncodedClip", "LiveBenchRow", "format_rows", "measure"]
