"""The calibration web app: the zone editor page and its small JSON API.

`create_calibration_router(config_path, dependencies=...)` gives an APIRouter that the central service can
mount behind its technician login; `create_calibration_app(config_path, token=...)` wraps it standalone
(`hallwatch calibrate`), guarded by a random token in the URL that the first page load turns into an
HttpOnly cookie. All page URLs are relative, so the router works under any prefix.

API (JSON unless said):
    GET  /                         the editor page
    GET  /api/config               cameras, microphones and the editable state (CalibrationState)
    GET  /api/snapshot/{cam}?t=s   JPEG of the camera at t seconds (files) or now (live)
    POST /api/floor/check          {image, metres} -> {residual_m, grid_rel, step_m} or 422 {detail}
    POST /api/mic/{mic}/record     {kind, seconds, start_s} -> per-frame levels, level_db, pitch_hz
    POST /api/save                 CalibrationState -> {backup} or 422/409 {detail}
    GET  /api/live/{cam}           MJPEG stream of the preview (zones, people, timers, alerts)
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from calibration import mic_baseline
from calibration.config_writer import ConfigChangedError, ConfigDocument
from calibration.floor_fit import FloorCalibrationError, check_floor
from calibration.snapshot import SnapshotError, encode_jpeg, grab_frame, placeholder
from calibration.state import CalibrationState
from detectors.config import FloorConfig
from edge.config import ConfigError, NodeConfig, resolve_paths

if TYPE_CHECKING:
    from edge.pipeline import Detector

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
STATIC = {"editor.js": "text/javascript", "panels.js": "text/javascript", "editor.css": "text/css"}
COOKIE = "hallwatch_calibrate"
SNAPSHOT_CACHE = 32  # JPEGs kept per session (camera, second)


class RecordRequest(BaseModel):
    kind: Literal["ambient", "speech"]
    seconds: float = Field(5.0, gt=0, le=120)
    start_s: float = Field(0.0, ge=0, description="where to start reading a recorded file")


def _message(exc: ValidationError) -> str:
    """pydantic's errors as one line: "loc: message; ..." (no loc for whole-model checks)."""
    parts = []
    for e in exc.errors():
        loc = ".".join(map(str, e["loc"]))
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


class _Session:
    """The config being edited, with a lock so two saves never interleave."""

    def __init__(self, config_path: Path) -> None:
        self.doc = ConfigDocument(config_path)
        self.lock = threading.Lock()
        self.snapshots: dict[tuple[str, float], bytes] = {}

    def resolved(self) -> NodeConfig:
        """The loaded model with file paths made absolute (for opening sources)."""
        return resolve_paths(self.doc.model.model_copy(deep=True), self.doc.path.parent)


