"""Helpers of the web editor tests: a generated scene, an API client with its calls spelled out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient

from moebius_video.synthetic import SceneConfig, SyntheticScene

BASE = "http://127.0.0.1:8765"


def make_scene(width: int = 160, height: int = 96, frames: int = 24) -> SyntheticScene:
    """A small scene with a moving object (10 % of the frame)."""
    return SyntheticScene(SceneConfig(width=width, height=height, num_frames=frames,
                                      object_fraction=0.1, pan_speed=1.0))


def png(mask: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    assert ok
    return data.tobytes()


class Api:
    """A TestClient with the editor's calls spelled out."""

    def __init__(self, client: TestClient) -> None:
        self.c = client

    def open(self, path: Path | str, **kw: Any) -> dict[str, Any]:
        r = self.c.post("/api/sessions", json={"path": str(path), **kw})
        assert r.status_code == 200, r.text
        return r.json()

    def key(self, sid: str, index: int, mask: np.ndarray) -> dict[str, Any]:
        r = self.c.put(f"/api/sessions/{sid}/keyframes/{index}", content=png(mask))
        assert r.status_code == 200, r.text
        return r.json()["timeline"]

    def start(self, sid: str, what: str, **body: Any) -> dict[str, Any]:
        r = self.c.post(f"/api/sessions/{sid}/{what}", json=body)
        assert r.status_code == 200, r.text
        return r.json()["job"]

    def wait(self, sid: str, timeout: float = 240.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            data = self.c.get(f"/api/sessions/{sid}/job").json()
            if data["job"] is None or data["job"]["state"] != "running":
                return data
            assert time.monotonic() < deadline, f"job still running: {data['job']}"
            time.sleep(0.05)

    def run(self, sid: str, what: str, **body: Any) -> dict[str, Any]:
        self.start(sid, what, **body)
        data = self.wait(sid)
        assert data["job"]["state"] == "done", data["job"]
        return data

    def mask(self, sid: str, index: int) -> tuple[np.ndarray | None, str | None]:
        r = self.c.get(f"/api/sessions/{sid}/masks/{index}.png")
        assert r.status_code in (200, 204), r.text
        if r.status_code == 204:
            return None, None
        image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_GRAYSCALE)
        return image > 127, r.headers["x-mask-kind"]


