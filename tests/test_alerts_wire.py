"""The wire contract and central ingest under bad input: tables of good/bad payloads, and a fuzz run of
10,000+ malformed, truncated, wrong-typed and oversized payloads through the same `Ingest.handle` the MQTT
callback uses, plus a few hundred through a real Mosquitto to the running central service."""

from __future__ import annotations

import json
import random

import paho.mqtt.client as mqtt
import pytest

from alerts.central.ingest import Ingest, dedupe_key
from alerts.central.store import EventRow, open_store
from alerts.wire import MAX_EVENT_BYTES, WireError, parse_event, parse_status, parse_window_state
from tests.alerts_helpers import central_config, count_rows, make_event, wait_for

TOPIC = "hallwatch/hall1/n1/events"
REQUIRED = ("schema", "event_id", "type", "state", "site", "node", "camera", "window", "t", "started_at")
BAD_VALUES = {
    "schema": [2, "1", None, [], 0],
    "event_id": [5, "", "has space", "a/b", "x" * 200, None],
    "type": ["fire", 1, None, "EMPTY_POST"],
    "state": ["begin", None, 3, ""],
    "site": ["", "a/b", 7, None, "x" * 65, "hall2"],
    "node": ["", "n 1", 7, None, "n2"],
    "camera": ["", "c#1", 7, None],
    "window": ["", "w w", 5, [], {"a": 1}],
    "t": ["1.0", None, -1, float("nan"), float("inf"), 1e12, [], True],
    "started_at": ["0", None, -5.0, float("-inf"), {}],
    "score": ["high", float("nan"), 1e7, None, []],
    "people": [-1, 1.5, "3", True, 10**6],
    "details": [[], "x", 3, None],
    "clip": [5, "x" * 2000, []],
}


def good() -> dict:
    return make_event(1, t=12.5).to_dict()


def test_event_roundtrip():
    ev = parse_event(json.dumps(good()).encode())
    assert ev.to_dict() == good()


@pytest.mark.parametrize("payload, reason", [
    (b"", "not_json"), (b"{", "not_json"), (b"\xff\xfe", "not_utf8"), (b"[]", "schema"), (b"null", "schema"),
    (b"3", "schema"), (b"x" * (MAX_EVENT_BYTES + 1), "oversized"), (b"[" * 5000 + b"]" * 5000, "not_json"),
])
def test_event_rejects_by_reason(payload, reason):
    with pytest.raises(WireError) as err:
        parse_event(payload)
    assert err.value.reason == reason


@pytest.mark.parametrize("state, t, key", [("start", 1.0, "e|start"), ("end", 9.0, "e|end"),
                                           ("update", 2.5, "e|update|2.500")])
def test_dedupe_key(state, t, key):
    d = good() | {"event_id": "e", "state": state, "t": t}
    assert dedupe_key(parse_event(json.dumps(d).encode())) == key


@pytest.mark.parametrize("payload, ok", [(b"online", True), (b"offline", True), (b"Online", False), (b"", False)])
def test_status(payload, ok):
    if ok:
        assert parse_status(payload) == payload.decode()
    else:
        with pytest.raises(WireError):
            parse_status(payload)


def test_window_state():
    ws = parse_window_state(b'{"window":"W1","state":"empty","alert":null,"t":5.0}')
    assert ws.state == "empty"
    with pytest.raises(WireError):
        parse_window_state(b'{"window":"W1","state":"asleep","alert":null,"t":5.0}')


