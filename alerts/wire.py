"""The wire contract: what travels over MQTT, validated strictly on the central side.

`EventWire` mirrors `detectors.types.Event.to_dict()` (DESIGN.md). Every parser here takes the raw payload
bytes and either returns a model or raises `WireError` whose `reason` is one short counter name
(`oversized`, `not_utf8`, `not_json`, `schema`), so ingest can count rejections by cause.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

MAX_EVENT_BYTES = 64 * 1024  # an event with its details; anything larger is not ours
MAX_STATS_BYTES = 16 * 1024
MAX_STATE_BYTES = 8 * 1024

Ident = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]  # store columns: 64
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
Seconds = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e11)]
WINDOW_STATES = ("staffed", "empty", "closed", "alert", "unknown")


class WireError(ValueError):
    """A payload that is not ours; `reason` is the counter it is filed under."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EventWire(_Strict):
    """One event as published on `<prefix>/<site>/<node>/events` (QoS 1)."""

    schema_: Literal[1] = Field(alias="schema")
    event_id: EventId
    type: Literal["empty_post", "chatting", "dispute"]
    state: Literal["start", "update", "end"]
    site: Ident
    node: Ident
    camera: Ident
    window: Ident | None
    t: Seconds
    started_at: Seconds
    score: Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)] = 1.0
    people: Annotated[int, Field(ge=0, le=10_000)] | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    clip: Annotated[str, StringConstraints(max_length=1024)] | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class WindowStateWire(_Strict):
    """Retained on `<prefix>/<site>/<node>/windows/<window>/state`."""

    window: Ident
    state: Literal["staffed", "empty", "closed", "alert", "unknown"]
    alert: dict[str, Any] | None = None
    t: Seconds


def _load(payload: bytes, limit: int) -> Any:
    if not isinstance(payload, bytes | bytearray):
        raise WireError("schema", f"payload is {type(payload).__name__}, not bytes")
    if len(payload) > limit:
        raise WireError("oversized", f"{len(payload)} bytes > {limit}")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError("not_utf8", str(exc)) from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise WireError("not_json", str(exc)[:120]) from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" + (f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else "")


_M = TypeVar("_M", bound=BaseModel)


def _parse_object(payload: bytes, max_bytes: int, model: type[_M]) -> _M:
    data = _load(payload, max_bytes)
    if not isinstance(data, dict):
        raise WireError("schema", f"expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise WireError("schema", _first_error(exc)) from None


def parse_event(payload: bytes) -> EventWire:
    return _parse_object(payload, MAX_EVENT_BYTES, EventWire)


def parse_window_state(payload: bytes) -> WindowStateWire:
    return _parse_object(payload, MAX_STATE_BYTES, WindowStateWire)


def parse_status(payload: bytes) -> str:
    """`online` or `offline` (the LWT)."""
    if payload not in (b"online", b"offline"):
        raise WireError("schema", f"status must be online or offline, got {bytes(payload[:40])!r}")
    return payload.decode()


def parse_stats(payload: bytes) -> dict[str, Any]:
    data = _load(payload, MAX_STATS_BYTES)
    if not isinstance(data, dict):
        raise WireError("schema", f"stats must be a JSON object, got {type(data).__name__}")
    return data
