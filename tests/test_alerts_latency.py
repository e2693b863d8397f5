"""Latency from `Publisher.publish_event` to the event committed in the central database, on loopback with a
real Mosquitto (outbox fsync'd: sync=full). Measured and printed, never asserted against a time.

Run: python -m pytest tests/test_alerts_latency.py -q -s
"""

from __future__ import annotations

import statistics
import time

import pytest

from alerts.central.service import run_central_in_thread
from alerts.publisher import Publisher
from tests.alerts_helpers import central_config, edge_config, make_event, wait_for

N_EVENTS = 500
RATE_HZ = 100.0


@pytest.mark.slow
@pytest.mark.broker
def test_event_to_database_latency(tmp_path, mosquitto):
    handle = run_central_in_thread(central_config(tmp_path, mosquitto.url), wait_mqtt_s=10)
    stored_at: dict[int, float] = {}
    # notify() runs right after the commit, in the MQTT thread, for every stored new alarm
    handle.central.listeners.append(
        lambda kind, data: stored_at.setdefault(data["details"]["seq"], time.time())
        if kind == "opened" and "seq" in data["details"] else None)
    ingest_ms: list[float] = []
    handle_msg = handle.central.ingest.handle

    def timed(topic: str, payload: bytes) -> str:  # instrumented, not replaced: the real ingest runs
        t0 = time.perf_counter()
        out = handle_msg(topic, payload)
        if topic.endswith("/events"):
            ingest_ms.append((time.perf_counter() - t0) * 1000)
        return out

    handle.central.ingest.handle = timed  # type: ignore[method-assign]
    pub = Publisher(edge_config(tmp_path, mosquitto.url, outbox_sync="full"), "hall1", "n1")
    pub.start()
    sent_at: dict[int, float] = {}
    try:
        wait_for(lambda: pub.connected, 10, "publisher connected")
        time.sleep(0.3)  # the central service's `online` reaches the publisher
        for i in range(N_EVENTS):
            ev = make_event(i)
            sent_at[i] = time.time()
            pub.publish_event(ev)
            time.sleep(1.0 / RATE_HZ)
        wait_for(lambda: len(stored_at) == N_EVENTS, 30, "all events stored")
    finally:
        pub.stop()
        handle.stop()
    lat_ms = sorted((stored_at[i] - sent_at[i]) * 1000 for i in range(N_EVENTS))
    p99 = lat_ms[int(round(0.99 * (len(lat_ms) - 1)))]
    print(f"\nlatency publish_event -> central DB commit, {N_EVENTS} events at {RATE_HZ:.0f}/s on loopback: "
          f"median {statistics.median(lat_ms):.2f} ms, p99 {p99:.2f} ms, max {lat_ms[-1]:.2f} ms; of which "
          f"central ingest (validate + store + commit) median {statistics.median(ingest_ms):.2f} ms")
    assert len(lat_ms) == N_EVENTS
