"""Write the technician's edits back into a node config file without losing anything else in it.

The file is read with ruamel.yaml in round-trip mode, so comments, key order, quoting and keys this tool
does not know survive; only the keys the editor owns are touched (`windows[].post/counter/id/camera`,
`staff_areas[]`, `cameras[].floor`, `microphones[].baseline`). Before anything is written the edited
document is validated with the node's own `edge.config.parse_config` (which also fits every floor
calibration), so a config that the node would refuse is never saved. Saving goes to a temp file in the same
folder, fsync, a timestamped backup `CONFIG.YYYYmmdd-HHMMSS.bak` of the previous file, then an atomic
rename.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from calibration.state import CalibrationState
from edge.config import ConfigError, NodeConfig, parse_config

log = logging.getLogger(__name__)

DECIMALS = 4  # relative coordinates: 1e-4 of a 4K frame is under half a pixel


class ConfigChangedError(ConfigError):
    """The file on disk changed since it was opened; saving would overwrite someone else's edit."""


def _plain(node: Any) -> Any:
    """ruamel's commented containers -> plain dict/list (what pydantic validates)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _mapping_indent(text: str) -> int:
    """Indent of nested mappings in `text` (2 when there are none)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for a, b in zip(lines, lines[1:], strict=False):
        if a.rstrip().endswith(":") and not a.lstrip().startswith("-") and not b.lstrip().startswith("-"):
            d = (len(b) - len(b.lstrip())) - (len(a) - len(a.lstrip()))
            if d > 0:
                return d
    return 2


def _set_points(node: CommentedMap, key: str, points: list[list[float]], decimals: int = DECIMALS) -> None:
    """node[key] = points as a flow list, unless it already holds these values (then its style stays)."""
    rounded = [[round(float(v), decimals) for v in p] for p in points]
    if _plain(node.get(key)) != rounded:
        node[key] = _flow_points(rounded)


def _flow_points(points: list[list[float]], decimals: int = DECIMALS) -> CommentedSeq:
    """A polygon as one compact flow-style line: [[x, y], [x, y], ...]."""
    outer = CommentedSeq()
    for p in points:
        inner = CommentedSeq([round(float(v), decimals) for v in p])
        inner.fa.set_flow_style()
        outer.append(inner)
    outer.fa.set_flow_style()
    return outer


