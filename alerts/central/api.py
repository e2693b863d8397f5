"""JSON REST API (the same data as the pages) and the live event stream.

GET /api/alarms?window=&type=&day=YYYY-MM-DD&status=&active=&node=&limit=&offset=, GET /api/alarms/{id},
POST /api/alarms/{id}/ack {"note"}, POST /api/alarms/{id}/resolve {"note"}, POST /api/alarms/{id}/keep
{"keep"}, GET /api/events, GET /api/nodes, GET /api/windows, GET /api/health, GET /api/stream (SSE),
POST /api/token (username + password -> API token), GET /api/me.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.central.auth import issue_token, login
from alerts.central.store import Alarm, Clip, EventRow, Node, WindowState, alarm_dict
from alerts.central.web import AppContext, Principal, ctx_of, current_user, require

router = APIRouter(prefix="/api")
ALARM_TYPES = ("empty_post", "chatting", "dispute", "node_offline")


def day_bounds(day: str) -> tuple[float, float]:
    """Local-time epoch bounds of `YYYY-MM-DD`; 400 on a malformed day."""
    try:
        d = dt.datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise HTTPException(400, f"day {day!r}: expected YYYY-MM-DD") from None
    start = d.timestamp()
    return start, (d + dt.timedelta(days=1)).timestamp()


def query_alarms(s: Session, *, window: str | None = None, type: str | None = None, day: str | None = None,
                 status: str | None = None, active: bool | None = None, node: str | None = None,
                 limit: int = 100, offset: int = 0) -> list[Alarm]:
    q = select(Alarm)
    if window:
        q = q.where(Alarm.window == window)
    if type:
        q = q.where(Alarm.type == type)
    if day:
        lo, hi = day_bounds(day)
        q = q.where(Alarm.opened_at >= lo, Alarm.opened_at < hi)
    if status == "unresolved":
        q = q.where(Alarm.status != "resolved")
    elif status:
        q = q.where(Alarm.status == status)
    if active is not None:
        q = q.where(Alarm.active == active)
    if node:
        q = q.where(Alarm.node == node)
    q = q.order_by(Alarm.id.desc()).limit(max(1, min(limit, 1000))).offset(max(0, offset))
    return list(s.scalars(q))


def alarm_or_404(s: Session, alarm_id: int) -> Alarm:
    alarm = s.get(Alarm, alarm_id)
    if alarm is None:
        raise HTTPException(404, f"no alarm {alarm_id}")
    return alarm


def clips_of(s: Session, event_id: str) -> list[Clip]:
    return list(s.scalars(select(Clip).where(Clip.event_id == event_id).order_by(Clip.created_at)))


def change_alarm(ctx: AppContext, alarm_id: int, user: Principal, action: str, note: str | None = None,
                 keep: bool | None = None) -> dict[str, Any]:
    """ack / resolve / keep, with the lifecycle rules: ack only an open alarm, resolve an open or acked one
    (409 otherwise). Announces the change."""
    now = time.time()
    with ctx.sessions() as s:
        a = alarm_or_404(s, alarm_id)
        if action == "ack":
            if a.status != "open":
                raise HTTPException(409, f"alarm {alarm_id} is {a.status}, not open")
            a.status, a.ack_by, a.ack_at, a.ack_note = "acked", user.username, now, (note or "")[:2000]
        elif action == "resolve":
            if a.status == "resolved":
                raise HTTPException(409, f"alarm {alarm_id} is already resolved")
            if a.ack_at is None:
                a.ack_by, a.ack_at, a.ack_note = user.username, now, (note or "")[:2000]
            a.status, a.resolved_by, a.resolved_at = "resolved", user.username, now
        elif action == "keep":
            a.keep = bool(keep)
            for c in clips_of(s, a.event_id):
                c.keep = bool(keep)
        s.commit()
        data = alarm_dict(a, clips_of(s, a.event_id))
    ctx.notify({"ack": "acked", "resolve": "resolved", "keep": "kept"}[action], data)
    return data


Ctx = Annotated[AppContext, Depends(ctx_of)]
Viewer = Annotated[Principal, Depends(require("view_alarms"))]


@router.get("/alarms")
def list_alarms(ctx: Ctx, _: Viewer, window: str | None = None, type: str | None = None,
                day: str | None = None, status: str | None = None, active: bool | None = None,
                node: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    with ctx.sessions() as s:
        return [alarm_dict(a) for a in query_alarms(s, window=window, type=type, day=day, status=status,
                                                    active=active, node=node, limit=limit, offset=offset)]


@router.get("/alarms/{alarm_id}")
def get_alarm(alarm_id: int, ctx: Ctx, _: Viewer) -> dict[str, Any]:
    with ctx.sessions() as s:
        a = alarm_or_404(s, alarm_id)
        return alarm_dict(a, clips_of(s, a.event_id))


@router.post("/alarms/{alarm_id}/ack")
def ack(alarm_id: int, ctx: Ctx, user: Annotated[Principal, Depends(require("ack"))],
        note: Annotated[str, Body(embed=True, max_length=2000)] = "") -> dict[str, Any]:
    return change_alarm(ctx, alarm_id, user, "ack", note)


@router.post("/alarms/{alarm_id}/resolve")
def resolve(alarm_id: int, ctx: Ctx, user: Annotated[Principal, Depends(require("resolve"))],
            note: Annotated[str, Body(embed=True, max_length=2000)] = "") -> dict[str, Any]:
    return change_alarm(ctx, alarm_id, user, "resolve", note)


@router.post("/alarms/{alarm_id}/keep")
def keep(alarm_id: int, ctx: Ctx, user: Annotated[Principal, Depends(require("keep"))],
         keep: Annotated[bool, Body(embed=True)] = True) -> dict[str, Any]:
    return change_alarm(ctx, alarm_id, user, "keep", keep=keep)


@router.get("/events")
def list_events(ctx: Ctx, _: Viewer, event_id: str | None = None, node: str | None = None,
                after_id: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    q = select(EventRow).where(EventRow.id > after_id)
    if event_id:
        q = q.where(EventRow.event_id == event_id)
    if node:
        q = q.where(EventRow.node == node)
    cols = ("id", "event_id", "state", "type", "site", "node", "camera", "window", "t", "started_at", "score",
            "people", "details", "clip", "received_at")
    with ctx.sessions() as s:
        rows = s.scalars(q.order_by(EventRow.id).limit(max(1, min(limit, 10000))))
        return [{c: getattr(r, c) for c in cols} for r in rows]


@router.get("/nodes")
def list_nodes(ctx: Ctx, _: Annotated[Principal, Depends(require("view_nodes"))]) -> list[dict[str, Any]]:
    with ctx.sessions() as s:
        return [{"site": n.site, "node": n.node, "status": n.status, "changed_at": n.changed_at,
                 "last_seen": n.last_seen, "stats": n.stats} for n in s.scalars(select(Node).order_by(Node.node))]


@router.get("/windows")
def list_windows(ctx: Ctx, _: Annotated[Principal, Depends(require("view_nodes"))]) -> list[dict[str, Any]]:
    """Per-window board: `staffed|empty|closed|unknown`, or `alert` while an alarm on it is active."""
    with ctx.sessions() as s:
        alarmed = {(a.site, a.node, a.window) for a in s.scalars(select(Alarm).where(Alarm.active,
                                                                                     Alarm.window.is_not(None)))}
        rows = s.scalars(select(WindowState).order_by(WindowState.node, WindowState.window)).all()
        out = {(w.site, w.node, w.window): {"site": w.site, "node": w.node, "window": w.window,
                                            "state": "alert" if (w.site, w.node, w.window) in alarmed or w.alert
                                            else w.state, "reported": w.state, "alert": w.alert,
                                            "updated_at": w.updated_at} for w in rows}
        for key in alarmed - out.keys():
            out[key] = {"site": key[0], "node": key[1], "window": key[2], "state": "alert", "reported": None,
                        "alert": None, "updated_at": None}
        return sorted(out.values(), key=lambda w: (w["node"], w["window"]))


@router.get("/health")
def health(ctx: Ctx, _: Annotated[Principal, Depends(require("view_nodes"))]) -> dict[str, Any]:
    return {**ctx.counters(), "live_listeners": ctx.bus.listeners, "live_dropped": ctx.bus.dropped}


@router.get("/me")
def me(user: Annotated[Principal, Depends(current_user)]) -> dict[str, str]:
    return {"username": user.username, "role": user.role}


@router.post("/token")
def token(ctx: Ctx, username: Annotated[str, Body(max_length=64)],
          password: Annotated[str, Body(max_length=1024)]) -> dict[str, str]:
    """Exchange a username and password for an API token (send it as `Authorization: Bearer <token>`)."""
    with ctx.sessions() as s:
        user = login(s, username, password)
        if user is None:
            raise HTTPException(401, "wrong username or password")
        tok = issue_token(s, user.username, "api")
        s.commit()
        return {"token": tok, "role": user.role}


@router.get("/stream")
async def stream(request: Request, user: Annotated[Principal, Depends(current_user)]) -> StreamingResponse:
    """Server-Sent Events: `{"kind": opened|updated|closed|acked|resolved|escalated|kept|window|node_*,
    "data": {...}}`; alarm messages only to roles that may see alarms."""
    bus = ctx_of(request).bus

    async def gen() -> Any:
        async for line in bus.stream():
            if await request.is_disconnected():
                return
            if line.startswith("data: ") and not user.can("view_alarms") and '"kind": "node_' not in line \
                    and '"kind": "window"' not in line:
                continue
            yield line

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
