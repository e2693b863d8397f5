"""Evidence clips: upload from edge nodes, and serving to the roles that may see them, with an audit log.

POST /api/clips (role `node`): multipart form `event_id`, `kind` (video|snapshot), `sha256`, `file`. The file
is streamed to disk while hashed; a hash mismatch answers 400 and keeps nothing. 201 {"url": "/clips/<id>"}.
GET /clips/<id> (manager, supervisor, admin): the file with HTTP Range support (a browser <video> seeks),
and one `clip_audit` row per view: a request without Range or starting at byte 0 counts as one view (a
playing <video> sends several Range requests for the same view); `?download=1` is logged as a download.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import UploadFile

from alerts.central.store import Clip, ClipAudit, clip_dict
from alerts.central.web import AppContext, Principal, ctx_of, require

log = logging.getLogger(__name__)
router = APIRouter()
MEDIA = {"video": ("video/mp4", ".mp4"), "snapshot": ("image/jpeg", ".jpg")}
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


@router.post("/api/clips", status_code=201)
async def upload_clip(request: Request, user: Annotated[Principal, Depends(require("upload_clips"))]) -> Any:
    ctx: AppContext = ctx_of(request)
    limit = int(ctx.cfg.http.max_clip_mb * 1024 * 1024)
    form = await request.form()
    event_id, kind, sha = (str(form.get(k) or "") for k in ("event_id", "kind", "sha256"))
    upload = form.get("file")
    if not _EVENT_ID.match(event_id):
        raise HTTPException(400, "event_id: expected 1-128 characters of A-Z a-z 0-9 _ . : -")
    if kind not in MEDIA:
        raise HTTPException(400, f"kind {kind[:20]!r}: expected video or snapshot")
    if not _SHA.match(sha.lower()):
        raise HTTPException(400, "sha256: expected 64 hex digits")
    if not isinstance(upload, UploadFile):
        raise HTTPException(400, "file: expected a file part")
    media_type, ext = MEDIA[kind]
    clip_id = uuid.uuid4().hex
    folder = Path(ctx.cfg.clips_dir)
    folder.mkdir(parents=True, exist_ok=True)
    final, part = folder / f"{clip_id}{ext}", folder / f"{clip_id}{ext}.part"
    digest, size = hashlib.sha256(), 0
    with part.open("wb") as fh:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                fh.close()
                part.unlink(missing_ok=True)
                raise HTTPException(413, f"clip larger than {ctx.cfg.http.max_clip_mb} MB")
            digest.update(chunk)
            fh.write(chunk)
    if digest.hexdigest() != sha.lower():
        part.unlink(missing_ok=True)
        log.warning("clip upload for %s by %s: sha256 mismatch", event_id, user.username)
        raise HTTPException(400, "sha256 does not match the uploaded file")
    os.replace(part, final)
    with ctx.sessions() as s:
        row = Clip(id=clip_id, event_id=event_id, kind=kind, path=str(final), sha256=sha.lower(), size=size,
                   media_type=media_type, uploaded_by=user.username, created_at=time.time(), keep=False)
        s.add(row)
        s.commit()
        data = clip_dict(row)
    ctx.notify("clip", data)
    return JSONResponse({"url": data["url"], "id": clip_id}, status_code=201)


@router.get("/clips/{clip_id}")
def serve_clip(clip_id: str, request: Request, user: Annotated[Principal, Depends(require("view_clips"))],
               download: bool = False) -> FileResponse:
    ctx: AppContext = ctx_of(request)
    rng = request.headers.get("range")
    with ctx.sessions() as s:
        clip = s.get(Clip, clip_id)
        if clip is not None and clip.deleted_at is not None:
            raise HTTPException(410, f"clip {clip_id[:40]} was deleted by retention ({clip.deleted_reason})")
        if clip is None or not Path(clip.path).is_file():
            raise HTTPException(404, f"no clip {clip_id[:40]}")
        if download or rng is None or re.match(r"^bytes=0-", rng):
            s.add(ClipAudit(clip_id=clip.id, username=user.username, at=time.time(),
                            action="download" if download else "view", byte_range=(rng or "")[:64] or None))
            s.commit()
        path, media_type = clip.path, clip.media_type
    name = f"{clip_id}{Path(path).suffix}"
    return FileResponse(path, media_type=media_type, filename=name if download else None,
                        content_disposition_type="attachment" if download else "inline")


@router.post("/api/clips/{clip_id}/keep")
def keep_clip(clip_id: str, request: Request, user: Annotated[Principal, Depends(require("keep"))],
              keep: bool = True) -> dict[str, Any]:
    ctx: AppContext = ctx_of(request)
    with ctx.sessions() as s:
        clip = s.get(Clip, clip_id)
        if clip is None:
            raise HTTPException(404, f"no clip {clip_id[:40]}")
        clip.keep = keep
        s.commit()
        return clip_dict(clip)
