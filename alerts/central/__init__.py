"""The central alarm service: MQTT ingest -> SQLAlchemy store -> live dashboard, REST API, webhooks.

Entry points: `alerts.central.service.run_central_in_thread(cfg)` and `hallwatch central` (edge/cli_central.py).
"""
