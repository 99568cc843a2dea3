"""The web editor's API, through starlette's TestClient (real decoding, tracking, removal)."""

from __future__ import annotations

import hashlib
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from helpers import mask_png as png
from helpers import web_scene as make_scene

import tracking
from moebius_video.cli import main as cli_main
from moebius_video.io import open_random_access
from moebius_video.synthetic import write_scene_clip
from tracking.geometry import dilate_mask


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _partials(*folders: Path) -> list[Path]:
    return [p for f in folders if f.exists() for p in f.rglob("*") if "partial" in p.name]


def test_open_mark_track_remove_and_the_object_is_gone(api, clip, scene) -> None:
    info = api.open(clip)
    assert (info["frames"], info["width"], info["height"]) == (24, 160, 96)
    assert info["fps"] == pytest.approx(25.0)
    sid = info["id"]
    frame = api.c.get(f"/api/sessions/{sid}/frames/7.jpg?w=80")
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(frame.content, np.uint8), cv2.IMREAD_COLOR).shape == (48, 80, 3)

    timeline = api.key(sid, 0, scene.frame(0).mask)
    assert timeline["states"] == "k" + "-" * 23 and timeline["keyframes"] == [0]
    data = api.run(sid, "track")
    assert data["job"]["done"] == data["job"]["total"] == 23
    tl = data["timeline"]
    assert tl["states"] == "k" + "t" * 23 and tl["ready"]
    assert len(tl["confidence"]) == 24 and all(0.0 <= c <= 1.0 for c in tl["confidence"])
    # the tracked masks follow the object
    for t in (5, 12, 23):
        mask, kind = api.mask(sid, t)
        truth = scene.frame(t).mask
        assert kind == "tracked"
        assert (mask & truth).sum() / truth.sum() > 0.9, t
        assert mask.sum() < 2.0 * truth.sum(), t

    data = api.run(sid, "remove", fill="telea", dilate=4)
    assert data["timeline"]["result"]["frames"] == 24
    out = api.c.get(f"/api/sessions/{sid}/result.mp4")
    assert out.status_code == 200 and out.headers["content-type"] == "video/mp4"
    result = api.c.app.state.store.get(sid).result_file()
    frames = _decode(result)
    source = _decode(clip)
    assert len(frames) == 24 and frames[0].shape == (96, 160, 3)
    for t in (3, 15, 22):
        f = scene.frame(t)
        inside = f.mask
        before = np.abs(f.image.astype(int) - f.background.astype(int))[inside].mean()
        after = np.abs(frames[t].astype(int) - f.background.astype(int))[inside].mean()
        assert after < 0.5 * before, (t, before, after)  # the object is gone
        outside = ~dilate_mask(dilate_mask(inside, 4), 6)
        kept = np.abs(frames[t].astype(int) - source[t].astype(int))[outside].mean()
        assert kept < 3.0, (t, kept)  # the encoder's noise, nothing more
    side = api.c.get(f"/api/sessions/{sid}/result/frames/15.jpg")
    assert side.status_code == 200 and side.content[:2] == b"\xff\xd8"
    download = api.c.get(f"/api/sessions/{sid}/result.mp4?download=1")
    assert 'attachment; filename="clip.removed.mp4"' in download.headers["content-disposition"]


