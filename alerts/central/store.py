"""The alarm store: SQLAlchemy 2 tables and versioned migrations, the same code for SQLite and PostgreSQL.

Tables: `events` (every stored event once: `dedupe_key` is `event_id|state`, and for `update` events also
`|t`, so a redelivery is dropped while distinct updates are kept), `alarms` (one per incident, with the
manager's lifecycle), `nodes`, `window_states`, `clips`, `clip_audit`, `users`, `tokens`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # arrival order
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    event_id: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(32))
    site: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64), index=True)
    camera: Mapped[str] = mapped_column(String(64))
    window: Mapped[str | None] = mapped_column(String(64), nullable=True)
    t: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    people: Mapped[int | None] = mapped_column(Integer, nullable=True)
    details: Mapped[dict] = mapped_column(JSON)
    clip: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[float] = mapped_column(Float)


class Alarm(Base):
    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    type: Mapped[str] = mapped_column(String(32), index=True)  # empty_post|chatting|dispute|node_offline
    site: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str | None] = mapped_column(String(64), nullable=True)
    window: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    started_at: Mapped[float] = mapped_column(Float)  # the event's own clock (media time in replay)
    opened_at: Mapped[float] = mapped_column(Float, index=True)  # wall clock at the central service
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # condition ongoing (no `end` yet)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open|acked|resolved
    score: Mapped[float] = mapped_column(Float, default=1.0)
    people: Mapped[int | None] = mapped_column(Integer, nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    ack_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ack_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    ack_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    escalated_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    keep: Mapped[bool] = mapped_column(Boolean, default=False)


class Node(Base):
    __tablename__ = "nodes"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    changed_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_seen: Mapped[float] = mapped_column(Float, default=0.0)
    stats: Mapped[dict] = mapped_column(JSON, default=dict)


class WindowState(Base):
    __tablename__ = "window_states"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    alert: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[float] = mapped_column(Float)


class Clip(Base):
    __tablename__ = "clips"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # video|snapshot
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    keep: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by retention (alerts/central/retention.py): the file is gone, the row stays for the audit trail.
    deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    deleted_reason: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)


class ClipAudit(Base):
    __tablename__ = "clip_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    clip_id: Mapped[str] = mapped_column(String(32), ForeignKey("clips.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)
    action: Mapped[str] = mapped_column(String(16))  # view|download
    byte_range: Mapped[str | None] = mapped_column(String(64), nullable=True)


class User(Base):
    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    pw_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Token(Base):
    __tablename__ = "tokens"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), ForeignKey("users.username"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # session|api
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[float] = mapped_column(Float)


def _v1(conn: Any) -> None:
    """The first schema: every table above, as declared."""
    Base.metadata.create_all(conn, tables=[t for name, t in Base.metadata.tables.items() if name != "schema_version"])


def _v2(conn: Any) -> None:
    """Clip retention on central: clips.deleted_at and clips.deleted_reason (a database made by _v1 of this
    code already has them: _v1 creates the tables as declared now)."""
    have = {c["name"] for c in inspect(conn).get_columns("clips")}
    for name, sql_type in (("deleted_at", "FLOAT"), ("deleted_reason", "TEXT")):
        if name not in have:
            conn.execute(text(f"ALTER TABLE clips ADD COLUMN {name} {sql_type}"))


# Ordered migrations: (version, function). A later schema change appends (n, _vn) with portable DDL, so
# SQLite and PostgreSQL run the same steps.
MIGRATIONS: list[tuple[int, Any]] = [(1, _v1), (2, _v2)]


def migrate(engine: Engine) -> int:
    """Bring the database to the newest schema; returns the version now in place."""
    Base.metadata.create_all(engine, tables=[SchemaVersion.__table__])
    with engine.begin() as conn:
        current = conn.execute(select(SchemaVersion.version).order_by(SchemaVersion.version.desc())).first()
        have = current[0] if current else 0
        for version, step in MIGRATIONS:
            if version > have:
                log.info("migrating the alarm store to schema %d", version)
                step(conn)
                conn.execute(SchemaVersion.__table__.insert().values(version=version, applied_at=time.time()))
                have = version
    return have


def _pg_driver(url: str) -> str:
    """`postgresql://` means psycopg 3 (the `postgres` extra) unless psycopg2 is what is installed."""
    if url.startswith("postgresql://"):
        import importlib.util

        if importlib.util.find_spec("psycopg") is not None or importlib.util.find_spec("psycopg2") is None:
            return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def open_store(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Engine + session factory for `url`, migrated. SQLite gets WAL and a busy timeout, since the MQTT
    thread writes while web requests read."""
    if url.startswith("sqlite:///"):
        from pathlib import Path

        db_path = url.removeprefix("sqlite:///")
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        engine = create_engine(_pg_driver(url), pool_pre_ping=True)
    migrate(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def alarm_dict(a: Alarm, clips: list[Clip] | None = None) -> dict[str, Any]:
    """JSON view of an alarm (REST API and live stream)."""
    d = {c: getattr(a, c) for c in ("id", "event_id", "type", "site", "node", "camera", "window", "started_at",
                                    "opened_at", "closed_at", "active", "status", "score", "people",
                                    "details", "ack_by", "ack_note", "ack_at", "resolved_by", "resolved_at",
                                    "escalated_at", "keep")}
    if clips is not None:
        d["clips"] = [clip_dict(c) for c in clips]
    return d


def clip_dict(c: Clip) -> dict[str, Any]:
    return {"id": c.id, "event_id": c.event_id, "kind": c.kind, "url": f"/clips/{c.id}", "sha256": c.sha256,
            "size": c.size, "created_at": c.created_at, "keep": c.keep, "deleted": c.deleted_at is not None,
            "deleted_reason": c.deleted_reason}


def protected_event_ids(session: Session) -> set[str]:
    """Event ids whose clips retention must not delete: alarms not yet resolved, and anything marked keep."""
    ids = set(session.scalars(select(Alarm.event_id).where((Alarm.status != "resolved") | Alarm.active
                                                           | Alarm.keep)))
    ids |= set(session.scalars(select(Clip.event_id).where(Clip.keep)))
    return ids


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
