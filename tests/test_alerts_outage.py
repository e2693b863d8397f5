"""The outage test: a stream of 1,200 events; the broker is SIGKILLed mid-stream and started again 30 s later
(persistence off, so it forgets everything); the edge node restarts once mid-stream as well. The central
database must end with every event exactly once, in publish order. Prints the counts."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from alerts.central.service import run_central_in_thread
from alerts.central.store import EventRow
from alerts.publisher import Publisher
from tests.alerts_helpers import central_config, count_rows, edge_config, make_event, wait_for
from tests.mosquitto import Mosquitto

N_EVENTS = 1200
RATE_HZ = 100.0
RESTART_AT, KILL_AT, OUTAGE_S = 200, 500, 30.0


@pytest.mark.slow
@pytest.mark.broker
def test_broker_outage_and_node_restart_lose_nothing(tmp_path):
    broker = Mosquitto(tmp_path / "broker").start()
    handle = run_central_in_thread(central_config(tmp_path, broker.url), wait_mqtt_s=10)
    cfg = edge_config(tmp_path, broker.url, reconnect_max_s=2)
    pubs = [Publisher(cfg, "hall1", "n1")]
    pubs[0].start()
    killed_at: list[float] = []
    max_depth = 0
    try:
        wait_for(lambda: pubs[0].connected, 10, "publisher connected")
        for i in range(N_EVENTS):
            pubs[-1].publish_event(make_event(i))
            max_depth = max(max_depth, len(pubs[-1].outbox))
            if i == RESTART_AT:  # the edge node restarts mid-stream, with events in flight
                pubs[-1].stop()
                pubs.append(Publisher(cfg, "hall1", "n1"))
                pubs[-1].start()
            if i == KILL_AT:
                broker.kill()
                killed_at.append(time.monotonic())
                timer = threading.Timer(OUTAGE_S, broker.start)
                timer.start()
            time.sleep(1.0 / RATE_HZ)
        timer.join()
        outage_s = time.monotonic() - killed_at[0]
        backlog = len(pubs[-1].outbox)
        assert pubs[-1].flush(60), f"{len(pubs[-1].outbox)} events still queued 60 s after the broker returned"
        wait_for(lambda: count_rows(handle.central.sessions, EventRow) >= N_EVENTS, 30, "all events stored")
        drain_s = time.monotonic() - killed_at[0] - outage_s
        time.sleep(1.0)  # anything late (a duplicate) would land now
        with handle.central.sessions() as s:
            seqs = [r.details["seq"] for r in s.scalars(select(EventRow).where(EventRow.node == "n1")
                                                        .order_by(EventRow.id))]
        counts = handle.central.ingest.counts
        print(f"\noutage: published {N_EVENTS}, stored {len(seqs)}, distinct {len(set(seqs))}, "
              f"duplicates dropped {counts['duplicate']}, broker down {outage_s:.1f} s, "
              f"outbox peak {max_depth}, backlog of {backlog} stored {drain_s:.1f} s after the broker returned "
              f"(reconnect backoff included), central reconnects {handle.central.mqtt_counts['connects'] - 1}, "
              f"publisher connects {[p.counters['connects'] for p in pubs]}")
        assert seqs == list(range(N_EVENTS))  # every event exactly once, in order
        assert outage_s >= OUTAGE_S
    finally:
        for p in pubs[-1:]:
            p.stop()
        handle.stop()
        broker.stop()
