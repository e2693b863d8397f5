"""The clip uploader against a real HTTP server speaking the central service's `POST /api/clips`
contract: an outage loses nothing (retries, on-disk queue across restarts), a bad token is not retried."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
import uvicorn
from fastapi import FastAPI, File, Form, Header, HTTPException, UploadFile
from fastapi.responses import JSONResponse

from storage.config import ClipUploadConfig
from storage.index import ClipIndex
from storage.uploader import ClipUploader, read_token

TOKEN = "node-token-123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Central:
    """A minimal central service on loopback: checks the bearer token and the sha256, keeps the files."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[dict] = []
        app = FastAPI()

        @app.post("/api/clips", status_code=201)
        async def upload(event_id: Annotated[str, Form()], kind: Annotated[str, Form()],
                         sha256: Annotated[str, Form()], file: Annotated[UploadFile, File()],
                         authorization: Annotated[str, Header()] = "") -> JSONResponse:
            if authorization != f"Bearer {TOKEN}":
                raise HTTPException(401, "bad token")
            data = await file.read()
            if hashlib.sha256(data).hexdigest() != sha256:
                raise HTTPException(400, "sha256 mismatch")
            self.received.append({"event_id": event_id, "kind": kind, "data": data})
            return JSONResponse({"url": f"/clips/{len(self.received)}"}, status_code=201)

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Central:
        self.thread.start()
        _wait(lambda: self.server.started, "the test server to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _wait(cond, what: str, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def index(tmp_path: Path) -> Iterator[ClipIndex]:
    idx = ClipIndex(tmp_path / "clips")
    for i in range(2):
        rel = f"cam1/d/e{i}-0.mp4"
        p = idx.abspath(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        data = bytes([i]) * (50_000 + i)
        p.write_bytes(data)
        p.with_suffix(".jpg").write_bytes(b"\xff\xd8\xff" + bytes(100))
        cid = idx.begin(event_id=f"e{i}", part=0, camera="cam1", window="W1", type="empty_post", path=rel,
                        start_s=0.0)
        idx.set_snapshot(cid, rel[:-4] + ".jpg")
        idx.complete(cid, start_s=0.0, end_s=20.0, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    yield idx
    idx.close()


def test_outage_then_recovery_loses_nothing_even_across_a_restart(index: ClipIndex, tmp_path: Path) -> None:
    port = _free_port()
    (tmp_path / "token").write_text(TOKEN + "\n")
    cfg = ClipUploadConfig(url=f"http://127.0.0.1:{port}", token_file=str(tmp_path / "token"), retry_max_s=1,
                           timeout_s=5)
    up = ClipUploader(cfg, index, poll_s=0.1)
    up.start()
    for rec in index.list("complete"):
        up.enqueue(rec)
    _wait(lambda: up.stats["retries"] >= 2, "retries while central is down")
    up.stop()
    assert up.pending() == 4 and up.pending_event_ids() == {"e0", "e1"}

    up2 = ClipUploader(cfg, index, poll_s=0.1)  # the node restarted: the queue is on disk
    with Central(port) as central:
        up2.start()
        _wait(lambda: up2.pending() == 0, "the queue to drain")
        up2.stop()
    done = up2.drain_done()
    assert sorted((d.event_id, d.kind) for d in done) == [("e0", "snapshot"), ("e0", "video"),
                                                          ("e1", "snapshot"), ("e1", "video")]
    assert all(d.url.startswith("/clips/") for d in done)
    videos = {r["event_id"]: r["data"] for r in central.received if r["kind"] == "video"}
    for rec in index.list("complete"):
        assert videos[rec.event_id] == index.abspath(rec.path).read_bytes()
    assert len(central.received) == 4  # each file once


def test_bad_token_is_a_permanent_failure(index: ClipIndex) -> None:
    port = _free_port()
    cfg = ClipUploadConfig(url=f"http://127.0.0.1:{port}", token_file="unused", retry_max_s=1)
    up = ClipUploader(cfg, index, token="wrong", poll_s=0.1)
    with Central(port) as central:
        up.start()
        up.enqueue(index.list("complete")[0])
        _wait(lambda: up.stats["failed"] == 2, "both uploads to fail")
        up.stop()
    assert central.received == [] and up.pending() == 0 and up.stats["retries"] == 0


def test_token_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token_file .*missing"):
        read_token(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        read_token(tmp_path / "empty")
