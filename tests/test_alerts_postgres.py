"""The same store code and migrations on PostgreSQL: central with `db: postgresql://...`, events over a real
Mosquitto, duplicates stored once, the alarm lifecycle, retention protection, and an idempotent re-migrate."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from alerts.central.service import run_central_in_thread
from alerts.central.store import EventRow, migrate, open_store, protected_event_ids, table_names
from alerts.publisher import Publisher
from tests.alerts_helpers import central_config, count_rows, edge_config, make_event, wait_for
from tests.postgres import restart_postgres

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_central_on_postgresql(tmp_path, mosquitto, postgres_url):
    handle = run_central_in_thread(central_config(tmp_path, mosquitto.url, db=postgres_url), wait_mqtt_s=10)
    pub = Publisher(edge_config(tmp_path, mosquitto.url), "hall1", "n1")
    pub.start()
    try:
        for i in range(10):
            pub.publish_event(make_event(i))
        pub.publish_event(make_event(3))  # duplicate
        pub.publish_event(make_event(4, state="end"))
        assert pub.flush(15)
        central = handle.central
        wait_for(lambda: count_rows(central.sessions, EventRow) == 11, 10, "11 events in PostgreSQL")
        wait_for(lambda: central.ingest.counts["duplicate"] == 1, 5, "the duplicate dropped")
        with central.sessions() as s:
            assert [r.details["seq"] for r in s.scalars(select(EventRow).order_by(EventRow.id))] == [*range(10), 4]
        client = httpx.Client(base_url=handle.url)
        tok = client.post("/api/token", json={"username": "manager", "password": "manager-pw"}).json()["token"]
        hdr = {"Authorization": f"Bearer {tok}"}
        alarms = client.get("/api/alarms?window=W1", headers=hdr).json()
        assert len(alarms) == 10 and sum(not a["active"] for a in alarms) == 1
        first = next(a for a in alarms if not a["active"])  # ended: once resolved, retention may go
        client.post(f"/api/alarms/{first['id']}/ack", json={"note": "pg"}, headers=hdr)
        assert client.post(f"/api/alarms/{first['id']}/resolve", json={}, headers=hdr).json()["status"] == "resolved"
        with central.sessions() as s:
            protected = protected_event_ids(s)
        assert len(protected) == 9 and first["event_id"] not in protected
    finally:
        pub.stop()
        handle.stop()
    engine, _ = open_store(postgres_url)
    assert migrate(engine) == 2 and "alarms" in table_names(engine)
    engine.dispose()


def test_database_outage_loses_nothing(tmp_path, mosquitto, postgres_url):
    """PostgreSQL goes away for a few seconds mid-stream: the central service retries each message until the
    database is back instead of acknowledging and dropping it."""
    handle = run_central_in_thread(central_config(tmp_path, mosquitto.url, db=postgres_url), wait_mqtt_s=10)
    pub = Publisher(edge_config(tmp_path, mosquitto.url), "hall1", "n1")
    pub.start()
    try:
        for i in range(20):
            pub.publish_event(make_event(i))
        assert pub.flush(15)
        wait_for(lambda: count_rows(handle.central.sessions, EventRow) == 20, 10, "first 20 stored")
        with restart_postgres(postgres_url, down_s=3.0):
            for i in range(20, 40):
                pub.publish_event(make_event(i))
            assert pub.flush(15)  # the broker has them; the central service cannot store them yet

        def stored() -> int:
            try:
                return count_rows(handle.central.sessions, EventRow)
            except OperationalError:  # the server is still starting
                return -1

        wait_for(lambda: stored() == 40, 60, "all 40 stored after the outage")
        with handle.central.sessions() as s:
            assert [r.details["seq"] for r in s.scalars(select(EventRow).order_by(EventRow.id))] == list(range(40))
        assert handle.central.ingest.counts["db_error"] >= 1
    finally:
        pub.stop()
        handle.stop()