def malformed(rng: random.Random, kinds: tuple[int, ...] = tuple(range(9))) -> bytes:
    """One payload that must be rejected: truncated, wrong-typed, missing or extra keys, oversized,
    not JSON, not UTF-8, deeply nested, or not an object."""
    kind = rng.choice(kinds)
    d = good()
    if kind == 0:  # truncated valid JSON
        text = json.dumps(d).encode()
        return text[: rng.randrange(0, len(text) - 1)]
    if kind == 1:  # wrong-typed or out-of-range value
        key = rng.choice(list(BAD_VALUES))
        d[key] = rng.choice(BAD_VALUES[key])
        return json.dumps(d).encode()
    if kind == 2:  # a required key missing
        del d[rng.choice(REQUIRED)]
        return json.dumps(d).encode()
    if kind == 3:  # an unknown key
        d[rng.choice(["extra", "Type", "priority", "seq"])] = rng.randrange(100)
        return json.dumps(d).encode()
    if kind == 4:  # oversized
        d["details"] = {"blob": "x" * (MAX_EVENT_BYTES + rng.randrange(1, 50_000))}
        return json.dumps(d).encode()
    if kind == 5:  # random bytes (almost never valid UTF-8 JSON)
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) + b"\xff"
    if kind == 6:  # nested far too deep
        depth = rng.randrange(2000, 20000)
        return b"[" * depth + b"]" * depth
    if kind == 7:  # valid JSON, not an object
        return json.dumps(rng.choice([[d], "event", 42, None, True, 3.5])).encode()
    bad = bytearray(json.dumps(d).encode())  # a byte flipped into a structural character
    bad[rng.randrange(len(bad))] = ord(rng.choice('{}[]:,"'))
    try:
        parse_event(bytes(bad))
    except WireError:
        return bytes(bad)
    return b"{" + bytes(bad)  # the flip happened to keep it valid: make it invalid


def test_fuzz_ingest_in_process(tmp_path):
    _, sessions = open_store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    ingest = Ingest(sessions, "hallwatch")
    rng = random.Random(20261129)
    n = 10_500
    outcomes = [ingest.handle(TOPIC, malformed(rng)) for _ in range(n)]
    # a sprinkle of bad payloads on the other topics too, and unknown topics
    for i in range(300):
        topic = ["hallwatch/hall1/n1/status", "hallwatch/hall1/n1/stats", "hallwatch/hall1/n1/windows/W1/state",
                 "hallwatch/hall1/n1/bogus", "other/hall1/n1/events", "hallwatch/x"][i % 6]
        # stats may be any JSON object, so only payloads that are not one at all go there
        outcomes.append(ingest.handle(topic, malformed(rng, (0, 4, 5, 6, 7))))
    assert all(o.startswith("rejected_") for o in outcomes), {o for o in outcomes if not o.startswith("rejected_")}
    c = ingest.counts
    assert c["received"] == c["rejected"] == n + 300
    by_reason = {k: v for k, v in c.items() if k.startswith("rejected_")}
    assert sum(by_reason.values()) == n + 300
    assert {"rejected_schema", "rejected_not_json", "rejected_oversized", "rejected_not_utf8",
            "rejected_topic"} <= by_reason.keys()
    assert count_rows(sessions, EventRow) == 0
    # and the ingest still works afterwards
    assert ingest.handle(TOPIC, make_event(7).to_json().encode()) == "stored"
    print(f"\nfuzz: {n + 300} payloads rejected, by reason {by_reason}")


@pytest.mark.broker
def test_fuzz_through_real_broker(tmp_path, mosquitto):
    from alerts.central.service import run_central_in_thread

    handle = run_central_in_thread(central_config(tmp_path, mosquitto.url), wait_mqtt_s=10)
    try:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fuzzer")
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        rng = random.Random(7)
        n = 400
        infos = [client.publish(TOPIC, malformed(rng), qos=1) for _ in range(n)]
        infos.append(client.publish(TOPIC, make_event(3).to_json(), qos=1))
        for info in infos:
            info.wait_for_publish(timeout=10)
        counts = handle.central.ingest.counts
        wait_for(lambda: counts["received"] >= n + 1, 30, "central to receive every fuzz message")
        client.loop_stop()
        client.disconnect()
        assert counts["rejected"] == n
        assert count_rows(handle.central.sessions, EventRow) == 1
        assert handle.central.mqtt_counts["disconnects"] == 0  # nothing knocked the service off the broker
    finally:
        handle.stop()
