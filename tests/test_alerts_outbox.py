"""The on-disk outbox: order, durability across reopen, the size policy (tables, no broker)."""

from __future__ import annotations

import sqlite3

import pytest

from alerts.outbox import Outbox


def test_order_and_ack(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", sync="normal")
    ids = [box.put("t", f"m{i}".encode(), "start", float(i)) for i in range(5)]
    assert ids == sorted(ids)
    assert [r.payload for r in box.peek(0, 10)] == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert [r.payload for r in box.peek(ids[1], 2)] == [b"m2", b"m3"]
    box.delete(ids[0])
    box.delete(ids[0])  # a second PUBACK for the same row is harmless
    assert len(box) == 4
    assert box.peek(0, 1)[0].payload == b"m1"


def test_survives_reopen_and_never_reuses_ids(tmp_path):
    path = tmp_path / "sub" / "o.sqlite"
    box = Outbox(path)
    a = box.put("t", b"a", "start", 0.0)
    b = box.put("t", b"b", "end", 1.0)
    box.delete(b)
    box.close()
    again = Outbox(path)
    assert len(again) == 1 and again.peek()[0].payload == b"a"
    c = again.put("t", b"c", "start", 2.0)
    assert c > b > a  # AUTOINCREMENT: a reopened outbox still drains in publish order
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("states, expect_left, dropped", [
    # full of starts: the oldest row goes
    (["start", "start", "start", "start"], ["s1", "s2", "s3"], 1),
    # an update is queued: it goes first, even when it is not the oldest
    (["start", "update", "start", "end"], ["s0", "s2", "s3"], 1),
    # two updates: the oldest update goes each time
    (["update", "update", "start", "start", "end"], ["s2", "s3", "s4"], 2),
])
def test_size_policy(tmp_path, states, expect_left, dropped):
    box = Outbox(tmp_path / "o.sqlite", max_events=3, sync="normal")
    for i, st in enumerate(states):
        box.put("t", f"s{i}".encode(), st, float(i))
    assert [r.payload.decode() for r in box.peek(0, 10)] == expect_left
    assert box.dropped == dropped
    assert len(box) == 3


@pytest.mark.parametrize("kw, msg", [({"max_events": 0}, "max_events"), ({"sync": "off"}, "sync")])
def test_bad_settings(tmp_path, kw, msg):
    with pytest.raises(ValueError, match=msg):
        Outbox(tmp_path / "o.sqlite", **kw)


def test_unopenable_path_names_file(tmp_path):
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(ValueError, match="dir.sqlite"):
        Outbox(tmp_path / "dir.sqlite")


def test_ack_check_tolerates_publish_during_disconnect():
    """paho raises from is_published() for a message handed over as the connection dropped; the sender
    must treat it as not acknowledged (and keep running), not die."""
    import paho.mqtt.client as mqtt

    from alerts.publisher import _acked

    info = mqtt.MQTTMessageInfo(1)
    info.rc = mqtt.MQTT_ERR_NO_CONN
    assert _acked(info) is False
    ok = mqtt.MQTTMessageInfo(2)
    assert _acked(ok) is False
    ok._set_as_published()
    assert _acked(ok) is True
