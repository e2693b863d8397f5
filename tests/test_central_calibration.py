"""The calibration editor mounted in the real central service: technicians and admins only."""

from __future__ import annotations

import httpx
import pytest

from alerts.central.service import Central, CentralHandle
from edge.central_calibration import mount_calibration
from tests.alerts_helpers import central_config
from tests.calib_fixtures import make_config
from tests.mosquitto import free_port


@pytest.fixture
def central_with_editor(tmp_path):
    (tmp_path / "node").mkdir()
    node_cfg = make_config(tmp_path / "node")
    cfg = central_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}", calibration={"edge-01": str(node_cfg)})
    central = Central(cfg)
    assert mount_calibration(central.app, cfg.calibration) == ["/calibrate/edge-01"]
    central.start()
    handle = CentralHandle(central)
    client = httpx.Client(base_url=handle.url, timeout=10)
    yield client
    client.close()
    handle.stop()


def login(client: httpx.Client, user: str) -> dict[str, str]:
    token = client.post("/api/token", json={"username": user, "password": f"{user}-pw"}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("user, status", [("tech", 200), ("admin", 200), ("supervisor", 403),
                                          ("manager", 403)])
def test_only_technicians_and_admins_reach_the_editor(central_with_editor, user, status):
    client = central_with_editor
    r = client.get("/calibrate/edge-01/api/config", headers=login(client, user))
    assert r.status_code == status
    if status == 200:
        assert r.json()["cameras"][0]["id"] == "cam1"


def test_anonymous_requests_need_a_login(central_with_editor):
    client = central_with_editor
    assert client.get("/calibrate/edge-01/api/config").status_code == 401
    page = client.get("/calibrate/edge-01/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_a_missing_node_config_is_named(tmp_path):
    from fastapi import FastAPI

    with pytest.raises(FileNotFoundError, match="calibration.hall: node config .*nope.yaml not found"):
        mount_calibration(FastAPI(), {"hall": str(tmp_path / "nope.yaml")})
