"""Fixtures of the web editor tests: a generated clip and apps on TestClients."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web editor needs the web extra (fastapi)")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx")

from fastapi.testclient import TestClient  # noqa: E402
from web.webtools import BASE, Api, make_scene  # noqa: E402

from moebius_video.synthetic import SyntheticScene, write_scene_clip  # noqa: E402
from moebius_video.web.app import EditorConfig, create_app  # noqa: E402


@pytest.fixture
def scene() -> SyntheticScene:
    return make_scene()


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
