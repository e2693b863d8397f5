"""Alerts: the wire contract, the MQTT publisher with its on-disk outbox, and the central alarm service
(store, REST API, live dashboard, webhooks)."""
