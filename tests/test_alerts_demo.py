"""The demo's pieces together: the embedded amqtt broker (demo only), the demo central config with fresh
credentials, a publisher with its outbox, and the edge's clip upload to the central service."""

from __future__ import annotations

import httpx
import pytest

from alerts.central.demo import start_demo_stack
from alerts.central.store import EventRow
from alerts.clip_upload import ClipUploadError, upload_clip
from alerts.publisher import Publisher
from tests.alerts_helpers import count_rows, make_event, wait_for


def test_demo_stack_with_embedded_broker_and_clip_upload(tmp_path):
    stack = start_demo_stack(tmp_path / "demo", http_port=0, password_log2_n=10)
    creds = stack.creds
    handle = stack._central
    pub = Publisher(stack.mqtt, "hall1", "n1")
    try:
        pub.start()
        events = [make_event(i) for i in range(20)]
        for ev in events:
            pub.publish_event(ev)
        pub.publish_window_state("W1", "empty", None)
        assert pub.flush(20)
        wait_for(lambda: count_rows(handle.central.sessions, EventRow) == 20, 10, "20 events via amqtt")

        clip = tmp_path / "clip.mp4"
        clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(5000))
        url = upload_clip(handle.url, creds["edge_token"], events[0].event_id, "video", clip)
        assert url.startswith("/clips/")
        with pytest.raises(ClipUploadError, match="HTTP 401"):
            upload_clip(handle.url, "not-a-token", events[0].event_id, "video", clip, retries=0)

        client = httpx.Client(base_url=handle.url)
        tok = client.post("/api/token", json={"username": "manager", "password": creds["manager"]}).json()["token"]
        hdr = {"Authorization": f"Bearer {tok}"}
        alarm = client.get("/api/alarms?limit=1000", headers=hdr).json()[-1]
        assert alarm["event_id"] == events[0].event_id
        detail = client.get(f"/api/alarms/{alarm['id']}", headers=hdr).json()
        assert [c["url"] for c in detail["clips"]] == [url]
        assert client.get(url, headers=hdr).content == clip.read_bytes()
    finally:
        pub.stop()
        stack.stop()
