"""The central web service over real HTTP: login on every route, the role table, the alarm lifecycle, clips
(upload with sha256 check, Range, audit, keep, retention protection), webhooks with retries, escalation,
and the live SSE stream. Events enter through `Ingest.handle`, the function the MQTT callback calls."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from alerts.central.service import run_central_in_thread
from alerts.central.store import ClipAudit, protected_event_ids
from edge.cli_central import main as cli_main
from tests.alerts_helpers import central_config, make_event, wait_for
from tests.mosquitto import free_port

TOPIC = "hallwatch/hall1/n1/events"
ROLES = {"admin": "admin", "manager": "manager", "supervisor": "supervisor", "technician": "tech"}


@pytest.fixture
def svc(tmp_path):
    """Central with no broker reachable (it keeps retrying in the background); the web works regardless."""
    handle = run_central_in_thread(central_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}"))
    client = httpx.Client(base_url=handle.url, timeout=10)
    tokens = {role: client.post("/api/token", json={"username": user, "password": f"{user}-pw"}).json()["token"]
              for role, user in ROLES.items()}
    tokens["node"] = "token-of-node1-0123456789"
    yield handle.central, client, {r: {"Authorization": f"Bearer {t}"} for r, t in tokens.items()}
    client.close()
    handle.stop()


def ingest(central, i: int, state: str = "start", window: str = "W1", kind: str = "empty_post") -> str:
    return central.ingest.handle(TOPIC, make_event(i, state=state, window=window, kind=kind).to_json().encode())


def test_every_route_needs_login(svc):
    central, client, _ = svc
    open_routes = {"/login"}
    for route in central.app.routes:
        path = getattr(route, "path", "")
        if path in open_routes or path == "/api/token":
            continue
        url = path.replace("{alarm_id}", "1").replace("{clip_id}", "abc").replace("{action}", "ack")
        for method in sorted(getattr(route, "methods", {"GET"}) - {"HEAD"}):
            r = client.request(method, url, headers={"Accept": "application/json"})
            assert r.status_code == 401, (method, url, r.status_code)
    r = client.get("/", headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.post("/api/token", json={"username": "manager", "password": "nope"}).status_code == 401
    assert client.get("/api/alarms", headers={"Authorization": "Bearer forged"}).status_code == 401


ROLE_TABLE = [  # (role, method, path, body, status), run in this order against one alarm
    ("manager", "GET", "/api/alarms", None, 200),
    ("supervisor", "GET", "/api/alarms", None, 200),
    ("technician", "GET", "/api/alarms", None, 403),
    ("node", "GET", "/api/alarms", None, 403),
    ("technician", "GET", "/api/nodes", None, 200),
    ("technician", "GET", "/api/windows", None, 200),
    ("node", "GET", "/api/nodes", None, 403),
    ("supervisor", "POST", "/api/alarms/1/ack", {"note": "x"}, 403),
    ("supervisor", "POST", "/api/alarms/1/resolve", {}, 403),
    ("technician", "POST", "/api/alarms/1/ack", {"note": "x"}, 403),
    ("manager", "POST", "/api/alarms/1/keep", {"keep": True}, 403),
    ("supervisor", "POST", "/api/alarms/1/keep", {"keep": True}, 200),
    ("manager", "POST", "/api/alarms/1/ack", {"note": "x"}, 200),
    ("admin", "POST", "/api/alarms/1/resolve", {}, 200),
    ("technician", "GET", "/alarms/1", None, 403),
    ("supervisor", "GET", "/alarms/1", None, 200),
    ("node", "GET", "/", None, 403),
]


def test_role_table(svc):
    central, client, hdr = svc
    assert ingest(central, 1) == "stored"
    for role, method, path, body, status in ROLE_TABLE:
        r = client.request(method, path, headers=hdr[role], json=body)
        assert r.status_code == status, (role, method, path, r.text)


def test_alarm_lifecycle_and_filters(svc):
    central, client, hdr = svc
    ingest(central, 1, window="W1")
    ingest(central, 2, window="W2", kind="chatting")
    ingest(central, 2, state="end", window="W2", kind="chatting")
    alarms = client.get("/api/alarms", headers=hdr["manager"]).json()
    assert [(a["window"], a["type"], a["active"]) for a in alarms] == [("W2", "chatting", False),
                                                                      ("W1", "empty_post", True)]
    today = time.strftime("%Y-%m-%d")
    assert [a["window"] for a in client.get(f"/api/alarms?window=W1&day={today}", headers=hdr["manager"]).json()] \
        == ["W1"]
    assert client.get("/api/alarms?type=dispute", headers=hdr["manager"]).json() == []
    assert client.get("/api/alarms?day=2001-01-01", headers=hdr["manager"]).json() == []
    assert client.get("/api/alarms?day=yesterday", headers=hdr["manager"]).status_code == 400
    aid = alarms[1]["id"]
    r = client.post(f"/api/alarms/{aid}/ack", json={"note": "walking over"}, headers=hdr["manager"])
    assert (r.json()["status"], r.json()["ack_by"], r.json()["ack_note"]) == ("acked", "manager", "walking over")
    assert client.post(f"/api/alarms/{aid}/ack", json={"note": "again"}, headers=hdr["manager"]).status_code == 409
    assert client.post(f"/api/alarms/{aid}/resolve", json={}, headers=hdr["manager"]).json()["status"] == "resolved"
    assert client.post(f"/api/alarms/{aid}/resolve", json={}, headers=hdr["manager"]).status_code == 409
    assert [a["id"] for a in client.get("/api/alarms?status=unresolved", headers=hdr["manager"]).json()] \
        == [alarms[0]["id"]]
    page = client.get("/alarms?window=W2", headers=hdr["supervisor"])
    assert page.status_code == 200 and page.text.count('<tr id="alarm-') == 1 and "<td>chatting</td>" in page.text


def _upload(client, hdr, event_id: str, data: bytes, kind: str = "video", sha: str | None = None):
    return client.post("/api/clips", headers=hdr, data={"event_id": event_id, "kind": kind,
                                                        "sha256": sha or hashlib.sha256(data).hexdigest()},
                       files={"file": ("clip.mp4", data, "application/octet-stream")})


def test_clips_upload_range_audit_keep(svc):
    central, client, hdr = svc
    ingest(central, 1)
    alarm = client.get("/api/alarms", headers=hdr["manager"]).json()[0]
    data = bytes(range(256)) * 40  # 10,240 bytes
    assert _upload(client, hdr["node"], alarm["event_id"], data, sha="0" * 64).status_code == 400
    assert _upload(client, hdr["manager"], alarm["event_id"], data).status_code == 403
    r = _upload(client, hdr["node"], alarm["event_id"], data)
    assert r.status_code == 201 and r.json()["url"].startswith("/clips/")
    url = r.json()["url"]
    _upload(client, hdr["node"], alarm["event_id"], b"\xff\xd8jpeg", kind="snapshot")
    assert client.get(url, headers=hdr["supervisor"]).content == data
    part = client.get(url, headers={**hdr["manager"], "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    client.get(url, headers={**hdr["manager"], "Range": "bytes=0-"})
    for role in ("technician", "node"):
        assert client.get(url, headers=hdr[role]).status_code == 403
    with central.sessions() as s:
        audit = [(a.username, a.action) for a in s.scalars(select(ClipAudit).order_by(ClipAudit.id))]
    assert audit == [("supervisor", "view"), ("manager", "view")]  # the mid-file Range is the same view
    detail = client.get(f"/alarms/{alarm['id']}", headers=hdr["supervisor"]).text
    assert f'<video controls preload="metadata" width="640" src="{url}">' in detail and "<img src=" in detail
    # retention: an open alarm is protected; resolved and not kept it is not; keep protects it again
    with central.sessions() as s:
        assert alarm["event_id"] in protected_event_ids(s)
    client.post(f"/api/alarms/{alarm['id']}/resolve", json={}, headers=hdr["manager"])
    ingest(central, 1, state="end")
    with central.sessions() as s:
        assert alarm["event_id"] not in protected_event_ids(s)
    kept = client.post(f"/api/alarms/{alarm['id']}/keep", json={"keep": True}, headers=hdr["supervisor"]).json()
    assert kept["keep"] and all(c["keep"] for c in kept["clips"])
    with central.sessions() as s:
        assert alarm["event_id"] in protected_event_ids(s)


class _Hook(http.server.BaseHTTPRequestHandler):
    fail_first = 2
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(500)
        else:
            _Hook.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhooks_retry_and_escalation(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/sms"
    _Hook.received.clear()
    _Hook.fail_first = 2
    cfg = central_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}",
                         webhooks=[{"url": hook, "events": ["opened", "acked"], "retries": 3, "backoff_s": 0.05}],
                         escalation={"after_s": 0.5, "check_every_s": 0.1,
                                     "webhooks": [{"url": hook + "/escalate", "backoff_s": 0.05}]})
    handle = run_central_in_thread(cfg)
    try:
        central = handle.central
        ingest(central, 1)  # this one will be acknowledged in time
        ingest(central, 2)  # this one not: it escalates
        client = httpx.Client(base_url=handle.url)
        tok = client.post("/api/token", json={"username": "manager", "password": "manager-pw"}).json()["token"]
        client.post("/api/alarms/1/ack", json={"note": "ok"}, headers={"Authorization": f"Bearer {tok}"})
        wait_for(lambda: any(b["kind"] == "escalated" for b in _Hook.received), 10, "escalation webhook")
        time.sleep(0.5)
        kinds = sorted((b["kind"], b["alarm"]["id"]) for b in _Hook.received)
        assert kinds == [("acked", 1), ("escalated", 2), ("opened", 1), ("opened", 2)]
        assert central.webhooks.counts["retried"] == 2 and central.webhooks.counts["sent"] == 3
        alarm2 = client.get("/api/alarms/2", headers={"Authorization": f"Bearer {tok}"}).json()
        assert alarm2["escalated_at"] is not None
        assert client.get("/api/alarms/1", headers={"Authorization": f"Bearer {tok}"}).json()["escalated_at"] is None
    finally:
        handle.stop()
        server.shutdown()


def test_live_stream_announces_new_alarm(svc):
    central, client, hdr = svc
    got: list[dict] = []

    def listen() -> None:
        with client.stream("GET", "/api/stream", headers=hdr["manager"], timeout=10) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    wait_for(lambda: central.bus.listeners == 1, 5, "browser stream connected")
    ingest(central, 5)
    t.join(10)
    assert got and got[0]["kind"] == "opened" and got[0]["data"]["details"] == {"seq": 5}


def test_cli_adduser_and_token(tmp_path, capsys):
    cfg = tmp_path / "central.yaml"
    cfg.write_text("db: c.sqlite\n")
    (tmp_path / "pw").write_text("long-enough-pw\n")
    assert cli_main(["central", "adduser", "--config", str(cfg), "ann", "--role", "manager",
                     "--password-file", str(tmp_path / "pw")]) == 0
    assert cli_main(["central", "adduser", "--config", str(cfg), "edge1", "--role", "node"]) == 0
    out = capsys.readouterr().out
    assert "user ann (manager) saved" in out and "API token (shown once): " in out
    assert cli_main(["central", "users", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.split() == ["ann", "manager", "edge1", "node"]
    (tmp_path / "bad.yaml").write_text("http: {prot: 80}\n")
    with pytest.raises(SystemExit, match=r"bad.yaml: http.prot: unknown key"):
        cli_main(["central", "--config", str(tmp_path / "bad.yaml")])


def test_cli_runs_the_service_until_sigint(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "admin.pw").write_text("admin-password\n")
    cfg = tmp_path / "central.yaml"
    cfg.write_text(f"db: c.sqlite\nmqtt: {{url: 'mqtt://127.0.0.1:{free_port()}'}}\nhttp: {{port: 0}}\n"
                   "password_log2_n: 10\nusers: [{username: admin, role: admin, password_file: admin.pw}]\n")
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli_central", "central", "--config", str(cfg)],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("HallWatch central: dashboard at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].split("/ ", 1)[0]
        assert httpx.get(url + "/login").status_code == 200
        tok = httpx.post(url + "/api/token", json={"username": "admin", "password": "admin-password"})
        assert tok.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.stdout.close()
