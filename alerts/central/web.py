"""The web app: FastAPI factory, the shared context, and login/role checks used by every route.

Every page and API call needs a login: a browser session cookie (`hw_session`, HttpOnly, SameSite=Strict)
or `Authorization: Bearer <token>` for API clients. Pages redirect to /login when not logged in; API calls
answer 401. A role that lacks the permission gets 403 (alerts.central.auth.PERMISSIONS).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from alerts.central.auth import can, user_for_token
from alerts.central.config import CentralConfig
from alerts.central.live import Bus
from alerts.central.store import User

SESSION_COOKIE = "hw_session"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["ts"] = lambda t: "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


@dataclass
class AppContext:
    """What the routes share: config, store sessions, the live bus and a `notify` to announce changes."""

    cfg: CentralConfig
    sessions: sessionmaker[Session]
    bus: Bus
    notify: Callable[[str, dict[str, Any]], None]
    counters: Callable[[], dict[str, Any]] = field(default=lambda: {})


@dataclass(frozen=True)
class Principal:
    username: str
    role: str

    def can(self, perm: str) -> bool:
        return can(self.role, perm)


class NotLoggedIn(Exception):
    pass


def ctx_of(request: Request) -> AppContext:
    return request.app.state.ctx


def _token(request: Request) -> tuple[str | None, str | None]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), "api"
    return request.cookies.get(SESSION_COOKIE), "session"


def current_user(request: Request) -> Principal:
    token, kind = _token(request)
    if not token:
        raise NotLoggedIn()
    with ctx_of(request).sessions() as s:
        user: User | None = user_for_token(s, token, kind)
        s.commit()
        if user is None:
            raise NotLoggedIn()
        return Principal(user.username, user.role)


def require(perm: str) -> Callable[..., Principal]:
    """A dependency: the logged-in user, who must hold `perm` (else 403)."""

    def dep(user: Annotated[Principal, Depends(current_user)]) -> Principal:
        if not user.can(perm):
            raise HTTPException(403, f"role {user.role} may not {perm.replace('_', ' ')}")
        return user

    return dep


def _wants_html(request: Request) -> bool:
    path = request.url.path
    return not path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def create_app(ctx: AppContext) -> FastAPI:
    from alerts.central import api, clips, pages

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import asyncio

        ctx.bus.attach(asyncio.get_running_loop())
        yield
        ctx.bus.close()

    app = FastAPI(title="HallWatch central", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # every route needs a login; the API is described in api.py
    app.state.ctx = ctx

    @app.exception_handler(NotLoggedIn)
    async def _not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse({"detail": "login required"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(clips.router)
    return app
