"""Issue #15 items 5, 7 and 13: what the output keeps of the input besides the pictures.

Every audio and subtitle stream (order, languages, dispositions), the bit depth, and
timestamps that AVI can hold.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import pattern, write_clip

from moebius_video.cli import main


def _multi_stream_clip(path: Path, seconds: int = 1) -> None:
    """MKV: H.264 video, audio 'eng' (default), audio 'fra', subtitles 'eng' (forced)."""
    rate = 25
    srt = path.with_suffix(".srt")  # FFmpeg's SubRip demuxer gives a stream to copy from
    srt.write_text("1\n00:00:00,100 --> 00:00:00,400\nHello\n\n"
                   "2\n00:00:00,500 --> 00:00:00,800\nWorld\n\n")
    with av.open(str(srt)) as subs_in, av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audios = []
        for language, default in (("eng", True), ("fra", False)):
            audio = out.add_stream("aac", rate=48000)
            audio.layout = "mono"
            audio.metadata["language"] = language
            audio.disposition = av.stream.Disposition.default if default else av.stream.Disposition(0)
            audios.append(audio)
        subs = out.add_stream_from_template(subs_in.streams.subtitles[0])
        subs.metadata["language"] = "eng"
        subs.disposition = av.stream.Disposition.forced
        for i in range(seconds * rate):
            frame = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        for k, audio in enumerate(audios):
            samples = np.sin(np.arange(48000 * seconds) * (0.05 + 0.02 * k)).astype(np.float32)
            for start in range(0, len(samples), 1024):
                chunk = samples[start : start + 1024][None, :]
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate = 48000
                frame.pts = start
                frame.time_base = Fraction(1, 48000)
                for packet in audio.encode(frame):
                    out.mux(packet)
            for packet in audio.encode(None):
                out.mux(packet)
        for packet in subs_in.demux(subs_in.streams.subtitles[0]):
            if packet.size:
                packet.stream = subs
                out.mux(packet)
    srt.unlink()


def _streams(path: Path) -> list[tuple[str, str, str | None, int]]:
    with av.open(str(path)) as container:
        return [(s.type, s.codec_context.name, (s.metadata or {}).get("language"), int(s.disposition))
                for s in container.streams]


def _subtitle_texts(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        if not container.streams.subtitles:
            return []
        return [bytes(p) for p in container.demux(subtitles=0) if p.size]


def test_every_audio_and_subtitle_stream_is_kept(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.mkv"
    _multi_stream_clip(src)
    out = tmp_path / "out.mkv"
    code = main(["remove", str(src), "--box", "10,10,12,12", "--fill", "telea", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    got = _streams(out)
    want = _streams(src)
    assert [g[:3] for g in got] == [w[:3] for w in want]  # order, codecs, languages
    assert [g[3] & 0x3 for g in got[1:]] == [w[3] & 0x3 for w in want[1:]]  # default
    assert got[3][3] & int(av.stream.Disposition.forced)  # forced subtitles stay forced
    assert _subtitle_texts(out) == [b"Hello", b"World"]


def test_no_audio_drops_audio_and_keeps_subtitles(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.mkv"
    _multi_stream_clip(src)
    out = tmp_path / "out.mkv"
    code = main(["remove", str(src), "--box", "10,10,12,12", "--fill", "telea", "--no-audio",
                 "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert [s[0] for s in _streams(out)] == ["video", "subtitle"]


def test_streams_a_container_cannot_hold_are_named_in_a_warning(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.mkv"
    _multi_stream_clip(src)
    out = tmp_path / "out.mp4"  # MP4 cannot hold SubRip
    code = main(["remove", str(src), "--box", "10,10,12,12", "--fill", "telea", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert [s[:3] for s in _streams(out)][1:] == [("audio", "aac", "eng"), ("audio", "aac", "fra")]
    warning = [line for line in err.splitlines() if "subtitle stream #3" in line]
    assert warning and ("srt" in warning[0] or "subrip" in warning[0]), err
    assert "warning" in warning[0] and "eng" in warning[0]


# --------------------------------------------------------------------------------------
# 7. 10-bit input
# --------------------------------------------------------------------------------------


def test_ten_bit_input_keeps_ten_bit_output(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in10.mkv"
    write_clip(src, width=64, height=48, num_frames=8, pix_fmt="yuv420p10le")
    out = tmp_path / "out.mkv"
    code = main(["remove", str(src), "--box", "10,10,12,12", "--fill", "telea", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
    assert "8 bits per channel" in err  # honest: the processing itself is 8-bit


def test_ten_bit_input_with_an_eight_bit_codec_warns(tmp_path: Path, capsys, caplog) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in10.mkv"
    write_clip(src, width=64, height=48, num_frames=8, pix_fmt="yuv420p10le")
    code = main(["remove", str(src), "--box", "10,10,12,12", "--fill", "telea", "--codec", "mpeg4",
                 "-o", str(tmp_path / "out.avi")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "reduced to 8 bits" in err


# --------------------------------------------------------------------------------------
# 13. AVI
# --------------------------------------------------------------------------------------


def test_avi_output_keeps_frame_order_and_audio_sync(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.mp4"
    pictures = write_clip(src, width=64, height=48, num_frames=25, audio="aac")
    out = tmp_path / "out.avi"
    code = main(["remove", str(src), "--box", "50,36,8,8", "--fill", "telea", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    times = [f.time for f in frames]
    assert times == sorted(times) and len(times) == 25
    assert times[0] == pytest.approx(0.0, abs=1e-6)  # not one frame after the audio
    with av.open(str(out)) as container:
        first_audio = next(container.decode(audio=0)).time
    assert first_audio == pytest.approx(0.0, abs=1e-3)
    # Each decoded frame is the frame shown at its time (top-left corner, outside the box).
    for frame, picture in zip(frames, pictures, strict=True):
        image = frame.to_ndarray(format="rgb24")
        assert np.abs(image[:24, :24].astype(int) - picture[:24, :24]).mean() < 12