def test_a_correction_retracks_only_its_segments_and_matches_the_cli(api, clip, scene, tmp_path) -> None:
    sid = api.open(clip)["id"]
    for k in (0, 10, 23):
        api.key(sid, k, scene.frame(k).mask)
    assert api.run(sid, "track")["job"]["total"] == 21
    # a correction on frame 16 (the true mask, shifted a little: a different keyframe)
    correction = np.roll(scene.frame(16).mask, 2, axis=1)
    tl = api.key(sid, 16, correction)
    assert tl["states"] == "k" + "t" * 9 + "k" + "s" * 5 + "k" + "s" * 6 + "k"
    before = {t: api.mask(sid, t)[0] for t in range(1, 10)}
    data = api.run(sid, "track")
    assert data["job"]["total"] == 11  # frames 11-15 and 17-22, nothing else
    assert data["timeline"]["states"] == "k" + "t" * 9 + "k" + "t" * 5 + "k" + "t" * 6 + "k"
    for t in range(1, 10):
        assert np.array_equal(api.mask(sid, t)[0], before[t])
    editor = [api.mask(sid, t)[0] for t in range(24)]

    # the same masks as tracking.iter_track over the whole video with the same keyframes
    keys = {0: scene.frame(0).mask, 10: scene.frame(10).mask, 16: correction,
            23: scene.frame(23).mask}
    with open_random_access(clip) as video:
        whole = tracking.track(video, keys)
    # Equal up to a few boundary pixels: OpenCV's DIS flow object is reused between calls
    # of the same size, so a tracker's output depends slightly on what it computed before.
    assert _close(editor, whole)

    # ... and as the CLI's `track --keyframes` on the folder the editor saves
    folder = Path(api.c.post(f"/api/sessions/{sid}/save-keyframes").json()["folder"])
    assert folder == clip.parent / "clip.keyframes"
    assert sorted(p.name for p in folder.iterdir()) == [
        "00000.png", "00010.png", "00016.png", "00023.png", "session.json"]
    out = tmp_path / "cli-masks"
    assert cli_main(["track", str(clip), "--keyframes", str(folder), "--dilate", "0",
                     "--save-masks", str(out)]) == 0
    cli = [cv2.imread(str(out / f"{t:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127 for t in range(24)]
    assert _close(editor, cli)
    assert all(np.array_equal(editor[k], cli[k]) for k in keys)  # keyframes: exactly


def _close(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    assert len(a) == len(b)
    worst = max(np.count_nonzero(x ^ y) / max(np.count_nonzero(x | y), 1) for x, y in zip(a, b))
    return worst <= 0.01


def test_keyframes_saved_and_loaded_in_a_new_session(api, clip, scene) -> None:
    sid = api.open(clip)["id"]
    api.key(sid, 3, scene.frame(3).mask)
    api.key(sid, 20, scene.frame(20).mask)
    r = api.c.post(f"/api/sessions/{sid}/save-keyframes", json={})
    assert r.status_code == 200
    info = api.open(clip)
    assert info["keyframes_folder_exists"]
    other = info["id"]
    r = api.c.post(f"/api/sessions/{other}/load-keyframes", json={})
    assert r.json()["keyframes"] == [3, 20]
    assert np.array_equal(api.mask(other, 20)[0], scene.frame(20).mask)
    # opening with the folder does the same in one call
    assert api.open(clip, keyframes=str(clip.parent / "clip.keyframes"))["timeline"]["keyframes"] == [3, 20]
    # a folder with foreign files is never replaced
    foreign = clip.parent / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    r = api.c.post(f"/api/sessions/{sid}/save-keyframes", json={"folder": str(foreign)})
    assert r.status_code == 500 and "holds other files" in r.json()["error"]
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_save_next_to_the_input_never_replaces_a_file(api, clip, scene) -> None:
    digest = _digest(clip)
    sid = api.open(clip)["id"]
    api.key(sid, 0, scene.frame(0).mask)
    api.run(sid, "track")
    api.run(sid, "remove", fill="telea")
    first = Path(api.c.post(f"/api/sessions/{sid}/save-result").json()["path"])
    second = Path(api.c.post(f"/api/sessions/{sid}/save-result").json()["path"])
    assert (first.name, second.name) == ("clip.removed.mp4", "clip.removed-2.mp4")
    assert len(_decode(first)) == 24 and first.read_bytes() == second.read_bytes()
    assert _digest(clip) == digest
    assert _partials(clip.parent) == []


def test_snap_finds_the_object_inside_a_loose_box(api, clip, scene) -> None:
    sid = api.open(clip)["id"]
    truth = scene.frame(4).mask
    ys, xs = np.nonzero(truth)
    box = [int(xs.min()) - 8, int(ys.min()) - 8, int(np.ptp(xs)) + 17, int(np.ptp(ys)) + 17]
    r = api.c.post(f"/api/sessions/{sid}/snap", json={"frame": 4, "box": box})
    assert r.status_code == 200 and r.headers["x-snapped"] == "1"
    snapped = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_GRAYSCALE) > 127
    boxed = np.zeros_like(truth)
    boxed[box[1]:box[1] + box[3], box[0]:box[0] + box[2]] = True

    def iou(a: np.ndarray) -> float:
        return float((a & truth).sum() / (a | truth).sum())

    assert iou(snapped) > iou(boxed) + 0.1 and iou(snapped) > 0.7


def test_upload_opens_the_video_and_refuses_what_is_not_one(make_api, clip, tmp_path) -> None:
    api = make_api(max_upload=1 << 20)
    work = tmp_path / "work0"
    r = api.c.post("/api/upload?name=../../my clip.mp4", content=clip.read_bytes())
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["uploaded"] and info["name"] == "my_clip.mp4" and info["frames"] == 24
    uploaded = api.c.app.state.store.get(info["id"]).path
    assert uploaded.is_relative_to(work)  # the name's ../ went nowhere
    r = api.c.post(f"/api/sessions/{info['id']}/save-result")
    assert r.status_code == 400 and "uploaded: download the result" in r.json()["error"]

    r = api.c.post("/api/upload?name=notes.mp4", content=b"this is not a video\n" * 50)
    assert r.status_code == 400 and "cannot open" in r.json()["error"]
    r = api.c.post("/api/upload?name=big.mp4", content=b"\0" * ((1 << 20) + 1))
    assert r.status_code == 413 and "too large" in r.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"\0" * 65536

    r = api.c.post("/api/upload?name=big2.mp4", content=chunks())
    assert r.status_code in (413, 400) and ("too large" in r.text or "larger than" in r.text)
    leftovers = [p.name for p in work.iterdir() if p.name.startswith("upload-")]
    assert len(leftovers) == 1  # only the good upload's folder


def test_bad_input_gets_a_clear_message(api, clip, scene, tmp_path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    r = api.c.post("/api/sessions", json={"path": str(text)})
    assert r.status_code == 400 and "cannot open notes.mp4" in r.json()["error"]
    r = api.c.post("/api/sessions", json={"path": str(tmp_path / "missing.mp4")})
    assert r.status_code == 400 and "does not exist" in r.json()["error"]
    r = api.c.post("/api/sessions", json={"nope": 1})
    assert r.status_code == 400 and r.json()["error"].startswith("bad request: path")

    sid = api.open(clip)["id"]
    r = api.c.get(f"/api/sessions/{sid}/frames/24.jpg")
    assert r.status_code == 400 and r.json()["error"] == (
        "frame 24 does not exist: the video has frames 0 to 23")
    mask = scene.frame(0).mask
    r = api.c.put(f"/api/sessions/{sid}/keyframes/99", content=png(mask))
    assert r.status_code == 400 and "frame 99 does not exist" in r.json()["error"]
    r = api.c.put(f"/api/sessions/{sid}/keyframes/2", content=png(np.zeros_like(mask)))
    assert r.status_code == 400 and "the mark on frame 2 is empty" in r.json()["error"]
    r = api.c.put(f"/api/sessions/{sid}/keyframes/2", content=b"")
    assert r.status_code == 400 and "empty" in r.json()["error"]
    r = api.c.put(f"/api/sessions/{sid}/keyframes/2", content=png(np.ones_like(mask)))
    assert r.status_code == 400 and "whole frame" in r.json()["error"]
    r = api.c.put(f"/api/sessions/{sid}/keyframes/2", content=png(mask[:50]))
    assert r.status_code == 400 and "160x50 but the video is 160x96" in r.json()["error"]
    r = api.c.put(f"/api/sessions/{sid}/keyframes/2", content=b"GIF89a garbage")
    assert r.status_code == 400 and "not a readable image" in r.json()["error"]
    r = api.c.delete(f"/api/sessions/{sid}/keyframes/2")
    assert r.status_code == 400 and "not a keyframe" in r.json()["error"]
    r = api.c.post(f"/api/sessions/{sid}/track", json={})
    assert r.status_code == 400 and "mark the object first" in r.json()["error"]
    api.key(sid, 0, mask)
    r = api.c.post(f"/api/sessions/{sid}/remove", json={"fill": "telea"})
    assert r.status_code == 400 and "track first" in r.json()["error"]
    r = api.c.post(f"/api/sessions/{sid}/track", json={"tracker": "nope"})
    assert r.status_code == 400 and "nope" in r.json()["error"]
    api.run(sid, "track")
    r = api.c.post(f"/api/sessions/{sid}/remove", json={"fill": "nope"})
    assert r.status_code == 400 and "nope" in r.json()["error"]
    r = api.c.post(f"/api/sessions/{sid}/remove", json={"dilate": -1})
    assert r.status_code == 400 and "dilate" in r.json()["error"]
    r = api.c.post(f"/api/sessions/{sid}/snap", json={"frame": 1, "box": [500, 500, 10, 10]})
    assert r.status_code == 400 and "outside" in r.json()["error"]
    r = api.c.get("/api/sessions/nope/frames/0.jpg")
    assert r.status_code == 404 and "open the video again" in r.json()["error"]


def test_a_video_failing_half_way(api, tmp_path) -> None:
    sc = make_scene(frames=40)
    ts = tmp_path / "broken.ts"
    write_scene_clip(ts, sc, frame_rate=Fraction(25), audio=False)
    data = bytearray(ts.read_bytes())
    data[len(data) // 2:] = np.random.default_rng(0).integers(0, 256, len(data) - len(data) // 2,
                                                               dtype=np.uint8).tobytes()
    ts.write_bytes(bytes(data))
    r = api.c.post("/api/sessions", json={"path": str(ts)})
    if r.status_code == 200:  # it opened: the decodable frames only
        assert r.json()["frames"] < 40
    else:
        assert r.status_code == 400 and "broken.ts" in r.json()["error"]

    # a file that breaks after it was opened (damaged or replaced on disk)
    mkv = tmp_path / "clip.mkv"
    write_scene_clip(mkv, sc, frame_rate=Fraction(25), audio=False)
    sid = api.open(mkv)["id"]
    api.key(sid, 0, sc.frame(0).mask)
    api.run(sid, "track")
    data = bytearray(mkv.read_bytes())
    data[len(data) // 2:] = bytes(len(data) - len(data) // 2)
    mkv.write_bytes(bytes(data))
    api.start(sid, "remove", fill="telea")
    job = api.wait(sid)["job"]
    assert job["state"] == "failed", job
    assert "could be decoded only up to frame" in job["message"] and "no result was written" in job["message"]
    work = tmp_path / "work0"
    assert [p for p in work.rglob("*.mp4")] == [] and _partials(work, tmp_path) == []
    assert api.c.get(f"/api/sessions/{sid}/result.mp4").status_code == 400


def _long_clip(tmp_path: Path, frames: int = 150) -> tuple[Path, Any]:
    sc = make_scene(width=320, height=192, frames=frames)
    path = tmp_path / "long" / "long.mp4"
    path.parent.mkdir(exist_ok=True)
    write_scene_clip(path, sc, frame_rate=Fraction(25), audio=False)
    return path, sc


def _tracked(api: Any, path: Path, sc: Any) -> str:
    sid = api.open(path)["id"]
    api.key(sid, 0, sc.frame(0).mask)
    api.key(sid, len(sc) - 1, sc.frame(len(sc) - 1).mask)
    api.run(sid, "track")
    return sid


def test_two_removals_at_once_and_cancel(api, tmp_path) -> None:
    path, sc = _long_clip(tmp_path)
    a, b = _tracked(api, path, sc), _tracked(api, path, sc)
    api.start(a, "remove", fill="telea")
    r = api.c.post(f"/api/sessions/{a}/remove", json={"fill": "telea"})
    assert r.status_code == 409 and "already running in this session" in r.json()["error"]
    r = api.c.post(f"/api/sessions/{b}/remove", json={"fill": "telea"})
    assert r.status_code == 409 and "another removal is running" in r.json()["error"]
    r = api.c.post(f"/api/sessions/{a}/track", json={})
    assert r.status_code == 409
    assert api.c.post(f"/api/sessions/{a}/cancel").json() == {"cancelled": True}
    job = api.wait(a)["job"]
    assert job["state"] == "cancelled" and job["message"] == "cancelled by the user"
    work = tmp_path / "work0"
    assert list(work.rglob("*.mp4")) == [] and _partials(work, path.parent) == []
    # the slot is free again
    assert api.run(b, "remove", fill="telea")["job"]["state"] == "done"


def test_a_closed_tab_does_not_leave_its_job_running(make_api, tmp_path) -> None:
    api = make_api(heartbeat_timeout=1.0)
    path, sc = _long_clip(tmp_path, frames=300)
    sid = api.open(path)["id"]
    api.key(sid, 0, sc.frame(0).mask)
    api.start(sid, "track")
    store = api.c.app.state.store
    deadline = time.monotonic() + 60
    while store.peek(sid).job.running:  # no heartbeat from now on (peek is not one)
        assert time.monotonic() < deadline, "the job kept running without its tab"
        time.sleep(0.1)
    status = store.peek(sid).job.status()
    assert status.state == "cancelled" and "no heartbeat" in status.message
    assert status.done < status.total


def test_a_server_restarted_mid_job(make_api, tmp_path) -> None:
    path, sc = _long_clip(tmp_path)
    first = make_api()
    sid = _tracked(first, path, sc)
    first.start(sid, "remove", fill="telea")
    while first.c.get(f"/api/sessions/{sid}/job").json()["job"]["done"] < 2:
        time.sleep(0.02)
    first.c.__exit__(None, None, None)  # shutdown: jobs cancelled, work folder deleted
    assert not (tmp_path / "work0").exists()
    assert _partials(path.parent) == [] and sorted(p.name for p in path.parent.iterdir()) == ["long.mp4"]
    second = make_api()
    r = second.c.get(f"/api/sessions/{sid}/job")
    assert r.status_code == 404 and "server was restarted" in r.json()["error"]


def test_sessions_of_several_tabs_are_independent(api, clip, scene) -> None:
    a, b = api.open(clip)["id"], api.open(clip)["id"]
    assert a != b
    api.key(a, 0, scene.frame(0).mask)
    other = np.zeros_like(scene.frame(0).mask)
    other[5:30, 5:40] = True
    api.key(b, 5, other)
    api.start(a, "track")
    api.start(b, "track")  # both at once
    ta, tb = api.wait(a)["timeline"], api.wait(b)["timeline"]
    assert ta["keyframes"] == [0] and tb["keyframes"] == [5]
    assert np.array_equal(api.mask(a, 0)[0], scene.frame(0).mask)
    assert np.array_equal(api.mask(b, 5)[0], other)
    assert not np.array_equal(api.mask(a, 12)[0], api.mask(b, 12)[0])
    api.c.delete(f"/api/sessions/{a}")
    assert api.c.get(f"/api/sessions/{a}").status_code == 404
    assert api.c.get(f"/api/sessions/{b}").status_code == 200


def test_only_its_own_files_and_guarded_requests(make_api, clip, tmp_path) -> None:
    api = make_api(max_request=1 << 20, root=clip.parent)
    assert api.c.get("/").status_code == 200
    assert api.c.get("/static/editor.js").headers["content-type"].startswith("text/javascript")
    for bad in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                "/static/index.html/../../session.py", "/static/app.py", "/../../etc/passwd",
                "/static//etc/passwd"):
        r = api.c.get(bad)
        assert r.status_code == 404, bad
        assert b"import" not in r.content and b"root:" not in r.content
    # Host header (DNS rebinding) and cross-site writes
    r = api.c.get("/api/config", headers={"host": "attacker.example:8765"})
    assert r.status_code == 400 and "DNS-rebinding" in r.json()["error"]
    assert api.c.get("/api/config", headers={"host": "localhost:8765"}).status_code == 200
    assert api.c.get("/api/config", headers={"host": "[::1]:8765"}).status_code == 200
    r = api.c.post("/api/sessions", json={"path": str(clip)},
                   headers={"origin": "http://attacker.example"})
    assert r.status_code == 403 and "another site" in r.json()["error"]
    r = api.c.post("/api/sessions", json={"path": str(clip)}, headers={"origin": str(api.c.base_url).rstrip("/")})
    assert r.status_code == 200
    sid = r.json()["id"]
    # bounded bodies
    r = api.c.put(f"/api/sessions/{sid}/keyframes/0", content=b"\0" * ((1 << 20) + 1))
    assert r.status_code == 413
    # --root: nothing outside it
    r = api.c.post("/api/sessions", json={"path": "/etc/passwd"})
    assert r.status_code == 403 and "outside" in r.json()["error"]
    r = api.c.post("/api/sessions", json={"path": str(clip.parent / ".." / "x.mp4")})
    assert r.status_code == 403
    r = api.c.post(f"/api/sessions/{sid}/save-keyframes", json={"folder": str(tmp_path / "k")})
    assert r.status_code == 403
    page = api.c.get("/")
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_the_timeline_carries_the_trackers_confidence_and_doubtful_ranges(api, clip, scene) -> None:
    sid = api.open(clip)["id"]
    wrong = np.zeros_like(scene.frame(0).mask)
    wrong[60:90, 110:150] = True  # a keyframe that contradicts the first: the two disagree
    api.key(sid, 0, scene.frame(0).mask)
    api.key(sid, 23, wrong)
    tl = api.run(sid, "track")["timeline"]
    with open_random_access(clip) as video:
        expected = [f.confidence for f in tracking.iter_track_frames(
            video, {0: scene.frame(0).mask, 23: wrong})]
    assert tl["confidence"][0] == tl["confidence"][23] == 1.0
    assert np.allclose(tl["confidence"], expected, atol=0.05)
    # the doubtful ranges are the library's, on these confidences
    assert tl["doubtful"] == [r.to_dict() for r in tracking.doubtful_ranges(tl["confidence"])]
    # contradicting keyframes lower it (against the true mask on frame 23)
    other = api.open(clip)["id"]
    api.key(other, 0, scene.frame(0).mask)
    api.key(other, 23, scene.frame(23).mask)
    consistent = api.run(other, "track")["timeline"]["confidence"]
    assert np.mean(tl["confidence"][1:23]) < np.mean(consistent[1:23]) - 0.1
    # frames whose mask is out of date have no confidence (and are not doubtful)
    tl = api.key(sid, 23, scene.frame(23).mask)
    assert tl["confidence"][1:23] == [None] * 22 and tl["doubtful"] == []
