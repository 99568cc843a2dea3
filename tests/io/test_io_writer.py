"""Writing: open_sink round trips (timing, size, audio), atomic output, bad outputs."""

from __future__ import annotations

import gc
import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from helpers import audio_duration, decoded_times, pattern, write_clip

from moebius_video.errors import InvalidArgumentError, OutputError
from moebius_video.io import Frame, FrameSink, VideoInfo, open_sink, open_source, probe


def _copy(source_path: Path, out: Path, **kwargs: object) -> tuple[int, FrameSink]:
    """Decode ``source_path`` and write every frame to ``out``; returns (frames, sink)."""
    with open_source(source_path) as source:
        with open_sink(out, like=source.info, **kwargs) as sink:  # type: ignore[arg-type]
            count = 0
            for frame in source:
                sink.write(frame)
                count += 1
    return count, sink


def _video_span(path: Path) -> float:
    """Seconds from the first frame to the end of the last one."""
    info = probe(path)
    times, _ = decoded_times(path)
    assert info.frame_rate is not None
    return float(times[-1] + 1 / info.frame_rate)


def _assert_same_times(a: Path, b: Path) -> None:
    times_a, _ = decoded_times(a)
    times_b, tb_b = decoded_times(b)
    assert len(times_a) == len(times_b)
    for ta, tb in zip(times_a, times_b, strict=True):
        assert abs(ta - tb) <= tb_b, (ta, tb)


