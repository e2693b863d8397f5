"""The person detector on real footage with the shared YOLOX-Nano, on both ONNX Runtime and OpenVINO, and an
offline-built yolov8n (random weights: shapes and agreement only) through every backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.types import PERSON_CLASS_ID, Detections
from models.backends import OpenVinoRunner, OrtRunner, openvino_precision
from models.config import ModelConfig
from models.detector import PersonDetector, load_detector
from tests.assets import asset_or_skip

pytestmark = pytest.mark.assets

# clip, frame index, people visible in that frame (counted by eye; see SOURCES.md)
FRAMES = [("classroom.gif", 0, 4), ("store-aisle-detection.gif", 40, 3)]


def _frame(name: str, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(asset_or_skip(f"footage/{name}")))
    try:
        for _ in range(index + 1):
            ok, image = cap.read()
            assert ok, f"{name} has fewer than {index + 1} frames"
    finally:
        cap.release()
    return image


@pytest.fixture(scope="module")
def yolox_path() -> Path:
    return asset_or_skip("models/yolox_nano.onnx")


@pytest.fixture(scope="module")
def detectors(yolox_path: Path) -> dict[str, PersonDetector]:
    cfg = ModelConfig(path=str(yolox_path))
    return {
        "onnxruntime": load_detector(cfg.model_copy(update={"backend": "onnxruntime"}), threads=1),
        "openvino-f32": load_detector(cfg.model_copy(update={"backend": "openvino", "precision": "f32"}), threads=1),
        "openvino-auto": load_detector(cfg.model_copy(update={"backend": "openvino"}), threads=1),
    }


def _match_iou(a: Detections, b: Detections) -> np.ndarray:
    """For each box of `a`, its best IoU with any box of `b`."""
    x1 = np.maximum(a.xyxy[:, None, 0], b.xyxy[None, :, 0])
    y1 = np.maximum(a.xyxy[:, None, 1], b.xyxy[None, :, 1])
    x2 = np.minimum(a.xyxy[:, None, 2], b.xyxy[None, :, 2])
    y2 = np.minimum(a.xyxy[:, None, 3], b.xyxy[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda d: (d.xyxy[:, 2] - d.xyxy[:, 0]) * (d.xyxy[:, 3] - d.xyxy[:, 1])  # noqa: E731
    return (inter / (area(a)[:, None] + area(b)[None, :] - inter)).max(axis=1)


@pytest.mark.parametrize(("clip", "index", "people"), FRAMES)
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino-auto"])
def test_yolox_counts_people_with_plausible_boxes(detectors, backend, clip, index, people) -> None:
    image = _frame(clip, index)
    det = detectors[backend]
    assert det.family == "yolox" and det.input_hw == (416, 416) and not det.batches
    det.warm_up([4])  # a fixed-batch model: nothing to compile, no error
    found = det(image)
    assert len(found) == people
    assert (found.class_id == PERSON_CLASS_ID).all() and (found.confidence >= 0.35).all()
    h, w = image.shape[:2]
    boxes = found.xyxy
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    heights, widths = found.height_px, boxes[:, 2] - boxes[:, 0]
    assert (heights > 0.15 * h).all(), "a person box is implausibly small"
    assert ((heights / widths > 0.8) & (heights / widths < 5)).all(), "a person box has a non-human shape"
    # people do not overlap much in these frames: one box each, not duplicates
    assert _match_iou(found[np.arange(1, len(found))], found[np.arange(0, 1)]).max(initial=0) < 0.5


@pytest.mark.parametrize(("clip", "index", "people"), FRAMES)
def test_onnxruntime_and_openvino_agree(detectors, clip, index, people) -> None:
    image = _frame(clip, index)
    ort_dets = detectors["onnxruntime"](image)
    f32 = detectors["openvino-f32"](image)
    assert len(f32) == len(ort_dets) == people
    assert _match_iou(ort_dets, f32).min() > 0.99
    np.testing.assert_allclose(np.sort(f32.confidence), np.sort(ort_dets.confidence), atol=1e-3)
    auto = detectors["openvino-auto"](image)  # bf16 where the CPU has it: close, not identical
    assert len(auto) == people and _match_iou(ort_dets, auto).min() > 0.9


def test_detect_batch_on_a_fixed_batch_model_loops(detectors) -> None:
    images = [_frame(clip, i) for clip, i, _ in FRAMES]
    det = detectors["onnxruntime"]
    batch = det.detect_batch(images)
    assert [len(d) for d in batch] == [people for _, _, people in FRAMES]
    for single, batched in zip([det(im) for im in images], batch, strict=True):
        np.testing.assert_allclose(single.xyxy, batched.xyxy)
    assert det.detect_batch([]) == []


def test_load_by_name_and_family_mismatch(yolox_path: Path) -> None:
    det = load_detector(ModelConfig(path="yolox_nano", backend="onnxruntime", confidence=0.6), threads=1)
    assert det.family == "yolox" and det.confidence == 0.6
    runner = OrtRunner(yolox_path, threads=1)
    with pytest.raises(ValueError, match="looks like yolox"):
        PersonDetector(runner, confidence=0.3, iou=0.45, family="ultralytics")
    with pytest.raises(ValueError, match="runs .onnx files"):
        OrtRunner(yolox_path.with_suffix(".xml"), threads=1)


@pytest.fixture(scope="module")
def yolov8n(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from models.export import baseline_network

    return baseline_network("yolov8n.yaml", (384, 640), out_dir=tmp_path_factory.mktemp("yolov8n"))


@pytest.mark.slow
def test_exported_yolov8n_runs_on_both_runtimes(yolov8n: tuple[Path, Path]) -> None:
    pt, onnx_path = yolov8n
    assert onnx_path.name == "yolov8n_yaml_384x640.onnx" and onnx_path.parent == pt.parent
    ort_runner = OrtRunner(onnx_path, threads=1)
    ov_runner = OpenVinoRunner(onnx_path, threads=1, precision="f32")
    assert ort_runner.input_hw == ov_runner.input_hw == (384, 640)
    assert ort_runner.dynamic_batch and ov_runner.dynamic_batch
    blob = np.random.default_rng(0).random((3, 3, 384, 640), dtype=np.float32)
    a, b = ort_runner.run(blob), ov_runner.run(blob)
    assert a.shape == b.shape == (3, 84, 5040)
    np.testing.assert_allclose(a, b, atol=1e-2, rtol=1e-3)

    rng = np.random.default_rng(2)
    crops = [rng.integers(0, 255, shape, np.uint8) for shape in ((200, 320, 3), (720, 1280, 3), (384, 640, 3))]
    for runner in (ort_runner, ov_runner):
        det = PersonDetector(runner, confidence=0.25, iou=0.45)
        assert det.family == "ultralytics" and det.batches
        det.warm_up(range(1, 4))
        batch = det.detect_batch(crops)
        assert len(batch) == 3 and all(isinstance(d, Detections) for d in batch)
        assert [len(d) for d in batch] == [len(det(c)) for c in crops]


@pytest.mark.slow
def test_openvino_reshaped_yolov8n_equals_the_network_exported_at_that_size(yolov8n: tuple[Path, Path]) -> None:
    """The crop sizes rest on this: the 384x640 export reshaped by OpenVINO to 224x224 computes what the same
    network exported at 224x224 does (its anchor grid follows the input, it is not baked in at export)."""
    from models.export import export_onnx

    pt, onnx_path = yolov8n
    at_224 = OrtRunner(export_onnx(pt, (224, 224)), threads=1)
    reshaped = OpenVinoRunner(onnx_path, threads=1, precision="f32")
    blob = np.random.default_rng(3).random((1, 3, 224, 224), dtype=np.float32)
    a, b = at_224.run(blob), reshaped.run(blob)
    assert a.shape == b.shape == (1, 84, 1029)
    np.testing.assert_allclose(b, a, atol=1e-2, rtol=1e-3)


@pytest.mark.slow
def test_pt_weights_via_ultralytics_and_cached_export(yolov8n: tuple[Path, Path]) -> None:
    pt, onnx_path = yolov8n
    stamp = onnx_path.stat().st_mtime_ns
    det = load_detector(ModelConfig(path=str(pt), backend="onnxruntime"), threads=1)
    assert onnx_path.stat().st_mtime_ns == stamp, "the cached export was redone"
    assert det.family == "ultralytics" and det.input_hw == (384, 640)
    ov_det = load_detector(ModelConfig(path=str(pt), backend="openvino", precision="f32"), threads=1)
    assert onnx_path.with_suffix(".xml").is_file() and onnx_path.with_suffix(".bin").is_file()
    assert ov_det.input_hw == (384, 640) and ov_det.batches
    torch_det = load_detector(ModelConfig(path=str(pt)), threads=1)  # auto -> ultralytics for .pt
    assert type(torch_det.runner).__name__ == "UltralyticsRunner"
    blob = np.random.default_rng(1).random((2, 3, 384, 640), dtype=np.float32)
    reference = det.runner.run(blob).copy()
    np.testing.assert_allclose(torch_det.runner.run(blob), reference, atol=1e-2, rtol=1e-3)
    np.testing.assert_allclose(ov_det.runner.run(blob), reference, atol=1e-2, rtol=1e-3)


@pytest.mark.slow
def test_importing_ultralytics_keeps_opencv_threads() -> None:
    code = (
        "import cv2; cv2.setNumThreads(3); from models.export import import_yolo; import_yolo(); "
        "print(cv2.getNumThreads())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split()[-1] == "3"


def test_thread_settings_are_applied(yolox_path: Path) -> None:
    opts = OrtRunner(yolox_path, threads=2).session.get_session_options()
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (2, 1)
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    runner = OpenVinoRunner(yolox_path, threads=1, precision="f32")
    compiled = runner._request(1, runner.input_hw).get_compiled_model()
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    assert compiled.get_property("ENABLE_CPU_PINNING") is False
    assert compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "f32"


@pytest.mark.parametrize(
    ("requested", "caps", "expected"),
    [
        ("auto", ["BF16", "FP32"], "bf16"),
        ("auto", ["FP32"], "f32"),
        ("f32", ["BF16", "FP32"], "f32"),
        ("bf16", ["FP32"], ValueError),
        ("f16", ["FP32", "BF16"], ValueError),
        ("f16", ["FP16", "FP32"], "f16"),
    ],
)
def test_openvino_precision_choice(requested, caps, expected) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match=f"precision {requested}"):
            openvino_precision(requested, caps)
    else:
        assert openvino_precision(requested, caps) == expected


@pytest.mark.parametrize(("clip", "index", "people"), FRAMES)
def test_openvino_runs_crops_at_smaller_inputs_and_finds_the_same_people(yolox_path, clip, index, people) -> None:
    """The crop sizes of the motion-gated path (gating.crop_sizes): the network reshaped to 160/224/320 finds
    each person of the whole-frame pass again in a crop around them, at every size."""
    det = load_detector(ModelConfig(path=str(yolox_path), backend="openvino"), threads=1)
    assert det.add_sizes([160, 224, 320]) == [(416, 416), (160, 160), (224, 224), (320, 320)]
    image = _frame(clip, index)
    whole = det(image)
    assert len(whole) == people
    h, w = image.shape[:2]
    for box in whole.xyxy:
        side = 1.3 * float(max(box[2] - box[0], box[3] - box[1]))  # padded, square, as the planner makes them
        x1 = int(np.clip((box[0] + box[2] - side) / 2, 0, w - side))
        y1 = int(np.clip((box[1] + box[3] - side) / 2, 0, h - side))
        view = image[y1:y1 + int(side), x1:x1 + int(side)]
        for size in (160, 224, 320):
            found = det(view, (size, size))
            moved = Detections(found.xyxy + np.array([x1, y1, x1, y1], np.float32), found.confidence,
                               found.class_id)
            assert len(found) >= 1 and _match_iou(Detections(box[None], whole.confidence[:1],
                                                             whole.class_id[:1]), moved)[0] > 0.6, (box, size)


def test_crop_sizes_need_a_reshapeable_backend_and_multiples_of_32(yolox_path) -> None:
    fixed = load_detector(ModelConfig(path=str(yolox_path), backend="onnxruntime"), threads=1)
    assert fixed.add_sizes([160, 224]) == [(416, 416)]  # a static ONNX on ONNX Runtime: its own size only
    with pytest.raises(ValueError, match="was not added"):
        fixed(np.zeros((100, 100, 3), np.uint8), (160, 160))
    det = load_detector(ModelConfig(path=str(yolox_path), backend="openvino"), threads=1)
    with pytest.raises(ValueError, match="multiples of 32"):
        det.add_sizes([100])