def create_calibration_router(config_path: str | Path, *, dependencies: Sequence[Any] = (),
                              detector: Detector | None = None) -> APIRouter:
    """The editor's routes for `config_path`; `dependencies` guard every route (e.g. a login check).
    `detector` is used by the live preview (default: the config's model, loaded when the view opens)."""
    session = _Session(Path(config_path))
    router = APIRouter(dependencies=list(dependencies))

    @router.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse((PACKAGE_DIR / "templates" / "editor.html").read_text(encoding="utf-8"))

    @router.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in STATIC:
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(PACKAGE_DIR / "static" / name, media_type=STATIC[name])

    @router.get("/api/config")
    def config() -> dict[str, Any]:
        cfg = session.resolved()
        return {
            "path": str(session.doc.path), "site": cfg.site, "node": cfg.node,
            "cameras": [{"id": c.id, "source": c.source, "file": Path(c.source).is_file()} for c in cfg.cameras],
            "microphones": [{"id": m.id, "source": m.source, "gain_db": m.gain_db,
                             "file": Path(m.source).is_file()} for m in cfg.microphones],
            "state": session.doc.state().model_dump(),
        }

    @router.get("/api/snapshot/{camera}")
    def snapshot(camera: str, t: float = Query(0.0, ge=0), fresh: bool = False) -> Response:
        cfg = session.resolved()
        try:
            source = cfg.camera(camera).source
        except KeyError:
            raise HTTPException(404, f"no camera {camera!r} in the config") from None
        key = (camera, round(t, 2))
        headers = {"Cache-Control": "no-store"}
        if fresh or key not in session.snapshots:
            try:
                image = grab_frame(source, at_s=t)
            except SnapshotError as exc:
                log.warning("%s", exc)
                headers["X-Snapshot-Error"] = str(exc).encode("ascii", "replace").decode()
                return Response(encode_jpeg(placeholder(str(exc))), media_type="image/jpeg", headers=headers)
            session.snapshots[key] = encode_jpeg(image)
            while len(session.snapshots) > SNAPSHOT_CACHE:  # oldest first (dicts keep insertion order)
                session.snapshots.pop(next(iter(session.snapshots)))
        return Response(session.snapshots[key], media_type="image/jpeg", headers=headers)

    @router.post("/api/floor/check")
    def floor_check(body: dict[str, Any]) -> JSONResponse:
        try:  # FloorConfig itself fits the map (detectors.floor) and says why it is refused
            fit = check_floor(FloorConfig.model_validate(body))
        except (ValidationError, FloorCalibrationError) as exc:
            why = _message(exc) if isinstance(exc, ValidationError) else str(exc)
            return JSONResponse({"detail": f"floor calibration refused: {why}"}, status_code=422)
        return JSONResponse({"residual_m": round(fit.residual_m, 3), "grid_rel": fit.grid_rel,
                             "step_m": fit.step_m})

    @router.post("/api/mic/{mic}/record")
    def mic_record(mic: str, req: RecordRequest) -> JSONResponse:
        cfg = session.resolved()
        mics = {m.id: m for m in cfg.microphones}
        if mic not in mics:
            raise HTTPException(404, f"no microphone {mic!r} in the config")
        try:
            audio = mic_baseline.record(mics[mic].source, seconds=req.seconds, start_s=req.start_s,
                                        gain_db=mics[mic].gain_db)
            rec = mic_baseline.measure(audio, req.kind, cfg.rules.dispute.baseline)
        except mic_baseline.MicError as exc:
            return JSONResponse({"detail": f"{mic}: {exc}"}, status_code=422)
        return JSONResponse({"kind": rec.kind, "levels_db": rec.levels_db, "level_db": round(rec.level_db, 2),
                             "speech_s": round(rec.speech_s, 2),
                             "pitch_hz": None if rec.pitch_hz is None else round(rec.pitch_hz, 1)})

    @router.post("/api/save")
    def save(body: dict[str, Any]) -> JSONResponse:
        try:
            state = CalibrationState.model_validate(body)
        except ValidationError as exc:
            return JSONResponse({"detail": f"not saved: {_message(exc)}"}, status_code=422)
        with session.lock:
            try:
                backup = session.doc.save(state)
            except ConfigChangedError as exc:
                return JSONResponse({"detail": f"not saved: {exc}"}, status_code=409)
            except ConfigError as exc:
                return JSONResponse({"detail": f"not saved: {exc}"}, status_code=422)
        return JSONResponse({"path": str(session.doc.path), "backup": None if backup is None else str(backup)})

    @router.get("/api/live/{camera}")
    def live(camera: str, t: float = Query(0.0, ge=0)) -> StreamingResponse:
        from calibration.preview import mjpeg_stream  # heavy (detector); only when asked for

        cfg = session.resolved()
        try:
            cfg.camera(camera)
        except KeyError:
            raise HTTPException(404, f"no camera {camera!r} in the config") from None
        return StreamingResponse(mjpeg_stream(cfg, camera, start_s=t, detector=detector),
                                 media_type="multipart/x-mixed-replace; boundary=frame")

    return router


def create_calibration_app(config_path: str | Path, *, token: str | None = None,
                           detector: Detector | None = None) -> FastAPI:
    """A standalone app for `hallwatch calibrate`. With `token`, every request needs `?token=` once (the
    page load sets a cookie) or the cookie; without it there is no check (only for tests or when another
    layer guards the port)."""

    def check_token(request: Request) -> None:
        if token is None:
            return
        given = request.query_params.get("token") or request.cookies.get(COOKIE) or ""
        if not secrets.compare_digest(given, token):
            raise HTTPException(401, "open the URL that `hallwatch calibrate` printed (it holds the token)")

    app = FastAPI(title="HallWatch calibration", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(create_calibration_router(config_path, dependencies=[Depends(check_token)],
                                                 detector=detector))

    if token is not None:
        @app.middleware("http")
        async def set_cookie(request: Request, call_next: Any) -> Response:
            response = await call_next(request)
            if request.query_params.get("token") == token:
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response

    return app
