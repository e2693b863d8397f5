"""Shared fixtures. Each capability keeps its fixtures in its own module and only imports them here."""

from tests.mosquitto import mosquitto, mosquitto_factory  # noqa: F401
from tests.postgres import postgres_url  # noqa: F401
