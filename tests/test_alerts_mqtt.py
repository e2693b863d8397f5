"""Publisher -> real Mosquitto -> central service: delivery, duplicates, lifecycle, Last Will, the outbox
while the broker or the central service is away, and TLS with username/password."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from alerts.central.service import run_central_in_thread
from alerts.central.store import Alarm, EventRow, Node, WindowState
from alerts.publisher import Publisher
from tests.alerts_helpers import central_config, count_rows, edge_config, make_event, wait_for
from tests.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def central(tmp_path, mosquitto):
    handle = run_central_in_thread(central_config(tmp_path, mosquitto.url), wait_mqtt_s=10)
    yield handle.central
    handle.stop()


def test_events_lifecycle_duplicates_and_state(tmp_path, mosquitto, central):
    pub = Publisher(edge_config(tmp_path, mosquitto.url), "hall1", "n1")
    pub.start()
    try:
        wait_for(lambda: pub.connected, 10, "publisher connected")  # stats are QoS 0: not queued offline
        start = make_event(1, state="start", t=100.0)
        pub.publish_event(start)
        pub.publish_event(start)  # a redelivery: stored once
        for t in (101.0, 102.0):
            pub.publish_event(make_event(1, state="update", t=t))
        pub.publish_event(make_event(1, state="update", t=102.0))  # duplicate update
        end = make_event(1, state="end", t=110.0)
        end.details["peak_s"] = np.float32(9.5)  # numpy values from the pipeline travel as plain numbers
        pub.publish_event(end)
        pub.publish_window_state("W1", "empty", {"type": "empty_post", "event_id": start.event_id})
        pub.publish_stats({"fps": 5.0, "drops": 0, "detector_ms": 11.2})
        assert pub.flush(10)
        wait_for(lambda: count_rows(central.sessions, EventRow) == 4 and central.ingest.counts["duplicate"] == 2,
                 10, "4 distinct events and 2 duplicates at central")
        with central.sessions() as s:
            rows = s.scalars(select(EventRow).order_by(EventRow.id)).all()
            assert [(r.state, r.t) for r in rows] == [("start", 100.0), ("update", 101.0), ("update", 102.0),
                                                      ("end", 110.0)]
            assert rows[-1].details == {"seq": 1, "peak_s": 9.5}
            alarm = s.scalars(select(Alarm)).one()
            assert (alarm.event_id, alarm.active, alarm.status) == (start.event_id, False, "open")
        with central.sessions() as s:
            wait_for(lambda: s.get(WindowState, ("hall1", "n1", "W1")), 5, "window state")
            assert s.get(WindowState, ("hall1", "n1", "W1")).state == "empty"
            node = wait_for(lambda: (n := s.get(Node, ("hall1", "n1"))) and n.stats and n, 5, "stats")
            assert node.status == "online" and node.stats["fps"] == 5.0 and "outbox_dropped" in node.stats
    finally:
        pub.stop()


_KILLED_NODE = textwrap.dedent("""
    import sys, time
    from alerts.config import MqttConfig
    from alerts.publisher import Publisher
    pub = Publisher(MqttConfig(url=sys.argv[1], outbox=sys.argv[2], keepalive_s=5), "hall1", "dead")
    pub.start()
    while not pub.connected:
        time.sleep(0.02)
    print("connected", flush=True)
    time.sleep(60)
