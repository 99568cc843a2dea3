"""The editor in a real browser: headless Chromium driven by selenium (Debian's chromium and
chromium-driver). Load the page, open a generated clip, draw a box, track, correct a frame,
remove, and check the produced video. Skips, with the reason, where no browser exists.

``MOEBIUS_SCREENSHOTS=DIR`` also copies the screenshots there (the README's picture).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("no browser: Debian's chromium and chromium-driver are not installed "
                "(apt-get install chromium chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium")
pytest.importorskip("uvicorn", reason="the web editor needs the web extra")

from helpers import web_scene as make_scene  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from moebius_video.synthetic import SyntheticScene, write_scene_clip  # noqa: E402
from moebius_video.web.app import EditorConfig, create_app  # noqa: E402
from moebius_video.web.server import WebServer  # noqa: E402
from tracking.geometry import dilate_mask  # noqa: E402

W, H, N = 320, 180, 36


@pytest.fixture
def browser() -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="moebius-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1440,960", "--hide-scrollbars", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except Exception as error:  # a browser that cannot start on this machine
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"chromium does not start here: {str(error).splitlines()[0]}")
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WebServer]:
    app = create_app(EditorConfig(work_dir=tmp_path / "work", heartbeat_timeout=60))
    with WebServer(app, port=0) as web:
        web.start()
        yield web


def _wait(what: str, check: Callable[[], Any], timeout: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _drag(driver: Any, points: list[tuple[float, float]]) -> None:
    """Press at the first point (video pixels), move through the others, release."""
    canvas = driver.find_element(By.ID, "view")
    rect = driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                 "return [r.width, r.height];", canvas)
    sx, sy = rect[0] / W, rect[1] / H

    def offset(p: tuple[float, float]) -> tuple[int, int]:
        return round(p[0] * sx - rect[0] / 2), round(p[1] * sy - rect[1] / 2)

    chain = ActionChains(driver)
    chain.move_to_element_with_offset(canvas, *offset(points[0])).click_and_hold()
    last = offset(points[0])
    for p in points[1:]:
        o = offset(p)
        chain.move_by_offset(o[0] - last[0], o[1] - last[1])
        last = o
    chain.release().perform()


def _box_of(mask: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()) - pad, int(ys.min()) - pad, int(xs.max()) + pad, int(ys.max()) + pad


def _shot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))
    target = os.environ.get("MOEBIUS_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def test_mark_track_correct_remove_in_the_browser(browser: Any, server: WebServer,
                                                   tmp_path: Path) -> None:
    scene: SyntheticScene = make_scene(W, H, N)
    clip = tmp_path / "in" / "clip.mp4"
    clip.parent.mkdir()
    write_scene_clip(clip, scene, frame_rate=Fraction(25), audio=False)
    d = browser
    d.get(server.url)
    _wait("the page", lambda: d.execute_script("return document.body.dataset.ready") == "1")
    text = lambda el: d.find_element(By.ID, el).text  # noqa: E731

    # a path that is not there: a clear message in the page
    d.find_element(By.ID, "path").send_keys(str(tmp_path / "missing.mp4"), Keys.ENTER)
    _wait("the error message", lambda: "does not exist" in text("message"), timeout=30)

    # open the clip
    field = d.find_element(By.ID, "path")
    field.clear()
    field.send_keys(str(clip), Keys.ENTER)
    _wait("the video", lambda: f"{N} frames" in text("video-name"))
    sid = _wait("a session id", lambda: d.execute_script("return location.hash").partition("#s=")[2])
    api = f"{server.url}api/sessions/{sid}"

    # an empty box is refused in the page
    _drag(d, [(50, 50), (51, 51)])
    _wait("the empty-box message", lambda: "the box is empty" in text("message"))

    # draw a box around the object on frame 0 (snapped to it by GrabCut)
    x0, y0, x1, y1 = _box_of(scene.frame(0).mask, 8)
    _drag(d, [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1)])
    _wait("the keyframe", lambda: "frame 0 is a keyframe" in text("key-state")
          and d.execute_script("return document.body.dataset.marks") == "0")
    assert _json(api)["timeline"]["keyframes"] == [0]

    # track, with a progress bar, to the end
    d.find_element(By.ID, "track").click()
    _wait("the tracking", lambda: "tracked" in text("track-state") and "in" in text("track-state"))
    tl = _json(api)["timeline"]
    assert tl["states"] == "k" + "t" * (N - 1)

    # scrub with the keyboard to frame 20: the mask is overlaid there
    body = d.find_element(By.ID, "view")
    body.send_keys(Keys.SHIFT + Keys.ARROW_RIGHT)
    body.send_keys(Keys.SHIFT + Keys.ARROW_RIGHT)
    _wait("frame 20", lambda: text("frame-label") == f"20 / {N - 1}")
    _wait("the tracked mask", lambda: "tracked mask" in text("key-state"))
    _shot(d, tmp_path, "editor-tracked.png")

    # correct frame 20 with the brush: it becomes a keyframe
    d.find_element(By.CSS_SELECTOR, "input[name=tool][value=brush]").click()
    # (the flow tracker has lost the object's lower band by here: paint over all of it)
    bx0, by0, bx1, by1 = _box_of(scene.frame(20).mask, 0)
    for y in range(by0 + 4, by1, 12):
        _drag(d, [(bx0 + 4, y), ((bx0 + bx1) / 2, y), (bx1 - 4, y)])
    _wait("the correction", lambda: "frame 20 is a keyframe" in text("key-state")
          and d.execute_script("return document.body.dataset.marks") == "0")
    tl = _json(api)["timeline"]
    assert tl["keyframes"] == [0, 20]
    painted = tl["areas"][20]
    # the eraser takes back what the brush put beyond the object's top-left corner
    d.find_element(By.CSS_SELECTOR, "input[name=tool][value=erase]").click()
    _drag(d, [(bx0 - 6, by0 - 6), (bx0 + 2, by0 + 2)])
    _wait("the erased keyframe", lambda: _json(api)["timeline"]["areas"][20] < painted
          and d.execute_script("return document.body.dataset.marks") == "0")
    tl = _json(api)["timeline"]
    assert set(tl["states"][1:20]) == {"s"} and set(tl["states"][21:]) == {"s"}

    d.find_element(By.ID, "track").click()
    _wait("the re-tracking", lambda: _json(api)["job"]["id"] == 2
          and _json(api)["job"]["state"] == "done")
    job = _json(api)["job"]
    assert job["total"] == N - 2  # frames 1-19 and 21-35: both segments next to frame 20
    assert _json(api)["timeline"]["ready"]

    # remove (the fast fill), watch the progress, get before/after
    # the page enables Remove once it has seen the tracking end
    _wait("the Remove button", lambda: d.find_element(By.ID, "remove").is_enabled()
          and "tracked" in text("track-state"))
    Select(d.find_element(By.ID, "fill")).select_by_value("telea")
    d.find_element(By.ID, "remove").click()
    def removed() -> bool:
        job = _json(api)["job"]
        assert job["state"] in ("running", "done"), job
        return job["kind"] == "remove" and job["state"] == "done"

    _wait("the removal", removed, timeout=300)
    try:
        _wait("the result in the page", lambda: "removed the object" in text("remove-state")
              and d.find_element(By.ID, "after-pane").is_displayed(), timeout=30)
    except AssertionError as error:
        _shot(d, tmp_path, "failed.png")
        state = d.execute_script("return [JSON.stringify(S.job), location.href, "
                                 "document.getElementById('remove-state').textContent]")
        raise AssertionError(f"{error}: the page says {state}; console "
                             f"{d.get_log('browser')}") from None
    _shot(d, tmp_path, "editor-result.png")

    # play the result: frames advance
    d.find_element(By.ID, "play").click()
    _wait("playback", lambda: text("frame-label").split(" / ")[0] not in ("20", "21"), timeout=30)
    d.find_element(By.ID, "play").click()

    # save it next to the input, and check the video
    d.find_element(By.ID, "save-result").click()
    _wait("the saved message", lambda: "clip.removed.mp4" in text("message"))
    out = clip.parent / "clip.removed.mp4"
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == N and frames[0].shape == (H, W, 3)
    with av.open(str(clip)) as container:
        source = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    for t in (5, 20, 30):
        f = scene.frame(t)
        before = np.abs(f.image.astype(int) - f.background.astype(int))[f.mask].mean()
        after = np.abs(frames[t].astype(int) - f.background.astype(int))[f.mask].mean()
        still = np.abs(frames[t].astype(int) - f.image.astype(int))[f.mask].mean()
        # gone: what is there now is nearer the background than the object (a spatial fill
        # of a hole this size is a smooth guess of the background, not the background)
        assert after < 0.75 * before and after < still, (t, before, after, still)
        with urllib.request.urlopen(f"{api}/masks/{t}.png", timeout=10) as r:
            used = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_GRAYSCALE) > 127
        outside = ~dilate_mask(used, 4 + 3)  # beyond the (grown) mask: the encoder's noise
        assert np.abs(frames[t].astype(int) - source[t].astype(int))[outside].mean() < 3.0
    # the download link serves the same file
    link = d.find_element(By.ID, "download").get_attribute("href")
    with urllib.request.urlopen(link, timeout=10) as r:
        assert r.read() == out.read_bytes()
