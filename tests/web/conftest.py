"""Fixtures of the web editor tests: a generated clip and apps on TestClients."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web editor needs the web extra (fastapi)")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx")

from fastapi.testclient import TestClient  # noqa: E402
from helpers import mask_png, web_scene  # noqa: E402

from moebius_video.synthetic import SyntheticScene, write_scene_clip  # noqa: E402
from moebius_video.web.app import EditorConfig, create_app  # noqa: E402

#: The address the TestClient's requests carry (a loopback name: the Host check passes).
BASE = "http://127.0.0.1:8765"


class Api:
    """A TestClient with the editor's calls spelled out."""

    def __init__(self, client: TestClient) -> None:
        self.c = client

    def open(self, path: Path | str, **kw: Any) -> dict[str, Any]:
        r = self.c.post("/api/sessions", json={"path": str(path), **kw})
        assert r.status_code == 200, r.text
        return r.json()

    def key(self, sid: str, index: int, mask: np.ndarray) -> dict[str, Any]:
        r = self.c.put(f"/api/sessions/{sid}/keyframes/{index}", content=mask_png(mask))
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


@pytest.fixture
def scene() -> SyntheticScene:
    return web_scene()


@pytest.fixture
def clip(tmp_path: Path, scene: SyntheticScene) -> Path:
    path = tmp_path / "in" / "clip.mp4"
    path.parent.mkdir()
    write_scene_clip(path, scene, frame_rate=Fraction(25), audio=False, crf=0)
    return path


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(**config: Any) -> Api:
        config.setdefault("work_dir", tmp_path / f"work{len(clients)}")
        client = TestClient(create_app(EditorConfig(**config)), base_url=BASE)
        client.__enter__()
        clients.append(client)
        return Api(client)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Any) -> Api:
    return make_api()
