"""Config writing: round trip keeps models and comments, edits land where they belong, bad edits are
refused without touching the file, backups are kept."""

from __future__ import annotations

import os

import pytest
import yaml

from calibration.config_writer import ConfigChangedError, ConfigDocument, write_atomic
from calibration.state import CalibrationState, StaffAreaEdit, WindowEdit
from detectors.config import FloorConfig
from edge.config import ConfigError, MicBaselineConfig, load_config
from tests.calib_fixtures import CONFIG_TEXT, make_config

COMMENTS = ["# HallWatch node config for hall 3", "# the site id used in MQTT topics", "# over windows 1-4",
            "# window 1 is the one by the door", "# one minute in this hall"]

GOOD_FLOOR = FloorConfig(image=[[0.2, 0.6], [0.8, 0.6], [0.95, 0.95], [0.05, 0.95]],
                         metres=[[0, 6], [4, 6], [4, 0], [0, 0]])


@pytest.fixture
def cfg_path(tmp_path):
    return make_config(tmp_path)


def _backups(path):
    return sorted(path.parent.glob(f"{path.name}.*.bak"))


def test_round_trip_identical_models_and_comments(cfg_path):
    before = load_config(cfg_path)
    doc = ConfigDocument(cfg_path)
    backup = doc.save(doc.state())  # the editor's state written back unchanged
    after = load_config(cfg_path)
    assert after.model_dump() == before.model_dump()
    text = cfg_path.read_text()
    for c in COMMENTS:
        assert c in text
    assert backup is not None and backup.read_text() == CONFIG_TEXT
    assert text == CONFIG_TEXT  # nothing changed, so not even a number was reformatted


def test_unchanged_block_style_polygon_kept(tmp_path):
    block = "    post:\n      - [0.1, 0.5]\n      - [0.3, 0.5]\n      - [0.3, 0.9]\n"
    text = CONFIG_TEXT.replace("    post: [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9], [0.1, 0.9]]\n", block)
    cfg = make_config(tmp_path, text)
    doc = ConfigDocument(cfg)
    st = doc.state()
    st.windows[0].counter = [[0.3, 0.5], [0.5, 0.5], [0.5, 0.8]]
    doc.save(st)
    out = cfg.read_text()
    assert block in out and "counter: [[0.3, 0.5], [0.5, 0.5], [0.5, 0.8]]" in out


def test_invalid_file_refused_at_open(tmp_path):
    cfg = make_config(tmp_path, CONFIG_TEXT.replace("    detect_fps: 5\n", "    detect_fps: 5\n    fps: 5\n"))
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.fps: unknown key"):
        ConfigDocument(cfg)


@pytest.mark.parametrize("seq_style", ["  - ", "- "])
def test_edit_window_area_floor_baseline(tmp_path, seq_style):
    text = CONFIG_TEXT if seq_style == "  - " else _dedent_sequences(CONFIG_TEXT)
    cfg = make_config(tmp_path, text)
    doc = ConfigDocument(cfg)
    st = doc.state()
    st.windows[0].post = [[0.11, 0.52], [0.29, 0.5], [0.3, 0.88]]
    st.windows[0].id = "W1a"  # renamed: keeps its comment and microphone
    st.windows.append(WindowEdit(id="W2", camera="cam1", post=[[0.5, 0.5], [0.6, 0.5], [0.6, 0.7]]))
    st.staff_areas = [StaffAreaEdit(id="desk", camera="cam1", zone=[[0, 0], [0.2, 0], [0.2, 0.2]])]
    st.floors["cam1"] = GOOD_FLOOR
    st.baselines["mic1"] = MicBaselineConfig(ambient_db=-55.123, speech_db=-28.5, pitch_hz=180.0)
    doc.save(st)
    model = load_config(cfg)
    assert [w.id for w in model.windows] == ["W1a", "W2"]
    assert model.windows[0].post == [[0.11, 0.52], [0.29, 0.5], [0.3, 0.88]]
    assert model.windows[0].microphone == "mic1" and model.windows[1].counter is None
    assert [a.id for a in model.staff_areas] == ["desk"]
    assert model.camera("cam1").floor == GOOD_FLOOR
    assert model.microphones[0].baseline == MicBaselineConfig(ambient_db=-55.12, speech_db=-28.5, pitch_hz=180)
    out = cfg.read_text()
    for c in COMMENTS:
        assert c in out
    # keys the editor does not own are left exactly as written (quotes, flow lists)
    assert 'timezone: "Europe/Berlin"\n  open: ["08:00-12:30", "13:30-18:00"]' in out
    assert "topic_prefix: 'hallwatch'" in out
    assert "post: [[0.11, 0.52], [0.29, 0.5], [0.3, 0.88]]" in out  # one compact line per polygon
    assert f"\n{seq_style}id: cam1" in out  # the file's own sequence indentation is kept
    assert len(_backups(cfg)) == 1


