"""Regenerate docs/images/editor.jpg, the README's picture of the editor after tracking.

    PYTHONPATH=. python docs/editor_screenshot.py        # needs the web extra, selenium, chromium

A generated 640x360 clip (no footage from elsewhere), a box drawn on frames 0 and 59 and
snapped to the object, tracked by the default tracker; the picture is taken on frame 30.
"""

from __future__ import annotations

import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from moebius_video.synthetic import SceneConfig, SyntheticScene, write_scene_clip
from moebius_video.web.app import EditorConfig, create_app
from moebius_video.web.server import WebServer

W, H, N, SHOWN = 640, 360, 60, 30
KEYS = (0, 59)


def _wait(check, timeout: float = 300.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not get there")
        time.sleep(0.1)


def main(out: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="moebius-shot-"))
    scene = SyntheticScene(SceneConfig(width=W, height=H, num_frames=N, object_fraction=0.06,
                                       pan_speed=1.5, seed=3))
    clip = work / "street.mp4"
    write_scene_clip(clip, scene, frame_rate=Fraction(25), audio=False)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--window-size=1440,920", "--force-device-scale-factor=1",
                 f"--user-data-dir={work / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService("/usr/bin/chromedriver"))
    with WebServer(create_app(EditorConfig(work_dir=work / "server")), port=0) as server:
        server.start()
        try:
            driver.get(server.url)
            _wait(lambda: driver.execute_script("return document.body.dataset.ready") == "1")
            driver.find_element(By.ID, "path").send_keys(str(clip), Keys.ENTER)
            _wait(lambda: "frames" in driver.find_element(By.ID, "video-name").text)
            canvas = driver.find_element(By.ID, "view")
            w, h = driver.execute_script(
                "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
            def at(x: float, y: float) -> tuple[int, int]:
                return round(x * w / W - w / 2), round(y * h / H - h / 2)

            def show(index: int) -> None:
                driver.execute_script(
                    f"document.getElementById('slider').value = {index};"
                    "document.getElementById('slider').dispatchEvent(new Event('input'));")
                _wait(lambda: driver.find_element(By.ID, "frame-label").text.startswith(f"{index} /"))

            for key in KEYS:  # a box around the object on each keyframe, snapped to it
                show(key)
                time.sleep(0.5)
                ys, xs = np.nonzero(scene.frame(key).mask)
                a = at(xs.min() - 10, ys.min() - 10)
                b = at(xs.max() + 10, ys.max() + 10)
                (ActionChains(driver).move_to_element_with_offset(canvas, *a).click_and_hold()
                 .move_by_offset(b[0] - a[0], b[1] - a[1]).release().perform())
                _wait(lambda key=key: f"frame {key} is a keyframe"
                      in driver.find_element(By.ID, "key-state").text)
            driver.find_element(By.ID, "track").click()
            _wait(lambda: " in " in driver.find_element(By.ID, "track-state").text)
            show(SHOWN)
            time.sleep(1.0)
            if "--debug" in sys.argv:
                print(driver.execute_script(
                    "const d = S.mask.getContext('2d').getImageData(0, 0, S.mask.width, S.mask.height).data;"
                    "let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0;"
                    "return [S.maskKind, n, S.mask.width, S.frame];"))
                for entry in driver.get_log("browser"):
                    print(entry)
            png = work / "editor.png"
            driver.save_screenshot(str(png))
            from PIL import Image

            with Image.open(png) as image:  # a JPEG: a third of the PNG's size
                image.convert("RGB").save(out, quality=85, optimize=True, progressive=True)
        finally:
            driver.quit()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else Path(__file__).parent / "images" / "editor.jpg")