def test_round_trip_keeps_count_size_timing_and_ntsc_rate(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(
        source,
        width=96,
        height=64,
        num_frames=15,
        rate=Fraction(30000, 1001),
        time_base=Fraction(1, 30000),
    )
    out = tmp_path / "out.mp4"
    count, sink = _copy(source, out, input_path=source)
    assert sink.frames_written == count == 15
    info = probe(out)
    assert (info.width, info.height) == (96, 64)
    assert info.num_frames == 15
    assert info.frame_rate == Fraction(30000, 1001)
    _assert_same_times(source, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


@pytest.mark.parametrize("suffix", ["mkv", "mov", "avi", "ts", "webm"])
def test_other_containers_keep_the_ntsc_rate(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, num_frames=8, rate=Fraction(30000, 1001), time_base=Fraction(1, 30000))
    out = tmp_path / f"out.{suffix}"
    assert _copy(source, out)[1].frames_written == 8
    info = probe(out)
    assert info.frame_rate == Fraction(30000, 1001)
    times, out_tb = decoded_times(out)
    assert len(times) == 8
    for i, t in enumerate(times):
        assert abs(t - i * Fraction(1001, 30000)) <= out_tb


def test_container_that_cannot_hold_the_codec(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in.mp4", 64, 48, 2, Fraction(25), Fraction(1, 25))
    with pytest.raises(InvalidArgumentError, match="libx264"):
        open_sink(tmp_path / "out.gif", like=like, codec="libx264")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", ["mp4", "mkv", "webm"])
def test_variable_frame_rate_is_preserved(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / "vfr.mkv"
    write_clip(source, pts=[0, 40, 60, 200, 210, 400, 1000], time_base=Fraction(1, 1000))
    out = tmp_path / f"out.{suffix}"
    _copy(source, out)
    times, _ = decoded_times(out)
    assert times == [Fraction(ms, 1000) for ms in (0, 40, 60, 200, 210, 400, 1000)]


def test_first_timestamp_becomes_zero(tmp_path: Path) -> None:
    source = tmp_path / "late.mkv"
    write_clip(source, pts=[500, 540, 580, 620], time_base=Fraction(1, 1000))
    out = tmp_path / "out.mp4"
    _copy(source, out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        first = min(f.pts for f in container.decode(stream))
        assert first * stream.time_base == 0
    times, _ = decoded_times(out)
    assert times == [0, Fraction(1, 25), Fraction(2, 25), Fraction(3, 25)]


def test_odd_size_is_kept_with_yuv444p(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "odd.mkv"
    pictures = write_clip(source, width=161, height=97, num_frames=6, options={"crf": "0"})
    out = tmp_path / "odd_out.mp4"
    with caplog.at_level(logging.WARNING, logger="moebius_video.io.writer"):
        _copy(source, out, crf=0)
    assert "yuv444p" in caplog.text
    info = probe(out)
    assert (info.width, info.height) == (161, 97)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p"
    with open_source(out) as decoded:
        images = [f.image for f in decoded]
    assert len(images) == 6
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(images, pictures, strict=True)]
    assert max(diffs) < 1.5


def test_explicit_pix_fmt_that_cannot_hold_an_odd_size(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "x.mp4", 161, 97, None, Fraction(25), Fraction(1, 25))
    with pytest.raises(InvalidArgumentError, match="yuv420p"):
        open_sink(tmp_path / "out.mp4", like=like, pix_fmt="yuv420p")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("audio_codec", "source_suffix", "out_suffix", "copied"),
    [
        ("aac", "mp4", "mp4", True),
        ("aac", "mp4", "mkv", True),
        ("pcm_s16le", "mkv", "mov", True),
        ("libmp3lame", "avi", "mp4", True),
        ("aac", "mp4", "webm", False),  # webm holds no AAC: re-encoded to Opus
        ("pcm_s16le", "avi", "webm", False),
    ],
)
def test_audio_is_carried_over(
    tmp_path: Path, audio_codec: str, source_suffix: str, out_suffix: str, copied: bool
) -> None:
    source = tmp_path / f"in.{source_suffix}"
    write_clip(source, num_frames=15, audio=audio_codec, rate=Fraction(25))
    in_codec = probe_audio_codec(source)
    out = tmp_path / f"out.{out_suffix}"
    _copy(source, out, audio_from=source)
    seconds = audio_duration(out)
    assert seconds is not None
    assert seconds == pytest.approx(_video_span(out), abs=0.1)
    if copied:
        assert probe_audio_codec(out) == in_codec
    else:
        assert probe_audio_codec(out) != in_codec


def probe_audio_codec(path: Path) -> str:
    with av.open(str(path)) as container:
        return container.streams.audio[0].codec_context.name


def test_audio_can_be_left_out(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, num_frames=5, audio="aac")
    out = tmp_path / "out.mp4"
    _copy(source, out, audio_from=source, audio=False)
    assert audio_duration(out) is None


def test_audio_follows_a_range(tmp_path: Path) -> None:
    source = tmp_path / "in.mkv"
    write_clip(source, num_frames=30, audio="aac", rate=Fraction(25))
    out = tmp_path / "out.mp4"
    with open_source(source, start=10, end=20) as frames:
        with open_sink(out, like=frames.info, audio_from=source) as sink:
            for frame in frames:
                sink.write(frame)
    times, _ = decoded_times(out)
    assert len(times) == 10 and times[0] == 0
    seconds = audio_duration(out)
    assert seconds == pytest.approx(10 / 25, abs=0.1)


def test_folder_frames_get_the_given_rate(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"f{i}.png"), pattern(i, 32, 24))
    out = tmp_path / "out.mkv"
    with open_source(folder, frame_rate=Fraction(10)) as frames:
        with open_sink(out, like=frames.info) as sink:
            for frame in frames:
                sink.write(frame)
    times, _ = decoded_times(out)
    assert times == [Fraction(i, 10) for i in range(5)]
    assert probe(out).frame_rate == 10


def test_png_folder_sink_is_lossless_and_keeps_names(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in", 33, 21, 3, None, None, is_folder=True)
    images = [np.random.default_rng(i).integers(0, 256, (21, 33, 3), np.uint8) for i in range(3)]
    names = ["frame_a", "frame_b", ""]
    out = tmp_path / "out"
    with open_sink(str(out) + os.sep, like=like) as sink:
        for i, (image, name) in enumerate(zip(images, names, strict=True)):
            sink.write(Frame(index=i, image=image, name=name))
    assert sorted(p.name for p in out.iterdir()) == ["00002.png", "frame_a.png", "frame_b.png"]
    for image, file in zip(images, ["frame_a", "frame_b", "00002"], strict=True):
        back = cv2.imread(str(out / f"{file}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(cv2.cvtColor(back, cv2.COLOR_BGR2RGB), image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary left


def test_png_folder_sink_fills_an_existing_empty_folder(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in", 8, 8, 1, None, None)
    out = tmp_path / "frames.d"  # a suffix, but an existing folder
    out.mkdir()
    with open_sink(out, like=like) as sink:
        sink.write(Frame(index=7, image=np.zeros((8, 8, 3), np.uint8)))
    assert [p.name for p in out.iterdir()] == ["00007.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.d"]


def test_png_folder_sink_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in", 8, 8, 1, None, None)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"x")
    with pytest.raises(OutputError, match="overwrite"):
        open_sink(out, like=like)
    with open_sink(out, like=like, overwrite=True) as sink:
        sink.write(Frame(index=0, image=np.zeros((8, 8, 3), np.uint8)))
    assert sorted(p.name for p in out.iterdir()) == ["00000.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_error_in_the_encoder_thread_reaches_the_caller(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in", 8, 8, 2, None, None)
    out = tmp_path / "out"
    frame = Frame(index=0, image=np.zeros((8, 8, 3), np.uint8), name="same")
    with pytest.raises(OutputError, match="same"):
        with open_sink(out, like=like) as sink:
            sink.write(frame)
            sink.write(frame)  # the same name twice: the thread fails
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.mp4", "out_frames"])
def test_closing_without_frames_creates_nothing(tmp_path: Path, name: str) -> None:
    like = VideoInfo(tmp_path / "in.mp4", 64, 48, 2, Fraction(25), Fraction(1, 25))
    with pytest.raises(OutputError, match="no frame"):
        with open_sink(tmp_path / name, like=like):
            pass
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_shape_is_refused(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in.mp4", 64, 48, 2, Fraction(25), Fraction(1, 25))
    with pytest.raises(InvalidArgumentError, match="shape"):
        with open_sink(tmp_path / "out.mp4", like=like) as sink:
            sink.write(Frame(index=0, image=np.zeros((48, 63, 3), np.uint8), pts=0))
    assert list(tmp_path.iterdir()) == []


def test_keyboard_interrupt_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, num_frames=10, audio="aac")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "result.mp4"
    with pytest.raises(KeyboardInterrupt):
        with open_source(source) as frames:
            with open_sink(out, like=frames.info, audio_from=source) as sink:
                for frame in frames:
                    sink.write(frame)
                    if frame.index == 5:
                        raise KeyboardInterrupt
    assert list(out_dir.iterdir()) == []


def test_interrupt_while_the_sink_is_being_set_up_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM/SIGHUP, which the CLI turns into the same) after the encoder wrote
    the file's header but before a sink existed to abort it: CI once caught `remove` killed
    by SIGHUP leaving a hidden ``.out.partial-*.mp4`` there."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(FrameSink, "__init__", interrupted)
    like = VideoInfo(tmp_path / "in.mp4", 64, 48, 2, Fraction(25), Fraction(1, 25))
    with pytest.raises(KeyboardInterrupt):
        open_sink(tmp_path / "out.mp4", like=like, preset="ultrafast")
    assert list(tmp_path.iterdir()) == []


def test_abort_deletes_the_temporary(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in.mp4", 64, 48, 2, Fraction(25), Fraction(1, 25))
    sink = open_sink(tmp_path / "out.mp4", like=like, preset="ultrafast")
    for i in range(40):
        sink.write(Frame(index=i, image=pattern(i, 64, 48), pts=i))
    sink.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="aborted"):
        sink.write(Frame(index=1, image=np.zeros((48, 64, 3), np.uint8), pts=1))
    sink.close()  # no effect after abort
    assert list(tmp_path.iterdir()) == []

    folder_sink = open_sink(tmp_path / "frames", like=like)
    assert [p.name[:15] for p in tmp_path.iterdir()] == [".frames.partial"]
    folder_sink.write(Frame(index=0, image=np.zeros((48, 64, 3), np.uint8)))
    folder_sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_abandoned_sink_leaves_nothing(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in.mp4", 64, 48, 2, Fraction(25), Fraction(1, 25))
    sink = open_sink(tmp_path / "out.mp4", like=like)
    sink.write(Frame(index=0, image=pattern(0, 64, 48), pts=0))
    del sink  # neither closed nor aborted
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_output_is_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, num_frames=3)
    info = probe(source)
    monkeypatch.chdir(tmp_path)
    for out in (source, Path("in.mp4"), tmp_path / "sub" / ".." / "in.mp4"):
        with pytest.raises(OutputError, match="is the input"):
            open_sink(out, like=info, input_path=source, overwrite=True)
        with pytest.raises(OutputError, match="is the input"):
            open_sink(out, like=info, audio_from=source, overwrite=True)
    link = tmp_path / "link.mp4"
    link.symlink_to(source)
    with pytest.raises(OutputError, match="is the input"):
        open_sink(link, like=info, input_path=source, overwrite=True)


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, num_frames=3)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    info = probe(source)
    with pytest.raises(OutputError, match="--overwrite") as caught:
        open_sink(out, like=info)
    assert str(out) in str(caught.value)
    _copy(source, out, overwrite=True)
    assert probe(out).num_frames == 3


def test_missing_output_directory(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in.mp4", 64, 48, 2, Fraction(25), Fraction(1, 25))
    missing = tmp_path / "no" / "such"
    with pytest.raises(OutputError, match="does not exist") as caught:
        open_sink(missing / "out.mp4", like=like)
    assert str(missing) in str(caught.value)
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write into read-only dirs"
)
def test_unwritable_output_directory(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in.mp4", 64, 48, 2, Fraction(25), Fraction(1, 25))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            open_sink(locked / "out.mp4", like=like)
    finally:
        locked.chmod(0o700)


def test_unknown_codec(tmp_path: Path) -> None:
    like = VideoInfo(tmp_path / "in.mp4", 64, 48, 2, Fraction(25), Fraction(1, 25))
    with pytest.raises(InvalidArgumentError, match="codec"):
        open_sink(tmp_path / "out.mp4", like=like, codec="no-such-codec")
    assert list(tmp_path.iterdir()) == []
