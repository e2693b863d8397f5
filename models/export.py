"""Build ultralytics networks from their model YAML and export `.pt` weights to ONNX, once, cached.

Offline by design: `baseline_network("yolov8n.yaml")` builds the network from the YAML that ships inside the
ultralytics package (random weights, seeded, so the same file every time), saves the `.pt` and exports an ONNX
at a 16:9 input such as 384x640. Where no pretrained weights are available offline, both arms of a benchmark
use this same network, so their compute is identical (the scores are meaningless: timing only).

ONNX exports keep a dynamic batch (for batching crops across cameras) with the height and width written into
the graph's input as fixed numbers, so every backend sees a fixed-size model. ultralytics (and torch) are
imported only inside these functions; the previous OpenCV thread count is restored after the import.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from models.decode import anchor_count
from models.registry import cache_dir

log = logging.getLogger(__name__)

DEFAULT_EXPORT_HW = (384, 640)
SEED = 0


def import_yolo() -> Any:
    """The ultralytics `YOLO` class, imported without letting ultralytics download or pip-install anything, and
    with OpenCV's thread count restored (importing ultralytics sets it to 1 for the whole process)."""
    import cv2

    os.environ.setdefault("YOLO_OFFLINE", "1")  # read at import: no DNS probes, no auto-install, no downloads
    cv_threads = cv2.getNumThreads()
    from ultralytics import YOLO

    cv2.setNumThreads(cv_threads)
    return YOLO


def _check_hw(input_hw: tuple[int, int]) -> tuple[int, int]:
    h, w = (int(v) for v in input_hw)
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(f"export input size must be positive multiples of 32 (height, width), got {input_hw}")
    return h, w


def _fix_input_hw(onnx_path: Path, input_hw: tuple[int, int], num_classes: int) -> None:
    """Write fixed height/width into a dynamic export's input (batch stays symbolic) and its output dims."""
    import onnx

    model = onnx.load(str(onnx_path))
    in_dims = model.graph.input[0].type.tensor_type.shape.dim
    in_dims[2].dim_value, in_dims[3].dim_value = input_hw
    out_dims = model.graph.output[0].type.tensor_type.shape.dim
    out_dims[1].dim_value, out_dims[2].dim_value = 4 + num_classes, anchor_count(input_hw)
    onnx.save(model, str(onnx_path))


def _writable_dir(preferred: Path) -> Path:
    return preferred if os.access(preferred, os.W_OK) else cache_dir()


def export_onnx(pt_path: Path, input_hw: tuple[int, int] = DEFAULT_EXPORT_HW, *, out_dir: Path | None = None) -> Path:
    """ONNX export of `pt_path` at `input_hw`, cached as `<stem>_<H>x<W>.onnx` next to the weights.

    Re-exported only when missing or older than the `.pt`. Falls back to the user cache when the weights'
    folder is read-only. Returns the ONNX path.
    """
    pt_path = Path(pt_path)
    h, w = _check_hw(input_hw)
    folder = out_dir or _writable_dir(pt_path.parent)
    dest = folder / f"{pt_path.stem}_{h}x{w}.onnx"
    if dest.is_file() and dest.stat().st_mtime >= pt_path.stat().st_mtime:
        return dest
    yolo_cls = import_yolo()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        # export beside a link to the weights, so a user's own <stem>.onnx next to them is never overwritten
        link = Path(tmp) / pt_path.name
        os.symlink(pt_path.resolve(), link)
        model = yolo_cls(str(link))
        num_classes = len(model.names)
        ulog = logging.getLogger("ultralytics")
        level = ulog.level
        ulog.setLevel(logging.WARNING)  # its export banner goes to stdout; ours goes to our log
        try:
            out = Path(model.export(format="onnx", imgsz=(h, w), dynamic=True, simplify=False, verbose=False))
        finally:
            ulog.setLevel(level)
        _fix_input_hw(out, (h, w), num_classes)
        shutil.move(str(out), dest)
    log.info("exported %s to %s", pt_path, dest)
    return dest


def export_openvino(onnx_path: Path) -> Path:
    """OpenVINO IR (`.xml` + `.bin`, f32 weights) of an ONNX file, cached beside it (or in the user cache when
    that folder is read-only); redone only when older than the ONNX. Saves ~0.3 s of start-up per process."""
    import openvino as ov

    onnx_path = Path(onnx_path)
    dest = _writable_dir(onnx_path.parent) / onnx_path.with_suffix(".xml").name
    if dest.is_file() and dest.stat().st_mtime >= onnx_path.stat().st_mtime:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.stem + ".part.xml")
    ov.save_model(ov.Core().read_model(str(onnx_path)), str(part), compress_to_fp16=False)
    os.replace(part.with_suffix(".bin"), dest.with_suffix(".bin"))
    os.replace(part, dest)
    log.info("converted %s to OpenVINO IR %s", onnx_path, dest)
    return dest


def build_network(yaml_name: str = "yolov8n.yaml", *, out_dir: Path | None = None) -> Path:
    """A `.pt` of the network described by an ultralytics model YAML (e.g. yolov8n.yaml, yolo11n.yaml), built
    offline with seeded random weights and cached as `<cache>/<yaml stem>_yaml.pt`. Returns the path."""
    folder = out_dir or cache_dir()
    dest = folder / f"{Path(yaml_name).stem}_yaml.pt"
    if dest.is_file():
        return dest
    yolo_cls = import_yolo()
    import torch

    torch.manual_seed(SEED)
    model = yolo_cls(yaml_name)
    folder.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part.pt")
    model.save(str(part))
    os.replace(part, dest)
    log.info("built %s from %s (random weights, seed %d)", dest, yaml_name, SEED)
    return dest


def baseline_network(
    yaml_name: str = "yolov8n.yaml", input_hw: tuple[int, int] = DEFAULT_EXPORT_HW, *, out_dir: Path | None = None
) -> tuple[Path, Path]:
    """(`.pt`, `.onnx`) of the benchmark baseline network, built and exported once into the user cache."""
    pt = build_network(yaml_name, out_dir=out_dir)
    return pt, export_onnx(pt, input_hw, out_dir=out_dir)
