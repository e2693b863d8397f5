"""Config models of the alerts capability: the shipped examples load, bad keys are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.central.config import CentralConfigError, load_central_config, parse_central_config
from alerts.config import MqttConfig
from alerts.mqttconn import parse_url

REPO = Path(__file__).resolve().parents[1]


def test_central_example_loads_and_resolves_paths():
    cfg = load_central_config(REPO / "alerts" / "central.example.yaml")
    assert cfg.db == f"sqlite:///{REPO / 'alerts' / 'var' / 'central.sqlite'}"
    assert cfg.users[1].password_file == str(REPO / "alerts" / "secrets" / "anna.pw")
    assert cfg.webhooks[0].events == ["opened", "escalated"] and cfg.escalation.after_s == 300


def test_mosquitto_example_sets_max_queued_messages():
    text = (REPO / "alerts" / "mosquitto.conf.example").read_text()
    assert "\nmax_queued_messages 100000\n" in text


@pytest.mark.parametrize("data, message", [
    ({"http": {"prot": 1}}, "http.prot: unknown key"),
    ({"db": "mysql://x"}, "db: expected sqlite:///path or postgresql"),
    ({"users": [{"username": "a", "role": "boss"}]}, "users.0.role"),
    ({"users": [{"username": "a", "role": "admin"}, {"username": "a", "role": "manager"}]}, "listed twice"),
    ({"mqtt": {"url": "tcp://x:1"}}, "mqtt.url: expected mqtt://host:port"),
    ({"webhooks": [{"url": "ftp://x"}]}, "webhooks.0.url"),
    ([1, 2], "expected a mapping"),
])
def test_central_config_errors_name_the_key(data, message):
    with pytest.raises(CentralConfigError, match=message):
        parse_central_config(data, "central.yaml")


def test_plain_db_path_means_sqlite():
    assert parse_central_config({"db": "var/c.sqlite"}).db == "sqlite:///var/c.sqlite"


@pytest.mark.parametrize("url, host, port, tls", [
    ("mqtt://10.0.0.5:1883", "10.0.0.5", 1883, False), ("mqtt://broker", "broker", 1883, False),
    ("mqtts://broker", "broker", 8883, True), ("mqtts://b:9000", "b", 9000, True),
])
def test_parse_url(url, host, port, tls):
    addr = parse_url(url)
    assert (addr.host, addr.port, addr.tls) == (host, port, tls)


@pytest.mark.parametrize("kw", [{"url": "http://x"}, {"topic_prefix": "a/#"}, {"outbox_max_events": 5},
                                {"outbox_sync": "off"}, {"max_inflight": 0}, {"bogus": 1}])
def test_mqtt_config_rejects(kw):
    with pytest.raises(ValueError):
        MqttConfig(**kw)


def test_missing_password_file_is_named(tmp_path):
    from alerts.publisher import Publisher

    cfg = MqttConfig(username="u", password_file=str(tmp_path / "nope.pw"), outbox=str(tmp_path / "o.sqlite"))
    with pytest.raises(ValueError, match="nope.pw"):
        Publisher(cfg, "s", "n")


def test_central_link_config():
    from alerts.config import CentralLinkConfig

    assert CentralLinkConfig(url="http://central:8080", token_file="t").retries == 5
    with pytest.raises(ValueError):
        CentralLinkConfig(url="central:8080", token_file="t")
