"""End to end: generated clips through ``remove_object`` with real encoding and decoding."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import clip_with_masks, frame_folder, read_video, scene, vfr_clip

from moebius_video.engine.pipeline import FrameStep
from moebius_video.engine.remove import (
    EncodeConfig,
    MaskInput,
    RemoveConfig,
    remove_object,
)
from moebius_video.errors import InvalidArgumentError, InvalidMaskError
from moebius_video.fill import Filler, FillResult
from moebius_video.io.frames import Frame
from moebius_video.io.masks import load_mask
from tracking.geometry import dilate_mask


def _hole_error(images: list[np.ndarray], sc, masks: list[np.ndarray]) -> float:  # type: ignore[no-untyped-def]
    errs = [np.abs(img[m].astype(float) - sc.frame(i).background[m]).mean()
            for i, (img, m) in enumerate(zip(images, masks))]
    return float(np.mean(errs))


def test_png_frames_in_and_out_untouched_outside_the_dilated_mask(tmp_path: Path) -> None:
    sc = scene(frames=12)
    frames_dir = frame_folder(tmp_path / "frames", sc)
    _, masks_dir, _ = clip_with_masks(tmp_path, sc, audio=False)
    out = tmp_path / "out"
    result = remove_object(frames_dir, str(out) + "/", MaskInput(masks_dir=masks_dir),
                           save_masks=tmp_path / "used", progress=False)
    assert result.frames == 12 and result.output is not None
    written = sorted(out.glob("*.png"))
    assert [p.stem for p in written] == [f"{i:05d}" for i in range(12)]
    outputs = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in written]
    dilated = [dilate_mask(sc.frame(i).mask, 4) for i in range(12)]
    for i, (img, m) in enumerate(zip(outputs, dilated)):
        # Bit-identical outside the dilated mask (PNG is lossless end to end).
        np.testing.assert_array_equal(img[~m], sc.frame(i).image[~m])
        # The masks actually used are saved, named like the frames.
        np.testing.assert_array_equal(load_mask(tmp_path / "used" / f"{i:05d}.png"), m)
    # The object is gone: the hole is far closer to the true background than before.
    objects = [sc.frame(i).mask for i in range(12)]
    before = _hole_error([sc.frame(i).image for i in range(12)], sc, objects)
    after = _hole_error(outputs, sc, objects)
    assert after < 0.5 * before, (before, after)
    assert result.propagated_pixels + result.spatial_pixels == result.hole_pixels
    assert result.hole_pixels == sum(int(m.sum()) for m in dilated)
    assert result.propagated_pixels > 0  # the default fill borrows from other frames


def test_video_keeps_count_timestamps_rate_and_audio(tmp_path: Path) -> None:
    sc = scene(frames=20)
    clip, _, first = clip_with_masks(tmp_path, sc)
    out = tmp_path / "out.mp4"
    result = remove_object(clip, out, MaskInput(mask=first), progress=False)
    assert result.frames == 20
    src_frames, src_times, src_rate, src_audio = read_video(clip)
    out_frames, out_times, out_rate, out_audio = read_video(out)
    assert len(out_frames) == len(src_frames) == 20
    assert out_rate == Fraction(30000, 1001) == src_rate
    np.testing.assert_allclose(np.array(out_times) - out_times[0],
                               np.array(src_times) - src_times[0], atol=1e-3)
    assert out_frames[0].shape == (64, 96, 3)
    assert out_audio is not None and src_audio is not None
    video_seconds = 20 / float(Fraction(30000, 1001))
    assert abs(out_audio - video_seconds) < 0.1
    # The object, tracked from the first mask alone, is mostly gone (lossy codec; the exact
    # per-frame-mask case is checked bit for bit in the PNG test above).
    objects = [sc.frame(i).mask for i in range(20)]
    assert _hole_error(out_frames, sc, objects) < 0.8 * _hole_error(src_frames, sc, objects)


def test_variable_frame_rate_survives(tmp_path: Path) -> None:
    pts = [0, 33, 66, 150, 170, 300, 333, 500, 510, 600]
    clip = tmp_path / "vfr.mkv"
    vfr_clip(clip, pts)
    out = tmp_path / "out.mkv"
    remove_object(clip, out, MaskInput(box=(10, 10, 12, 12)), progress=False)
    _, times, _, _ = read_video(out)
    np.testing.assert_allclose(np.array(times) - times[0], np.array(pts) / 1000.0, atol=1.5e-3)


def test_odd_size_is_kept(tmp_path: Path) -> None:
    sc = scene(width=97, height=61, frames=8)
    clip, _, first = clip_with_masks(tmp_path, sc, audio=False)
    out = tmp_path / "out.mp4"
    remove_object(clip, out, MaskInput(mask=first), progress=False)
    frames, _, _, _ = read_video(out)
    assert len(frames) == 8 and frames[0].shape == (61, 97, 3)


def test_box_mask_video_and_range(tmp_path: Path) -> None:
    sc = scene(frames=16)
    clip, masks_dir, _ = clip_with_masks(tmp_path, sc, audio=False)
    # A lossy mask video (the masks encoded as H.264) with a frame range.
    import av

    mask_video = tmp_path / "masks.mp4"
    with av.open(str(mask_video), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(30000, 1001))
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        for i in range(16):
            m = np.repeat((sc.frame(i).mask * 255).astype(np.uint8)[..., None], 3, axis=2)
            for p in s.encode(av.VideoFrame.from_ndarray(m, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    used = tmp_path / "used"
    result = remove_object(clip, tmp_path / "out.mkv", MaskInput(mask_video=mask_video),
                           config=RemoveConfig(start=4, end=12, dilate=0), save_masks=used,
                           progress=False)
    assert result.frames == 8
    saved = sorted(used.glob("*.png"))
    assert len(saved) == 8
    # Mask video frames line up with the input frames, even with --start.
    for p in saved:
        index = int(p.stem)
        truth = sc.frame(index).mask
        got = load_mask(p)
        assert (got ^ truth).sum() <= 0.05 * truth.sum()
    result = remove_object(clip, tmp_path / "box.mp4", MaskInput(box=(20, 10, 30, 20)),
                           config=RemoveConfig(end=5), progress=False)
    assert result.frames == 5 and result.hole_pixels > 5 * 30 * 20


def test_empty_mask_copies_through_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sc = scene(frames=6)
    clip, _, _ = clip_with_masks(tmp_path, sc, audio=False)
    empty = np.zeros((64, 96), bool)
    with caplog.at_level("WARNING"):
        result = remove_object(clip, tmp_path / "out.mp4", MaskInput(mask=empty), progress=False)
    assert "empty" in caplog.text
    assert result.frames == 6 and result.hole_pixels == 0 and result.empty_mask_frames == 6
    assert any("copied through" in w for w in result.warnings)


def test_bad_masks_leave_nothing_behind(tmp_path: Path) -> None:
    sc = scene(frames=6)
    clip, _, _ = clip_with_masks(tmp_path, sc, audio=False)
    out = tmp_path / "out.mp4"
    with pytest.raises(InvalidMaskError, match="whole frame"):
        remove_object(clip, out, MaskInput(mask=np.ones((64, 96), bool)), progress=False)
    with pytest.raises(InvalidMaskError, match="48x32 but the video is 96x64"):
        remove_object(clip, out, MaskInput(mask=np.ones((32, 48), bool)), progress=False)
    with pytest.raises(InvalidArgumentError):
        MaskInput()
    with pytest.raises(InvalidArgumentError):
        RemoveConfig(start=5, end=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "masks"]


class _Interrupting(Filler):
    name = "interrupting"

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def fill(self, image, mask, *, future=()):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return FillResult(image.copy())


def test_ctrl_c_leaves_no_file(tmp_path: Path) -> None:
    sc = scene(frames=12)
    clip, _, first = clip_with_masks(tmp_path, sc, audio=False)
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        remove_object(clip, out, MaskInput(mask=first), filler=_Interrupting(6),
                      save_masks=tmp_path / "used", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "masks"]


class _Lookahead(Filler):
    name = "lookahead"

    def __init__(self, lookahead: int) -> None:
        self.lookahead = lookahead
        self.future_lengths: list[int] = []

    def fill(self, image, mask, *, future=()):  # type: ignore[no-untyped-def]
        self.future_lengths.append(len(future))
        return FillResult(image.copy())


def test_window_is_bounded_by_the_lookahead() -> None:
    consumed = 0

    def pairs() -> Iterator[tuple[Frame, np.ndarray, float]]:
        nonlocal consumed
        for i in range(50):
            consumed += 1
            yield Frame(i, np.zeros((8, 8, 3), np.uint8)), np.zeros((8, 8), bool), 0.0

    filler = _Lookahead(3)
    emitted = 0
    items = ((f, f.image, m) for f, m, _ in pairs())
    for frame, _, _ in FrameStep(filler, dilate=0).run(items):
        assert frame.index == emitted
        emitted += 1
        # Never more than lookahead + 1 frames held between input and output.
        assert consumed - emitted <= 3
    assert emitted == 50
    assert filler.future_lengths[:47] == [3] * 47 and filler.future_lengths[47:] == [2, 1, 0]


def test_real_clip_with_per_frame_masks(shared_data: Path, tmp_path: Path) -> None:
    clip = shared_data / "clips" / "tennis"
    masks = clip / "masks_binary"
    if not masks.is_dir():
        pytest.skip(f"{masks} not present")
    out = tmp_path / "tennis.mp4"
    result = remove_object(clip / "frames", out, MaskInput(masks_dir=masks),
                           config=RemoveConfig(end=10), encode=EncodeConfig(frame_rate=Fraction(25)),
                           progress=False)
    frames, times, rate, _ = read_video(out)
    assert result.frames == len(frames) == 10
    assert frames[0].shape == (480, 854, 3)
    assert rate == 25
    np.testing.assert_allclose(times, np.arange(10) / 25, atol=1e-3)


def test_real_old_codec_avi(shared_data: Path, tmp_path: Path) -> None:
    tree = shared_data / "videos" / "tree.avi"
    if not tree.exists():
        pytest.skip(f"{tree} not present")
    out = tmp_path / "tree.mp4"
    result = remove_object(tree, out, MaskInput(box=(100, 80, 60, 50)),
                           config=RemoveConfig(end=30), progress=False)
    frames, _, _, _ = read_video(out)
    assert result.frames == len(frames) == 30 and frames[0].shape == (240, 320, 3)


def test_keyframes_are_tracked_both_ways(tmp_path: Path) -> None:
    sc = scene(frames=16)
    clip, masks_dir, _ = clip_with_masks(tmp_path, sc, audio=False)
    keys = tmp_path / "keys"
    keys.mkdir()
    for i in (3, 12):
        (keys / f"{i:05d}.png").write_bytes((masks_dir / f"{i:05d}.png").read_bytes())
    used = tmp_path / "used"
    result = remove_object(clip, tmp_path / "out.mp4", MaskInput(keyframes=keys),
                           save_masks=used, progress=False)
    assert result.frames == 16
    for i in (0, 7, 15):  # before, between and after the keyframes
        truth = sc.frame(i).mask
        got = load_mask(used / f"{i:05d}.png")
        assert (truth & got).sum() >= 0.9 * truth.sum(), i
    (keys / "00099.png").write_bytes((masks_dir / "00000.png").read_bytes())
    with pytest.raises(InvalidMaskError, match="frame 99, but the video has 16"):
        remove_object(clip, tmp_path / "o2.mp4", MaskInput(keyframes=keys), progress=False)


def test_saved_masks_folder_is_not_private(tmp_path: Path) -> None:
    import os
    import stat

    sc = scene(frames=3)
    clip, _, first = clip_with_masks(tmp_path, sc, audio=False)
    remove_object(clip, None, MaskInput(mask=first), save_masks=tmp_path / "used", progress=False)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "used").stat().st_mode) == 0o777 & ~umask


def test_mask_folder_writer_leaves_nothing_when_stopped_at_any_point(tmp_path: Path) -> None:
    """A Ctrl-C or SIGTERM can land while the writer is being made, before the caller holds
    it and can abort it (a CI run left a ``.masks.partial-*`` folder after SIGTERM that way):
    making the writer creates nothing; the folder appears on the first mask, and abort
    removes it whenever it exists."""
    from moebius_video.engine.remove import MaskFolderWriter

    target = tmp_path / "masks"
    writer = MaskFolderWriter(target)
    assert list(tmp_path.iterdir()) == []  # nothing yet: an interrupt here leaks nothing
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    writer = MaskFolderWriter(target)
    writer.write("00000", np.ones((4, 6), bool))
    partial = [p.name for p in tmp_path.iterdir()]
    assert len(partial) == 1 and partial[0].startswith(".masks.partial-")
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    writer = MaskFolderWriter(target)
    writer.write("00000", np.zeros((4, 6), bool))
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["masks"]
    assert [p.name for p in target.iterdir()] == ["00000.png"]
    MaskFolderWriter(tmp_path / "none").close()  # no mask at all: an empty folder
    assert (tmp_path / "none").is_dir() and not any((tmp_path / "none").iterdir())


class _Borrowing(Filler):
    """Records what a filler that borrows from other frames is told about trust."""

    name = "borrowing"
    borrows = True
    lookahead = 2

    def __init__(self) -> None:
        self.trusted: list[bool] = []
        self.future_trusted: list[list[bool]] = []

    def fill(self, image, mask, *, future=(), trusted=True):  # type: ignore[no-untyped-def]
        self.trusted.append(trusted)
        self.future_trusted.append([f.trusted for f in future])
        return FillResult(image.copy())


def test_frames_the_tracker_doubts_are_not_offered_as_sources(tmp_path: Path) -> None:
    """The object vanishes at frame 8: the tracker loses it, its confidence falls, and the
    filler is told not to borrow from those frames (as the current frame and as future
    ones); a filler that borrows nothing is called as before (the other fakes here)."""
    from tracking import DOUBTFUL_BELOW

    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.integers(0, 256, (96, 160, 3), dtype=np.uint8), (0, 0), 2)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(16):
        img = bg.copy()
        if i < 8:
            img[30:60, 20 + 3 * i : 56 + 3 * i] = (230, 40, 40)
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    first = np.zeros((96, 160), bool)
    first[30:60, 20:56] = True
    cv2.imwrite(str(tmp_path / "first.png"), first.astype(np.uint8) * 255)
    filler = _Borrowing()
    result = remove_object(folder, tmp_path / "out.mp4", MaskInput(mask=tmp_path / "first.png"),
                           filler=filler, progress=False)
    expected = [c >= DOUBTFUL_BELOW for c in result.confidence]
    assert expected[:8] == [True] * 8 and not any(expected[9:])  # lost after frame 8
    assert filler.trusted == expected
    assert filler.future_trusted[6] == expected[7:9] == [True, False]
