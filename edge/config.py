"""The node config: composes each capability's own config model, loads YAML and reports errors by file,
key path and expectation.

Relative file paths inside the config (sources, model, clips dir, outbox) are resolved against the
config file's folder, so a config and its footage can travel together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.config import MqttConfig
from detectors.config import FloorConfig, Point, RulesConfig, ScheduleConfig, TrackerConfig, check_polygon
from detectors.gating_config import GatingConfig
from edge.node_config import RuntimeConfig
from models.config import ModelConfig
from storage.config import ClipsConfig


class ConfigError(Exception):
    """A config that cannot be used; the message names the file, the key and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CameraConfig(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    source: str = Field(min_length=1, description="file path, rtsp:// or http:// url, or a local device")
    detect_fps: float = Field(5.0, gt=0, le=30, description="frames analysed per second")
    floor: FloorConfig | None = None
    decoder_threads: int = Field(1, ge=1, le=16, description="1 is cheapest per frame (MEASUREMENTS.md)")
    reconnect_max_s: float = Field(30.0, gt=0, description="longest wait between reconnect attempts")


class WindowConfig(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    camera: str
    post: list[Point] = Field(description="staff seat zone, relative 0..1")
    counter: list[Point] | None = Field(None, description="citizen side of the counter, relative 0..1")
    microphone: str | None = Field(None, description="a microphone id, or 'camera' for the camera's audio")

    @field_validator("post", "counter")
    @classmethod
    def _poly(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        return None if v is None else check_polygon(v)


class StaffAreaConfig(_Strict):
    id: str = Field(min_length=1)
    camera: str
    zone: list[Point]

    @field_validator("zone")
    @classmethod
    def _poly(cls, v: list[list[float]]) -> list[list[float]]:
        return check_polygon(v)


class MicBaselineConfig(_Strict):
    ambient_db: float | None = Field(None, le=0, description="ambient RMS level, dBFS")
    speech_db: float | None = Field(None, le=0, description="normal service speech RMS level, dBFS")
    pitch_hz: float | None = Field(None, gt=0, le=2000, description="normal speaking pitch")


class MicrophoneConfig(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    source: str = Field(min_length=1, description="audio file, stream url, or alsa:/sounddevice: device")
    gain_db: float = Field(0.0, ge=-60, le=60)
    baseline: MicBaselineConfig | None = None


class NodeConfig(_Strict):
    site: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    node: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    model: ModelConfig = ModelConfig()
    cameras: list[CameraConfig] = Field(min_length=1)
    windows: list[WindowConfig] = Field(default_factory=list)
    staff_areas: list[StaffAreaConfig] = Field(default_factory=list)
    microphones: list[MicrophoneConfig] = Field(default_factory=list)
    rules: RulesConfig = RulesConfig()
    tracker: TrackerConfig = TrackerConfig()
    gating: GatingConfig = GatingConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    schedule: ScheduleConfig | None = Field(None, description="absent means always open")
    mqtt: MqttConfig | None = Field(None, description="absent: events go to events.jsonl only")
    clips: ClipsConfig | None = Field(None, description="absent: no evidence clips")

    @model_validator(mode="after")
    def _references(self) -> NodeConfig:
        cams = _unique("cameras", [c.id for c in self.cameras])
        _unique("windows", [w.id for w in self.windows])
        _unique("staff_areas", [a.id for a in self.staff_areas])
        mics = _unique("microphones", [m.id for m in self.microphones])
        for i, w in enumerate(self.windows):
            if w.camera not in cams:
                raise ValueError(f"windows[{i}].camera: {w.camera!r} is not a camera id (have {sorted(cams)})")
            if w.microphone not in (None, "camera") and w.microphone not in mics:
                raise ValueError(f"windows[{i}].microphone: {w.microphone!r} is not a microphone id "
                                 f"(have {sorted(mics)}) nor 'camera'")
        for i, a in enumerate(self.staff_areas):
            if a.camera not in cams:
                raise ValueError(f"staff_areas[{i}].camera: {a.camera!r} is not a camera id")
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(camera_id)

    def windows_of(self, camera_id: str) -> list[WindowConfig]:
        return [w for w in self.windows if w.camera == camera_id]

    def staff_areas_of(self, camera_id: str) -> list[StaffAreaConfig]:
        return [a for a in self.staff_areas if a.camera == camera_id]


def _unique(section: str, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{section}: id {i!r} is used twice")
        seen.add(i)
    return seen


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the README for the keys)"
        where = f"{path}: {loc}: " if loc else f"{path}: "
        lines.append(f"{where}{msg}")
    return "\n".join(lines)


def parse_config(data: Any, path: Path | str = "<config>") -> NodeConfig:
    """Validate an already-parsed mapping; raises ConfigError naming the file and the key."""
    path = Path(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return NodeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None


def load_config(path: str | Path) -> NodeConfig:
    """Read and validate a node config; relative paths inside are resolved against its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    cfg = parse_config(data, path)
    return resolve_paths(cfg, path.parent)


def _is_url_or_device(source: str) -> bool:
    return "://" in source or source.startswith(("/dev/", "alsa:", "sounddevice:", "v4l2:", "avfoundation:"))


def resolve_paths(cfg: NodeConfig, base: Path) -> NodeConfig:
    """Make relative file paths absolute against `base` (the config's folder)."""
    def fix(p: str) -> str:
        if _is_url_or_device(p) or Path(p).is_absolute():
            return p
        return str((base / p).resolve())

    for cam in cfg.cameras:
        cam.source = fix(cam.source)
    for mic in cfg.microphones:
        mic.source = fix(mic.source)
    if "/" in cfg.model.path or (base / cfg.model.path).exists():
        cfg.model.path = fix(cfg.model.path)
    if cfg.clips is not None and not Path(cfg.clips.dir).is_absolute():
        cfg.clips.dir = str((base / cfg.clips.dir).resolve())
    if cfg.mqtt is not None:
        if not Path(cfg.mqtt.outbox).is_absolute():
            cfg.mqtt.outbox = str((base / cfg.mqtt.outbox).resolve())
        if cfg.mqtt.password_file:
            cfg.mqtt.password_file = fix(cfg.mqtt.password_file)
        if cfg.mqtt.tls:
            for k in ("ca", "cert", "key"):
                v = getattr(cfg.mqtt.tls, k)
                if v:
                    setattr(cfg.mqtt.tls, k, fix(v))
    return cfg
