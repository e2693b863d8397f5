"""Server-rendered pages: login, live dashboard, alarm list with filters, alarm detail, nodes.

The dashboard renders from the JSON API and re-reads it whenever the SSE stream (/api/stream) announces a
change, so new alerts appear without a reload.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts.central.api import ALARM_TYPES, alarm_or_404, change_alarm, clips_of, query_alarms
from alerts.central.auth import issue_token, login, revoke_token
from alerts.central.store import alarm_dict
from alerts.central.web import SESSION_COOKIE, TEMPLATES, AppContext, Principal, ctx_of, current_user, require

router = APIRouter()
User = Annotated[Principal, Depends(current_user)]
Ctx = Annotated[AppContext, Depends(ctx_of)]


def _page(request: Request, name: str, user: Principal | None, **kw: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, {"user": user, **kw})


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login")
def login_submit(request: Request, ctx: Ctx, username: Annotated[str, Form(max_length=64)],
                 password: Annotated[str, Form(max_length=1024)], next: Annotated[str, Form()] = "/") -> Response:
    with ctx.sessions() as s:
        user = login(s, username, password)
        if user is None:
            return TEMPLATES.TemplateResponse(request, "login.html", {"user": None, "next": _safe_next(next),
                                              "error": "Wrong username or password."}, status_code=401)
        token = issue_token(s, user.username, "session", ttl_s=ctx.cfg.http.session_hours * 3600)
        s.commit()
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                    max_age=int(ctx.cfg.http.session_hours * 3600))
    return resp


@router.post("/logout")
def logout(request: Request, ctx: Ctx) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with ctx.sessions() as s:
            revoke_token(s, token)
            s.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: User) -> HTMLResponse:
    if user.role == "node":
        raise HTTPException(403, "role node has no pages")
    return _page(request, "dashboard.html", user)


@router.get("/alarms", response_class=HTMLResponse)
def alarms_page(request: Request, ctx: Ctx, user: Annotated[Principal, Depends(require("view_alarms"))],
                window: str = "", type: str = "", day: str = "", status: str = "") -> HTMLResponse:
    with ctx.sessions() as s:
        rows = [alarm_dict(a) for a in query_alarms(s, window=window or None, type=type or None,
                                                    day=day or None, status=status or None, limit=500)]
    return _page(request, "alarms.html", user, alarms=rows, types=ALARM_TYPES,
                 f={"window": window, "type": type, "day": day, "status": status})


@router.get("/alarms/{alarm_id}", response_class=HTMLResponse)
def alarm_page(alarm_id: int, request: Request, ctx: Ctx,
               user: Annotated[Principal, Depends(require("view_alarms"))], error: str = "") -> HTMLResponse:
    with ctx.sessions() as s:
        a = alarm_or_404(s, alarm_id)
        data = alarm_dict(a, clips_of(s, a.event_id))
    videos = [c for c in data["clips"] if c["kind"] == "video" and not c["deleted"]]
    snaps = [c for c in data["clips"] if c["kind"] == "snapshot" and not c["deleted"]]
    deleted = [c for c in data["clips"] if c["deleted"]]
    return _page(request, "alarm.html", user, a=data, videos=videos, snapshots=snaps, deleted=deleted,
                 error=error, now=time.time())


@router.post("/alarms/{alarm_id}/{action}")
def alarm_action(alarm_id: int, action: str, ctx: Ctx, user: User,
                 note: Annotated[str, Form(max_length=2000)] = "",
                 keep: Annotated[str, Form()] = "1") -> Response:
    perm = {"ack": "ack", "resolve": "resolve", "keep": "keep"}.get(action)
    if perm is None:
        raise HTTPException(404, f"no action {action[:20]}")
    if not user.can(perm):
        raise HTTPException(403, f"role {user.role} may not {action}")
    try:
        change_alarm(ctx, alarm_id, user, action, note, keep=keep == "1")
    except HTTPException as exc:
        if exc.status_code != 409:
            raise
        return RedirectResponse(f"/alarms/{alarm_id}?error={exc.detail}", status_code=303)
    return RedirectResponse(f"/alarms/{alarm_id}", status_code=303)


@router.get("/nodes", response_class=HTMLResponse)
def nodes_page(request: Request, user: Annotated[Principal, Depends(require("view_nodes"))]) -> HTMLResponse:
    return _page(request, "nodes.html", user)
