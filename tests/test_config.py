"""Config errors name the file, the key path and what was expected; `hallwatch check` exits 2."""

import textwrap

import pytest

from edge.cli import main
from edge.config import ConfigError, load_config

GOOD = """
site: demo-hall
node: edge-01
model: {path: yolox_nano.onnx, backend: auto, confidence: 0.35}
cameras:
  - {id: cam1, source: footage.mp4, detect_fps: 5}
windows:
  - id: W1
    camera: cam1
    post: [[0.40, 0.55], [0.70, 0.55], [0.70, 1.0], [0.40, 1.0]]
    counter: [[0.10, 0.50], [0.40, 0.50], [0.40, 1.0], [0.10, 1.0]]
rules:
  empty_post: {after_s: 300, clear_after_s: 5}
schedule:
  timezone: Asia/Shanghai
  open: ["08:30-12:00", "13:30-17:30"]
  days: [mon, tue, wed, thu, fri]
"""


def write(tmp_path, text, name="node.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_issue_example_loads_and_resolves_paths(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.cameras[0].source == str(tmp_path / "footage.mp4")
    assert cfg.rules.empty_post.after_s == 300 and cfg.schedule.days[-1] == "fri"
    assert cfg.windows[0].counter[0] == [0.10, 0.50]


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("detect_fps: 5", "detect_fps: 0", "cameras[0].detect_fps: Input should be greater than 0"),
        ("detect_fps: 5", "detect_fps: fast", "cameras[0].detect_fps: Input should be a valid number"),
        ("after_s: 300", "after_sec: 300", "rules.empty_post.after_sec: unknown key"),
        ("camera: cam1", "camera: cam9", "windows[0].camera: 'cam9' is not a camera id"),
        ("[0.70, 1.0], [0.40, 1.0]]\n    counter", "[0.70, 1.5], [0.40, 1.0]]\n    counter",
         "windows[0].post: point [0.7, 1.5] is outside 0..1"),
        ("backend: auto", "backend: tensorrt", "model.backend: Input should be 'auto', 'onnxruntime'"),
        ("Asia/Shanghai", "Mars/Olympus", "schedule.timezone: unknown IANA time zone"),
        ('"13:30-17:30"', '"17:30-13:30"', "schedule.open: '17:30-13:30': the end must come after"),
        ("[mon, tue", "[monday, tue", "schedule.days: unknown day(s) ['monday']"),
        ("confidence: 0.35", "confidence: 1.5", "model.confidence: Input should be less than 1"),
        ("confidence: 0.35}", "confidence: 0.35}\ngating: {crop_sizes: [160, 200]}",
         "gating.crop_sizes: crop sizes must be positive multiples of 32 pixels (the detectors' largest stride), got [200]"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path, old, new, expected):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: "), msg
    assert expected in msg, msg


def test_duplicate_ids(tmp_path):
    text = GOOD.replace("  - {id: cam1, source: footage.mp4, detect_fps: 5}",
                        "  - {id: cam1, source: a.mp4}\n  - {id: cam1, source: b.mp4}")
    with pytest.raises(ConfigError, match="cameras: id 'cam1' is used twice"):
        load_config(write(tmp_path, text))


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match=r"node\.yaml: cameras: Field required"):
        load_config(write(tmp_path, "site: a\nnode: b\n"))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("site: [unclosed\n", "not valid YAML at line"),
        ("- just\n- a list\n", "expected a mapping of keys at the top level"),
    ],
)
def test_unparseable_files(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "nope.yaml")


def test_check_command_exit_codes(tmp_path, capsys):
    assert main(["check", str(write(tmp_path, GOOD))]) == 0
    assert "ok (1 camera(s), 1 window(s)" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("detect_fps: 5", "detect_fps: -1"), "bad.yaml")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml: cameras[0].detect_fps" in err