class ConfigDocument:
    """One node config file opened for editing.

    `state()` gives what the editor shows; `apply(state)` returns the edited document (not yet written);
    `save(state)` validates and writes it. The loaded text's sha256 guards against overwriting a file
    that someone else changed meanwhile.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.reload()

    def reload(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the config file ({exc.strerror})") from None
        self._yaml = YAML()
        self._yaml.preserve_quotes = True
        self._yaml.width = 4096  # never re-wrap long lines the technician wrote
        try:
            data, seq_indent, offset = load_yaml_guess_indent(text, yaml=self._yaml)
        except YAMLError as exc:
            raise ConfigError(f"{self.path}: not valid YAML: {exc}") from None
        self._yaml.indent(mapping=_mapping_indent(text), sequence=seq_indent or 2, offset=offset or 0)
        self.data: CommentedMap = data
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()
        self.model = parse_config(_plain(data), self.path)

    def state(self) -> CalibrationState:
        """The editable parts of the loaded config (the zones, floors and microphone baselines)."""
        return CalibrationState.from_model(self.model)

    # -- editing -------------------------------------------------------------------------------------------
    def apply(self, state: CalibrationState) -> CommentedMap:
        """A copy of the document with `state` written into the keys the editor owns."""
        doc = copy.deepcopy(self.data)
        doc["windows"] = self._merge_list(doc.get("windows"), state.windows, self._window_fields)
        doc["staff_areas"] = self._merge_list(doc.get("staff_areas"), state.staff_areas, self._area_fields)
        if not doc["windows"]:
            del doc["windows"]
        if not doc["staff_areas"]:
            del doc["staff_areas"]
        for cam in doc.get("cameras") or []:
            if str(cam.get("id")) not in state.floors:
                continue  # not edited: leave as it is
            floor = state.floors[str(cam.get("id"))]
            if floor is None:
                cam.pop("floor", None)
            else:
                target = cam.get("floor") if isinstance(cam.get("floor"), CommentedMap) else CommentedMap()
                _set_points(target, "image", floor.image)
                _set_points(target, "metres", floor.metres, 3)
                cam["floor"] = target
        for mic in doc.get("microphones") or []:
            if str(mic.get("id")) not in state.baselines:
                continue
            base = state.baselines[str(mic.get("id"))]
            if base is None:
                mic.pop("baseline", None)
            else:
                fields = {k: round(v, 2) for k, v in base.model_dump(exclude_none=True).items()}
                old = mic.get("baseline")
                target = old if isinstance(old, CommentedMap) else CommentedMap()
                for k in [k for k in target if k not in fields]:
                    del target[k]
                target.update(fields)
                mic["baseline"] = target
        return doc

    @staticmethod
    def _window_fields(item: CommentedMap, edit: Any) -> None:
        item["id"], item["camera"] = edit.id, edit.camera
        _set_points(item, "post", edit.post)
        if edit.counter is None:
            item.pop("counter", None)
        else:
            _set_points(item, "counter", edit.counter)
        if edit.microphone is None:
            item.pop("microphone", None)
        else:
            item["microphone"] = edit.microphone

    @staticmethod
    def _area_fields(item: CommentedMap, edit: Any) -> None:
        item["id"], item["camera"] = edit.id, edit.camera
        _set_points(item, "zone", edit.zone)

    @staticmethod
    def _merge_list(old: Any, edits: list[Any], write: Any) -> CommentedSeq:
        """Items matched by their original id keep their comments and other keys; the rest are new.

        Each old item is used once at most, so renaming W1 to W2 and adding a new W1 gives two items."""
        old_items = {str(it.get("id")): it for it in (old or []) if isinstance(it, dict)}
        out = old if isinstance(old, CommentedSeq) else CommentedSeq()
        kept: list[Any] = []
        for e in edits:
            item = old_items.pop(e.orig_id, None) if e.orig_id is not None else None
            item = CommentedMap() if item is None else item
            write(item, e)
            kept.append(item)
        out.clear()
        out.extend(kept)
        return out

    def validate(self, doc: CommentedMap) -> NodeConfig:
        """The node's own validation (which also fits every floor calibration); raises ConfigError."""
        return parse_config(_plain(doc), self.path)

    def dumps(self, doc: CommentedMap) -> str:
        buf = io.StringIO()
        self._yaml.dump(doc, buf)
        return buf.getvalue()

    # -- saving --------------------------------------------------------------------------------------------
    def save(self, state: CalibrationState | None = None) -> Path | None:
        """Validate and write `state` (or the document as loaded); returns the backup's path.

        Raises ConfigError (nothing written) when the result would not validate, and ConfigChangedError
        when the file changed on disk since it was loaded.
        """
        doc = self.apply(state) if state is not None else self.data
        model = self.validate(doc)
        text = self.dumps(doc)
        on_disk = self.path.read_bytes() if self.path.exists() else b""
        if hashlib.sha256(on_disk).hexdigest() != self.sha256:
            raise ConfigChangedError(f"{self.path}: the file changed on disk since it was opened; "
                                     "reload the page to see the new version, then redo the edit")
        backup = write_atomic(self.path, text)
        self.data, self.model = doc, model
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()
        log.info("saved %s (backup %s)", self.path, backup)
        return backup


def _backup_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    cand = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while cand.exists():  # two saves in one second keep both backups
        cand = path.with_name(f"{path.name}.{stamp}-{n}.bak")
        n += 1
    return cand


def write_atomic(path: Path, text: str) -> Path | None:
    """Write `text` to `path` via temp file + fsync + rename, keeping a timestamped backup.

    Returns the backup's path (None when there was no previous file). Readers see either the old or the
    new file, never a half-written one.
    """
    path = Path(path)
    backup = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
            backup = _backup_name(path)
            shutil.copy2(path, backup)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
    return backup