""")


def test_last_will_raises_node_offline_alert(tmp_path, mosquitto, central):
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_NODE, mosquitto.url, str(tmp_path / "dead.sqlite")],
                            cwd=REPO, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == b"connected"
        with central.sessions() as s:
            wait_for(lambda: (n := s.get(Node, ("hall1", "dead"))) and n.status == "online", 10, "node online")
        proc.send_signal(signal.SIGKILL)  # no clean disconnect: the broker publishes the Last Will
        proc.wait(10)

        def offline_alarm():
            with central.sessions() as s:
                return s.scalars(select(Alarm).where(Alarm.type == "node_offline", Alarm.node == "dead")).first()
        alarm = wait_for(offline_alarm, 15, "node_offline alarm from the Last Will")
        assert alarm.active and alarm.status == "open"
        # the node comes back: its alarm's condition ends
        pub = Publisher(edge_config(tmp_path, mosquitto.url, "back"), "hall1", "dead")
        pub.start()
        try:
            wait_for(lambda: not offline_alarm().active, 10, "offline alarm closed when the node is back")
        finally:
            pub.stop()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_outbox_holds_while_broker_and_central_are_away(tmp_path, mosquitto_factory):
    port = free_port()
    broker_dir = tmp_path / "late-broker"
    pub = Publisher(edge_config(tmp_path, f"mqtt://127.0.0.1:{port}", reconnect_max_s=1), "hall1", "n1")
    pub.start()
    handle = None
    broker = None
    try:
        for i in range(30):  # no broker at all yet: the node keeps detecting and queueing
            pub.publish_event(make_event(i))
            if i == 19:  # and the node restarts meanwhile: the queued events are on disk
                pub.stop()
                pub = Publisher(edge_config(tmp_path, f"mqtt://127.0.0.1:{port}", reconnect_max_s=1), "hall1",
                                "n1")
                pub.start()
        assert len(pub.outbox) == 30 and not pub.flush(0.5)
        broker = Mosquitto(broker_dir, port=port).start()
        wait_for(lambda: pub.connected, 15, "publisher to connect to the late broker")
        time.sleep(0.5)
        assert len(pub.outbox) == 30  # connected, but no central service online: still held
        handle = run_central_in_thread(central_config(tmp_path, broker.url), wait_mqtt_s=10)
        assert pub.flush(15)
        wait_for(lambda: count_rows(handle.central.sessions, EventRow) == 30, 10, "30 events stored")
        with handle.central.sessions() as s:
            seqs = [r.details["seq"] for r in s.scalars(select(EventRow).order_by(EventRow.id))]
        assert seqs == list(range(30))
    finally:
        pub.stop()
        if handle:
            handle.stop()
        if broker:
            broker.stop()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # fast to generate, unlike RSA


def make_pki(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1/localhost, and a client certificate (openssl CLI)."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", *EC, "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=HallWatch test CA", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "localhost"), ("client", "hallwatch-node")):
        _openssl("req", *EC, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", cwd=d)
        extra = ["-extfile", "san.ext"] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", *extra, cwd=d)


def test_tls_and_password_against_real_mosquitto(tmp_path, mosquitto_factory):
    pki = tmp_path / "pki"
    make_pki(pki)
    pwfile = tmp_path / "mosquitto.passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), "hallwatch", "s3cret-pw"], check=True,
                   capture_output=True)
    os.chmod(pwfile, 0o600)
    broker = mosquitto_factory("tls", anonymous=False, extra_conf="\n".join([
        f"cafile {pki / 'ca.crt'}", f"certfile {pki / 'server.crt'}", f"keyfile {pki / 'server.key'}",
        "require_certificate true", f"password_file {pwfile}"]))
    (tmp_path / "mqtt.pw").write_text("s3cret-pw\n")
    (tmp_path / "wrong.pw").write_text("guess\n")
    tls = {"ca": str(pki / "ca.crt"), "cert": str(pki / "client.crt"), "key": str(pki / "client.key")}
    url = f"mqtts://127.0.0.1:{broker.port}"
    mqtt_cfg = {"url": url, "username": "hallwatch", "password_file": str(tmp_path / "mqtt.pw"), "tls": tls}
    handle = run_central_in_thread(central_config(tmp_path, url, mqtt=mqtt_cfg), wait_mqtt_s=10)
    good = Publisher(edge_config(tmp_path, url, username="hallwatch", password_file=str(tmp_path / "mqtt.pw"),
                                 tls=tls), "hall1", "n1")
    bad = Publisher(edge_config(tmp_path, url, "bad", username="hallwatch",
                                password_file=str(tmp_path / "wrong.pw"), tls=tls), "hall1", "n2")
    try:
        assert handle.central.connected.is_set()
        good.start()
        bad.start()
        for i in range(5):
            good.publish_event(make_event(i))
            bad.publish_event(make_event(i, node="n2"))
        assert good.flush(15)
        wait_for(lambda: count_rows(handle.central.sessions, EventRow) == 5, 10, "5 events over TLS")
        time.sleep(1.0)
        assert not bad.connected and len(bad.outbox) == 5  # refused: wrong password; nothing lost either
    finally:
        good.stop()
        bad.stop()
        handle.stop()