def test_rename_and_reuse_old_id(cfg_path):
    doc = ConfigDocument(cfg_path)
    st = doc.state()
    st.windows[0].id = "W9"
    st.windows.append(WindowEdit(id="W1", camera="cam1", post=[[0.6, 0.5], [0.7, 0.5], [0.7, 0.7]]))
    doc.save(st)
    model = load_config(cfg_path)
    assert [(w.id, w.microphone, len(w.post)) for w in model.windows] == [("W9", "mic1", 4), ("W1", None, 3)]


def _dedent_sequences(text: str) -> str:
    """The same config with "- " items at the key's own indent (the other common YAML style)."""
    out, in_seq = [], False
    for ln in text.splitlines():
        if ln and not ln.startswith((" ", "#")):
            in_seq = ln.split(":")[0] in ("cameras", "windows", "staff_areas", "microphones")
        out.append(ln[2:] if in_seq and ln.startswith("  ") else ln)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(("edit", "match"), [
    (lambda st: setattr(st.windows[0], "camera", "cam9"), "not a camera id"),
    (lambda st: setattr(st.windows[0], "post", [[0.1, 0.1], [1.4, 0.1], [0.2, 0.3]]), "outside 0..1"),
    (lambda st: st.floors.__setitem__("cam1", FloorConfig.model_construct(  # unchecked, as from an old page
        image=[[0.1, 0.5], [0.3, 0.5], [0.5, 0.5], [0.7, 0.5]], metres=[[0, 0], [1, 0], [1, 1], [0, 1]])), "line"),
    (lambda st: st.windows.append(WindowEdit(id="W1", camera="cam1", post=[[0, 0], [0.1, 0], [0, 0.1]])),
     "used twice"),
])
def test_invalid_edit_refused_file_untouched(cfg_path, edit, match):
    doc = ConfigDocument(cfg_path)
    st = doc.state()
    edit(st)
    with pytest.raises(ConfigError, match=match):
        doc.save(st)
    assert cfg_path.read_text() == CONFIG_TEXT and not _backups(cfg_path)


def test_changed_on_disk_refused(cfg_path):
    doc = ConfigDocument(cfg_path)
    cfg_path.write_text(CONFIG_TEXT.replace("after_s: 60", "after_s: 90"))
    with pytest.raises(ConfigChangedError, match="changed on disk"):
        doc.save(doc.state())
    assert "after_s: 90" in cfg_path.read_text()


def test_state_json_round_trip(cfg_path):
    st = ConfigDocument(cfg_path).state()
    assert CalibrationState.model_validate_json(st.model_dump_json()) == st


def test_write_atomic_backups_and_mode(tmp_path):
    p = tmp_path / "c.yaml"
    assert write_atomic(p, "a: 1\n") is None
    os.chmod(p, 0o640)
    b1 = write_atomic(p, "a: 2\n")
    b2 = write_atomic(p, "a: 3\n")  # same second: a second backup, not an overwrite
    assert b1 != b2 and b1.read_text() == "a: 1\n" and b2.read_text() == "a: 2\n"
    assert yaml.safe_load(p.read_text()) == {"a": 3}
    assert (p.stat().st_mode & 0o777) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))
