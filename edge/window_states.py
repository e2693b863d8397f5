"""Publish each window's retained state (staffed / empty / closed) over MQTT when it changes."""

from __future__ import annotations

from typing import Any

from detectors.types import Event
from edge.pipeline import CameraPipeline


class WindowStates:
    """Remembers the last state sent per window; `publish_changes(pipeline)` sends only what changed.

    Also a live-node frame hook: `hook(camera_id, pipeline, events)`.
    """

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher
        self.last: dict[str, str] = {}

    def publish_changes(self, pipeline: CameraPipeline) -> None:
        for window, state in pipeline.window_states().items():
            if self.last.get(window) != state:
                self.last[window] = state
                self.publisher.publish_window_state(window, state, None)

    def __call__(self, camera_id: str, pipeline: CameraPipeline, events: list[Event]) -> None:
        self.publish_changes(pipeline)
