"""Retention of clips uploaded to the central service: old clips of resolved alarms go, open alarms and
kept clips stay, the row remains for the audit trail and the URL answers 410; the v2 migration."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from alerts.central.config import ClipRetentionConfig
from alerts.central.retention import run_retention
from alerts.central.service import run_central_in_thread
from alerts.central.store import Clip, migrate, open_store
from tests.alerts_helpers import central_config, make_event, post_clip
from tests.mosquitto import free_port

TOPIC = "hallwatch/hall1/n1/events"
DAY = 86400.0


@pytest.fixture
def central(tmp_path):
    handle = run_central_in_thread(central_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}"))
    client = httpx.Client(base_url=handle.url, timeout=10)
    token = client.post("/api/token", json={"username": "manager", "password": "manager-pw"}).json()["token"]
    yield handle, client, {"Authorization": f"Bearer {token}"}
    client.close()
    handle.stop()


def test_old_clips_of_resolved_alarms_go_the_rest_stay(central, tmp_path):
    handle, client, mgr = central
    c = handle.central
    clips = {}
    for i in (1, 2, 3):
        ev = make_event(i)
        c.ingest.handle(TOPIC, ev.to_json().encode())
        c.ingest.handle(TOPIC, make_event(i, state="end").to_json().encode())
        f = tmp_path / f"clip{i}.mp4"
        f.write_bytes(bytes([i]) * 5000)
        clips[i] = post_clip(handle.url, "token-of-node1-0123456789", ev.event_id, f).json()["url"]
    alarms = {a["event_id"]: a["id"] for a in client.get("/api/alarms", headers=mgr).json()}
    for i in (1, 3):  # alarm 2 stays unresolved
        assert client.post(f"/api/alarms/{alarms[make_event(i).event_id]}/resolve", json={},
                           headers=mgr).status_code == 200
    supervisor = client.post("/api/token", json={"username": "supervisor", "password": "supervisor-pw"}).json()
    sup = {"Authorization": f"Bearer {supervisor['token']}"}
    assert client.post(f"/api/clips/{clips[3].rsplit('/', 1)[1]}/keep", headers=sup).json()["keep"]

    cfg = ClipRetentionConfig(keep_days=30)
    assert run_retention(c.sessions, c.cfg.clips_dir, cfg, time.time() + 10 * DAY) == []  # nothing old yet
    deleted = run_retention(c.sessions, c.cfg.clips_dir, cfg, time.time() + 31 * DAY)
    assert [d.event_id for d in deleted] == [make_event(1).event_id]
    with c.sessions() as s:
        rows = {r.event_id: r for r in s.query(Clip)}
        gone = rows[make_event(1).event_id]
        assert gone.deleted_at is not None and "keep_days" in gone.deleted_reason
        assert not Path(gone.path).exists()
        assert all(Path(rows[make_event(i).event_id].path).exists() for i in (2, 3))
    assert client.get(clips[1], headers=mgr).status_code == 410
    assert client.get(clips[2], headers=mgr).status_code == 200
    detail = client.get(f"/alarms/{alarms[make_event(1).event_id]}", headers={**mgr, "Accept": "text/html"})
    assert "deleted by retention" in detail.text and "<video" not in detail.text


def test_over_max_gb_deletes_oldest_unprotected_first(central, tmp_path):
    handle, client, mgr = central
    c = handle.central
    for i in (1, 2):
        ev = make_event(i)
        c.ingest.handle(TOPIC, ev.to_json().encode())
        c.ingest.handle(TOPIC, make_event(i, state="end").to_json().encode())
        f = tmp_path / f"c{i}.mp4"
        f.write_bytes(bytes(300_000))
        post_clip(handle.url, "token-of-node1-0123456789", ev.event_id, f)
        time.sleep(0.01)
    for a in client.get("/api/alarms", headers=mgr).json():
        client.post(f"/api/alarms/{a['id']}/resolve", json={}, headers=mgr)
    deleted = run_retention(c.sessions, c.cfg.clips_dir, ClipRetentionConfig(max_gb=0.0005, min_free_gb=0),
                            time.time())
    assert [d.event_id for d in deleted] == [make_event(1).event_id]


def test_v2_migration_adds_the_columns_to_a_v1_database(tmp_path):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:  # the clips table as schema 1 made it
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at FLOAT)")
        conn.execute("INSERT INTO schema_version VALUES (1, 0)")
        conn.execute("CREATE TABLE clips (id VARCHAR(32) PRIMARY KEY, event_id VARCHAR(128), kind VARCHAR(16), "
                     "path TEXT, sha256 VARCHAR(64), size INTEGER, media_type VARCHAR(64), "
                     "uploaded_by VARCHAR(64), created_at FLOAT, keep BOOLEAN)")
    engine, _ = open_store(f"sqlite:///{db}")
    assert migrate(engine) == 2
    with sqlite3.connect(db) as conn:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(clips)")}
    assert {"deleted_at", "deleted_reason"} <= cols
