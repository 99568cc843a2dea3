"""The web editor's HTTP layer (FastAPI): routes over :mod:`moebius_video.web.session`.

Every handler is thin: it parses the request, calls the session (library code), and turns
a :class:`~moebius_video.errors.MoebiusError` into a JSON ``{"error": message}`` with a
status code. Blocking work (decoding, GrabCut) runs in FastAPI's thread pool; long work
(tracking, removal) in a job thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from moebius_video import __version__
from moebius_video.errors import (
    InvalidArgumentError,
    InvalidMaskError,
    MoebiusError,
    OutputError,
    VideoDecodeError,
    VideoOpenError,
)
from moebius_video.web.guard import LOOPBACK_NAMES, GuardMiddleware
from moebius_video.web.jobs import JobBusyError, JobStatus
from moebius_video.web.live import CHANNELS, LiveView
from moebius_video.web.session import (
    DOUBTFUL,
    EditSession,
    SessionStore,
    UnknownSessionError,
    decode_mask_png,
    encode_mask_png,
    snap_to_object,
)

logger = logging.getLogger(__name__)

_STATIC = {"editor.js": "text/javascript", "editor.css": "text/css"}
_MIB = 1 << 20


@dataclass(frozen=True)
class EditorConfig:
    """How the web app behaves.

    Attributes:
        editor: Serve the editor (``False``: the live view only, for ``webcam``/``stream``).
        video: A video to open in every new tab (``moebius-video edit VIDEO``).
        keyframes: A keyframe folder to load with it.
        root: Open-by-path (and keyframe folders) restricted to this folder; ``None`` = any
            path the user can read (the default on loopback).
        allowed_hosts: Host names accepted in the ``Host`` header (IP literals always are).
        max_upload: Largest upload in bytes.
        max_request: Largest other request body in bytes (masks).
        heartbeat_timeout: A job of a tab silent for this long is cancelled.
        session_ttl: A session silent for this long is closed.
        work_dir: Folder for uploads, results and temporary files (``None``: a fresh
            temporary folder).
        fill: The fill proposed by the page (``None``: the package default).
        tracker: The tracker (``None``: the package default).
    """

    editor: bool = True
    video: Path | None = None
    keyframes: Path | None = None
    root: Path | None = None
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES
    max_upload: int = 2048 * _MIB
    max_request: int = 32 * _MIB
    heartbeat_timeout: float = 20.0
    session_ttl: float = 3600.0
    work_dir: Path | None = None
    fill: str | None = None
    tracker: str | None = None

    def __post_init__(self) -> None:
        if self.max_upload <= 0 or self.max_request <= 0:
            raise InvalidArgumentError("upload and request limits must be positive")
        if self.heartbeat_timeout <= 0:
            raise InvalidArgumentError(
                f"heartbeat_timeout must be positive, got {self.heartbeat_timeout}"
            )


class OpenRequest(BaseModel):
    """Open a video by path."""

    path: str
    keyframes: str | None = None


class SnapRequest(BaseModel):
    """Snap a box to the object on a frame."""

    frame: int
    box: tuple[int, int, int, int]


class TrackRequest(BaseModel):
    """Track (the stale segments)."""

    tracker: str | None = None


class RemoveRequest(BaseModel):
    """Run the removal."""

    fill: str | None = None
    dilate: int | None = None


class FolderRequest(BaseModel):
    """A keyframe folder (``None``: ``NAME.keyframes`` next to the video)."""

    folder: str | None = None


class BoxRequest(BaseModel):
    """A box on the live source."""

    box: tuple[int, int, int, int]


def _status_of(error: MoebiusError) -> int:
    if isinstance(error, UnknownSessionError):
        return 404
    if isinstance(error, JobBusyError):
        return 409
    if isinstance(error, PermissionError):
        return 403
    if isinstance(error, (InvalidArgumentError, InvalidMaskError, VideoOpenError)):
        return 400
    if isinstance(error, (OutputError, VideoDecodeError)):
        return 500
    return 400


class _Forbidden(MoebiusError, PermissionError):
    """A path outside the folder the server may read."""


def _job_json(status: JobStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {"id": status.id, "kind": status.kind, "state": status.state, "done": status.done,
            "total": status.total, "message": status.message, "seconds": status.seconds}


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "video"
    return base[-80:]


def create_app(config: EditorConfig | None = None, *, live: LiveView | None = None) -> FastAPI:
    """The web app: the editor (unless ``config.editor`` is False) and the live view.

    Args:
        config: Behaviour (limits, paths, defaults).
        live: A live view to show (``webcam``/``stream --http``).

    Returns:
        A FastAPI (ASGI) application, wrapped in :class:`GuardMiddleware`. Its
        ``state.store`` is the :class:`SessionStore` (``None`` without the editor).
    """
    from moebius_video.web.server import make_work_dir

    config = config or EditorConfig()
    store: SessionStore | None = None
    if config.editor:
        work = Path(config.work_dir) if config.work_dir else Path(make_work_dir())
        store = SessionStore(work, heartbeat_timeout=config.heartbeat_timeout,
                             session_ttl=config.session_ttl)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if live is not None:
            live.close()
        if store is not None:
            await run_in_threadpool(store.close)

    app = FastAPI(title="moebius-video", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.live = live
    app.state.config = config

    @app.exception_handler(MoebiusError)
    async def moebius_error(request: Request, error: MoebiusError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=_status_of(error))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        parts = []
        for item in error.errors()[:3]:
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else item.get("msg", ""))
        return JSONResponse({"error": "bad request: " + "; ".join(parts)}, status_code=400)

    # ------------------------------------------------------------------ page

    def _asset(name: str) -> bytes:
        return resources.files("moebius_video.web").joinpath("static", name).read_bytes()

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return Response(_asset("index.html"), media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        # Only the page's own files, by exact name: no path is ever built from the URL.
        if name not in _STATIC:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(_asset(name), media_type=_STATIC[name],
                        headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/config")
    def api_config() -> dict[str, Any]:
        import tracking
        from moebius_video.fill import DEFAULT_FILLER, available_fillers
        from moebius_video.io.masks import DEFAULT_DILATE

        return {
            "version": __version__,
            "editor": store is not None,
            "live": live is not None,
            "video": str(config.video) if config.video else None,
            "keyframes": str(config.keyframes) if config.keyframes else None,
            "fills": available_fillers(),
            "fill": config.fill or DEFAULT_FILLER,
            "dilate": DEFAULT_DILATE,
            "trackers": tracking.available_trackers(),
            "tracker": config.tracker or tracking.DEFAULT_TRACKER,
            "max_upload": config.max_upload,
            "heartbeat_s": max(1.0, min(5.0, config.heartbeat_timeout / 4)),
            "doubtful": DOUBTFUL,
        }

    # ------------------------------------------------------------------ helpers

    def _store() -> SessionStore:
        if store is None:
            raise InvalidArgumentError("this server shows a live view only (no editor)")
        return store

    def _session(sid: str) -> EditSession:
        return _store().get(sid)

    def _readable(path_text: str, what: str) -> Path:
        path = Path(path_text).expanduser()
        if not path.is_absolute():
            path = (config.root or Path.cwd()) / path
        if config.root is not None:
            root = config.root.resolve()
            if not path.resolve().is_relative_to(root):
                raise _Forbidden(f"{what} {path} is outside {root}, the folder this server may use")
        return path

    def _describe(session: EditSession) -> dict[str, Any]:
        data = session.describe()
        data["timeline"] = session.timeline()
        data["job"] = _job_json(session.job_status())
        folder = session.default_keyframes_folder()
        data["keyframes_folder"] = str(folder) if folder else None
        data["keyframes_folder_exists"] = bool(folder and folder.is_dir())
        return data

    # ------------------------------------------------------------------ sessions

    @app.post("/api/sessions")
    def open_session(body: OpenRequest) -> dict[str, Any]:
        path = _readable(body.path, "video")
        session = _store().open(path)
        try:
            if body.keyframes:
                session.load_keyframes(_readable(body.keyframes, "keyframe folder"))
        except BaseException:
            _store().close_session(session.id)
            raise
        return _describe(session)

    @app.post("/api/upload")
    async def upload(request: Request, name: str = "video.mp4") -> dict[str, Any]:
        s = _store()
        token = secrets.token_hex(6)
        folder = s.work_dir / f"upload-{token}"
        folder.mkdir()
        target = folder / f"{token}-{_safe_name(name)}"
        size = 0
        try:
            with open(target, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > config.max_upload:
                        raise InvalidArgumentError(
                            f"the upload is larger than the limit ({config.max_upload} bytes)"
                        )
                    out.write(chunk)
            if size == 0:
                raise VideoOpenError("the upload is empty")
            session = await run_in_threadpool(s.open, target, uploaded=True)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return _describe(session)

    @app.get("/api/sessions/{sid}")
    def get_session(sid: str) -> dict[str, Any]:
        return _describe(_session(sid))

    @app.delete("/api/sessions/{sid}")
    def close_session(sid: str) -> dict[str, Any]:
        _session(sid)
        _store().close_session(sid)
        return {"closed": sid}

    @app.post("/api/sessions/{sid}/heartbeat")
    def heartbeat(sid: str) -> dict[str, Any]:
        session = _session(sid)
        return {"job": _job_json(session.job_status())}

    @app.post("/api/sessions/{sid}/bye")
    def bye(sid: str) -> Response:
        # navigator.sendBeacon on page hide: unless the page comes back (a reload) within
        # a few seconds, its job is cancelled.
        session = _store().peek(sid)
        if session is not None:
            import time

            session.gone_since = time.monotonic()
        return Response(status_code=204)

    # ------------------------------------------------------------------ pictures

    @app.get("/api/sessions/{sid}/frames/{index}.jpg")
    def frame(sid: str, index: int, w: int = 0) -> Response:
        data = _session(sid).frame_jpeg(index, max(0, min(w, 4096)))
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})

    @app.get("/api/sessions/{sid}/result/frames/{index}.jpg")
    def result_frame(sid: str, index: int, w: int = 0) -> Response:
        data = _session(sid).frame_jpeg(index, max(0, min(w, 4096)), result=True)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/api/sessions/{sid}/masks/{index}.png")
    def mask(sid: str, index: int) -> Response:
        found = _session(sid).mask_png(index)
        if found is None:
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        data, kind = found
        return Response(data, media_type="image/png",
                        headers={"Cache-Control": "no-store", "X-Mask-Kind": kind})

    # ------------------------------------------------------------------ marking

    @app.put("/api/sessions/{sid}/keyframes/{index}")
    async def put_keyframe(sid: str, index: int, request: Request) -> dict[str, Any]:
        session = _session(sid)
        session.check_frame(index)
        body = await request.body()
        if not body:
            raise InvalidMaskError(f"the mark on frame {index} is empty: draw over the object")

        def apply() -> dict[str, Any]:
            mask = decode_mask_png(body, session.width, session.height, what="the mark")
            session.set_keyframe(index, mask)
            return {"timeline": session.timeline()}

        return await run_in_threadpool(apply)

    @app.delete("/api/sessions/{sid}/keyframes/{index}")
    def delete_keyframe(sid: str, index: int) -> dict[str, Any]:
        session = _session(sid)
        if not session.delete_keyframe(index):
            raise InvalidArgumentError(f"frame {index} is not a keyframe")
        return {"timeline": session.timeline()}

    @app.post("/api/sessions/{sid}/snap")
    def snap(sid: str, body: SnapRequest) -> Response:
        session = _session(sid)
        image = session.frame_image(body.frame)
        mask, snapped = snap_to_object(image, body.box)
        return Response(encode_mask_png(mask), media_type="image/png",
                        headers={"X-Snapped": "1" if snapped else "0", "Cache-Control": "no-store"})

    # ------------------------------------------------------------------ jobs

    def _on_end(job: Any) -> None:
        logger.info("job %s (%s): %s", job.id, job.kind, job.status().state)

    @app.post("/api/sessions/{sid}/track")
    def track(sid: str, body: TrackRequest | None = None) -> dict[str, Any]:
        session = _session(sid)
        work = session.track_work((body.tracker if body else None) or config.tracker)
        job = session.start_job("track", work, _store().next_job_id(), _on_end)
        return {"job": _job_json(job.status())}

    @app.post("/api/sessions/{sid}/remove")
    def remove(sid: str, body: RemoveRequest | None = None) -> dict[str, Any]:
        from moebius_video.fill import DEFAULT_FILLER
        from moebius_video.io.masks import DEFAULT_DILATE

        session = _session(sid)
        s = _store()
        fill = (body.fill if body else None) or config.fill or DEFAULT_FILLER
        dilate = body.dilate if body and body.dilate is not None else DEFAULT_DILATE
        with session.lock:
            if session.job is not None and session.job.running:
                raise JobBusyError(
                    f"a {session.job.kind} job is already running in this session; wait or cancel it"
                )
            work = session.remove_work(fill, dilate, s.removal_lock)
            try:
                job = session.start_job("remove", work, s.next_job_id(), _on_end)
            except BaseException:
                s.removal_lock.release()
                raise
        return {"job": _job_json(job.status())}

    @app.get("/api/sessions/{sid}/job")
    def job(sid: str) -> dict[str, Any]:
        session = _session(sid)
        status = session.job_status()
        data: dict[str, Any] = {"job": _job_json(status)}
        data["timeline"] = session.timeline()
        return data

    @app.post("/api/sessions/{sid}/cancel")
    def cancel(sid: str) -> dict[str, Any]:
        session = _session(sid)
        return {"cancelled": session.cancel_job("cancelled by the user")}

    # ------------------------------------------------------------------ files

    @app.get("/api/sessions/{sid}/result.mp4")
    def result(sid: str, download: int = 0) -> Response:
        session = _session(sid)
        path = session.result_file()
        name = f"{Path(session.describe()['name']).stem}.removed.mp4"  # type: ignore[arg-type]
        return FileResponse(path, media_type="video/mp4",
                            filename=name if download else None,
                            content_disposition_type="attachment" if download else "inline",
                            headers={"Cache-Control": "no-store"})

    @app.post("/api/sessions/{sid}/save-result")
    def save_result(sid: str) -> dict[str, Any]:
        session = _session(sid)
        if config.root is not None:
            _readable(str(session.path.parent), "output folder")
        return {"path": str(session.save_result_next_to_input())}

    @app.post("/api/sessions/{sid}/save-keyframes")
    def save_keyframes(sid: str, body: FolderRequest | None = None) -> dict[str, Any]:
        session = _session(sid)
        folder = (_readable(body.folder, "keyframe folder") if body and body.folder
                  else session.default_keyframes_folder())
        if folder is None:
            raise InvalidArgumentError("this video was uploaded: give a folder to save the keyframes in")
        return {"folder": str(session.save_keyframes(folder))}

    @app.post("/api/sessions/{sid}/load-keyframes")
    def load_keyframes(sid: str, body: FolderRequest | None = None) -> dict[str, Any]:
        session = _session(sid)
        folder = (_readable(body.folder, "keyframe folder") if body and body.folder
                  else session.default_keyframes_folder())
        if folder is None:
            raise InvalidArgumentError("this video was uploaded: give the keyframe folder to load")
        loaded = session.load_keyframes(folder)
        return {"keyframes": loaded, "timeline": session.timeline()}

    # ------------------------------------------------------------------ live view

    def _live() -> LiveView:
        if live is None:
            raise InvalidArgumentError("no live source on this server (start it with "
                                       "`moebius-video webcam --http PORT` or `stream ... --http PORT`)")
        return live

    @app.get("/api/live")
    def live_status() -> dict[str, Any]:
        if live is None:
            return {"active": False}
        return {"active": True, **live.stats()}

    @app.get("/live/{channel}.jpg")
    async def live_jpeg(channel: str) -> Response:
        view = _live()
        if channel not in CHANNELS:
            return JSONResponse({"error": f"unknown channel {channel!r}"}, status_code=404)
        for _ in range(100):
            jpeg, _ = view.jpeg(channel)
            if jpeg is not None or view.closed:
                break
            await asyncio.sleep(0.05)
        if jpeg is None:
            return JSONResponse({"error": "no frame yet"}, status_code=503)
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/live/{channel}.mjpg")
    async def live_mjpeg(channel: str, request: Request) -> Response:
        view = _live()
        if channel not in CHANNELS:
            return JSONResponse({"error": f"unknown channel {channel!r}"}, status_code=404)

        async def parts() -> AsyncIterator[bytes]:
            seq = 0
            while not view.closed:
                if view.seq(channel) != seq:
                    jpeg, seq = view.jpeg(channel)
                    if jpeg is not None:
                        yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                               + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        continue
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.02)

        return StreamingResponse(parts(), media_type="multipart/x-mixed-replace; boundary=frame",
                                 headers={"Cache-Control": "no-store"})

    @app.post("/api/live/box")
    def live_box(body: BoxRequest) -> dict[str, Any]:
        view = _live()
        if view.control is None:
            raise InvalidArgumentError("this live source cannot be controlled from the page")
        view.control.set_box(body.box, reference=view.latest("before"))
        return {"box": list(body.box)}

    @app.post("/api/live/clear")
    def live_clear() -> dict[str, Any]:
        view = _live()
        if view.control is None:
            raise InvalidArgumentError("this live source cannot be controlled from the page")
        view.control.clear_mask()
        return {"cleared": True}

    app.add_middleware(
        GuardMiddleware, allowed_hosts=config.allowed_hosts, max_body=config.max_request,
        large_bodies={"/api/upload": config.max_upload},
    )
    return app


__all__ = ["EditorConfig", "create_app"]
