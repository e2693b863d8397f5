"""The editor's JSON API over HTTP (FastAPI TestClient): token, snapshot, floor check, mic record, save."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import cv2
import httpx
import numpy as np
import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from calibration.app import create_calibration_app, create_calibration_router
from edge.config import load_config
from tests.calib_fixtures import CONFIG_TEXT, make_config, real_speech, red_blob_detector

TOKEN = "t0k3n"


@pytest.fixture
def cfg_path(tmp_path):
    return make_config(tmp_path)


@pytest.fixture
def client(cfg_path):
    with TestClient(create_calibration_app(cfg_path, token=TOKEN)) as c:
        c.get(f"/?token={TOKEN}")  # sets the cookie, as the browser does on the first visit
        yield c


def test_token_required(cfg_path):
    with TestClient(create_calibration_app(cfg_path, token=TOKEN)) as c:
        assert c.get("/api/config").status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        r = c.get(f"/?token={TOKEN}")
        assert r.status_code == 200 and "HallWatch calibration" in r.text
        assert c.get("/api/config").status_code == 200  # the cookie now carries it


def test_config_and_static(client, cfg_path):
    cfg = client.get("/api/config").json()
    assert cfg["path"] == str(cfg_path)
    assert [c["id"] for c in cfg["cameras"]] == ["cam1"] and cfg["cameras"][0]["file"]
    assert cfg["state"]["windows"][0]["orig_id"] == "W1"
    for name in ("editor.js", "panels.js", "editor.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../app.py").status_code == 404


def test_snapshot_decodes_the_file(client):
    r = client.get("/api/snapshot/cam1?t=1.0")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (180, 320, 3)
    # the moving red square is at x = 10 + 5 * frame; at 1.0 s (frame 10) it covers x 60..90
    assert img[125, 75, 2] > 150 and img[125, 20, 2] < 150
    assert client.get("/api/snapshot/nope").status_code == 404


def test_snapshot_of_unreachable_camera_is_a_placeholder(tmp_path):
    cfg = make_config(tmp_path, CONFIG_TEXT.replace("source: cam1.mp4", "source: missing.mp4"))
    with TestClient(create_calibration_app(cfg)) as c:
        r = c.get("/api/snapshot/cam1")
    assert r.status_code == 200 and "missing.mp4" in r.headers["x-snapshot-error"]


@pytest.mark.parametrize(("image", "metres", "status", "match"), [
    ([[0.2, 0.6], [0.8, 0.6], [0.95, 0.95], [0.05, 0.95]], [[0, 6], [4, 6], [4, 0], [0, 0]], 200, None),
    ([[0.1, 0.5], [0.3, 0.6], [0.5, 0.7], [0.7, 0.8]], [[0, 0], [1, 0], [1, 1], [0, 1]], 422, "line"),
    ([[0.2, 0.6], [0.8, 0.6], [0.95, 0.95]], [[0, 6], [4, 6], [4, 0]], 422, "at least 4"),
    ([[0.2, 0.6], [0.8, 0.6], [0.95, 0.95], [0.05, 0.95]], [[0, 6], [4, 0], [4, 6], [0, 0]], 422, "order"),
])
def test_floor_check(client, image, metres, status, match):
    r = client.post("/api/floor/check", json={"image": image, "metres": metres})
    assert r.status_code == status
    if match:
        assert match in r.json()["detail"]
    else:
        body = r.json()
        assert body["residual_m"] < 0.01 and len(body["grid_rel"]) >= 4
        assert all(len(line) >= 2 for line in body["grid_rel"])


def test_mic_record_then_save_baseline(tmp_path):
    cfg_path = make_config(tmp_path, speech=real_speech(3.0))
    with TestClient(create_calibration_app(cfg_path)) as client:
        amb = client.post("/api/mic/mic1/record", json={"kind": "ambient", "seconds": 1.5, "start_s": 0})
        assert amb.status_code == 200, amb.text
        a = amb.json()
        assert -70 < a["level_db"] < -50 and len(a["levels_db"]) == 2 * 16 and a["pitch_hz"] is None
        sp = client.post("/api/mic/mic1/record", json={"kind": "speech", "seconds": 3, "start_s": 2}).json()
        assert sp["level_db"] > a["level_db"] + 20 and 70 < sp["pitch_hz"] < 300
        state = client.get("/api/config").json()["state"]
        state["baselines"]["mic1"] = {"ambient_db": a["level_db"], "speech_db": sp["level_db"],
                                      "pitch_hz": sp["pitch_hz"]}
        r = client.post("/api/save", json=state)
        assert r.status_code == 200, r.text
    base = load_config(cfg_path).microphones[0].baseline
    assert base.ambient_db == pytest.approx(a["level_db"], abs=0.01) and base.pitch_hz == sp["pitch_hz"]


def test_mic_errors(client):
    assert client.post("/api/mic/nope/record", json={"kind": "ambient"}).status_code == 404
    r = client.post("/api/mic/mic1/record", json={"kind": "speech", "seconds": 1.5, "start_s": 0})
    assert r.status_code == 422 and "mic1: no speech heard" in r.json()["detail"]
    assert client.post("/api/mic/mic1/record", json={"kind": "speech", "seconds": 0}).status_code == 422


def test_save_refuses_invalid_and_keeps_file(client, cfg_path):
    state = client.get("/api/config").json()["state"]
    state["windows"][0]["camera"] = "cam7"
    r = client.post("/api/save", json=state)
    assert r.status_code == 422 and "not a camera id" in r.json()["detail"]
    state["windows"][0]["camera"] = "cam1"
    state["windows"][0]["post"] = [[0.1, 0.1], [0.2, 0.1]]
    r = client.post("/api/save", json=state)
    assert r.status_code == 422 and "at least 3" in r.json()["detail"]
    assert cfg_path.read_text() == CONFIG_TEXT


def test_save_conflict(client, cfg_path):
    state = client.get("/api/config").json()["state"]
    cfg_path.write_text(CONFIG_TEXT + "\n# edited by hand\n")
    r = client.post("/api/save", json=state)
    assert r.status_code == 409 and "changed on disk" in r.json()["detail"]


def test_live_preview_streams_annotated_jpegs(cfg_path):
    with TestClient(create_calibration_app(cfg_path, detector=red_blob_detector)) as c, \
            c.stream("GET", "/api/live/cam1") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/x-mixed-replace")
        buf = b""
        for chunk in r.iter_bytes():
            buf += chunk
            if buf.count(b"--frame") >= 2:
                break
    part = buf.split(b"--frame")[1]
    jpeg = part.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (180, 320, 3) and img[8:14, 12:60].mean() < 80  # the overlay's header box


def test_cli_calibrate_prints_url_with_token(cfg_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "calibrate", str(cfg_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        url = lines[1].split()[-1]
        assert url.startswith(f"http://127.0.0.1:{port}/?token=")
        for _ in range(100):  # the port opens right after the URL is printed
            try:
                with httpx.Client() as c:
                    assert c.get(url.split("?")[0] + "api/config").status_code == 401
                    assert c.get(url).status_code == 200
                    assert c.get(url.split("?")[0] + "api/config").json()["site"] == "hall3"
                break
            except httpx.ConnectError:
                proc.poll()
                assert proc.returncode is None, proc.stdout.read()
                time.sleep(0.1)
        else:
            pytest.fail("hallwatch calibrate did not open its port")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_router_mounts_under_a_prefix_behind_a_login(cfg_path):
    """How the central service mounts the editor: a prefix, and its own login check on every route."""
    def technician(x_role: str = Header("")) -> None:
        if x_role != "technician":
            raise HTTPException(403, "technicians only")

    app = FastAPI()
    app.include_router(create_calibration_router(cfg_path, dependencies=[Depends(technician)]), prefix="/calibrate")
    with TestClient(app) as c:
        assert c.get("/calibrate/api/config").status_code == 403
        ok = {"X-Role": "technician"}
        page = c.get("/calibrate", headers=ok)  # redirected to /calibrate/, where relative URLs resolve
        assert page.status_code == 200 and str(page.url).endswith("/calibrate/")
        assert 'src="static/editor.js"' in page.text
        assert c.get("/calibrate/static/editor.js", headers=ok).status_code == 200
        assert c.get("/calibrate/api/config", headers=ok).json()["site"] == "hall3"
