"""Inference backends: run one float32 NCHW tensor through a model and return its raw output.

`BACKENDS = {"onnxruntime": OrtRunner, "openvino": OpenVinoRunner, "ultralytics": UltralyticsRunner}`; each
is built as `cls(path, threads=..., precision=..., input_hw=...)` and has `input_hw`, `dynamic_batch` and
`run(blob) -> ndarray`; `resizable` runners also take blobs of other spatial sizes (the crops of
`detectors.regions` run at several). The returned array may be a view into the backend's memory: decode it before the next
`run`.

Thread counts are set on purpose, never left to the library: on a small node several worker processes share
few cores, and two processes x two threads ran at about half the throughput of two processes x one thread
(MEASUREMENTS.md). The caller passes `threads` (1 per worker when several workers share the node).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_PT_INPUT_HW = (384, 640)  # 16:9 cameras: a square 640 input would do 1.67x the pixels for the same view


class Runner(Protocol):
    input_hw: tuple[int, int]
    dynamic_batch: bool
    resizable: bool  # run() takes other input sizes than input_hw (a fully convolutional network)

    def run(self, blob: np.ndarray) -> np.ndarray: ...


def _hw_from_text(text: str | None) -> tuple[int, int] | None:
    """Parse ultralytics' `imgsz` metadata such as "[384, 640]"."""
    nums = [int(n) for n in re.findall(r"\d+", text or "")]
    return (nums[0], nums[1]) if len(nums) == 2 else None


def _pick_hw(
    static_hw: tuple[int | None, int | None], meta_hw: tuple[int, int] | None,
    wanted: tuple[int, int] | None, path: Path,
) -> tuple[int, int]:
    """The input size: the model's own static size, else the requested one, else its ultralytics metadata."""
    if static_hw[0] is not None and static_hw[1] is not None:
        hw = (int(static_hw[0]), int(static_hw[1]))
        if wanted is not None and wanted != hw:
            log.warning("%s has a fixed input %s; ignoring requested input_hw %s", path.name, hw, wanted)
        return hw
    hw = wanted or meta_hw
    if hw is None:
        raise ValueError(f"{path} has a dynamic input size and no imgsz metadata: set model.input_hw (height, width)")
    return hw


class OrtRunner:
    """ONNX Runtime on CPU: `intra_op_num_threads` = threads, one inter-op thread (the graphs are sequential),
    no spin-waiting between operators."""

    def __init__(self, path: Path, *, threads: int, precision: str = "auto",
                 input_hw: tuple[int, int] | None = None) -> None:
        import onnxruntime as ort

        if path.suffix != ".onnx":
            raise ValueError(f"onnxruntime runs .onnx files, got {path}; use backend 'openvino' for .xml")
        if precision not in ("auto", "f32"):
            log.warning("onnxruntime on CPU runs f32; ignoring precision %r", precision)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle pool threads spin by default: on a node whose cores are shared with decoding and other workers
        # that burned 2x the CPU and doubled the wall time of 2-thread YOLOX-Nano under load (measured 2026-11-29)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = [d if isinstance(d, int) else None for d in inp.shape]
        meta = self.session.get_modelmeta().custom_metadata_map.get("imgsz")
        self.input_hw = _pick_hw((shape[2], shape[3]), _hw_from_text(meta), input_hw, path)
        self.dynamic_batch = shape[0] is None
        self.resizable = shape[2] is None and shape[3] is None  # exported with a dynamic height and width
        self.threads = threads

    def run(self, blob: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: blob})[0]


def openvino_precision(requested: str, capabilities: list[str]) -> str:
    """OpenVINO `INFERENCE_PRECISION_HINT` for a config value: "auto" is bf16 where the CPU has it, else f32.

    Raises:
        ValueError: bf16/f16 requested on a CPU without it.
    """
    if requested in ("auto", "bf16"):
        if "BF16" in capabilities:
            return "bf16"
        if requested == "bf16":
            raise ValueError(f"model.precision bf16: this CPU lacks it (capabilities {capabilities}); use f32")
        return "f32"
    if requested == "f16" and "FP16" not in capabilities:
        raise ValueError(f"model.precision f16: this CPU lacks it (capabilities {capabilities}); use f32")
    return requested


class OpenVinoRunner:
    """OpenVINO on CPU for .onnx or .xml files.

    Settings: `INFERENCE_NUM_THREADS` = threads; `ENABLE_CPU_PINNING` False (by default every worker process
    pins to the same core: two workers ran at half speed); one stream with the LATENCY hint (one frame at a
    time per worker); `INFERENCE_PRECISION_HINT` bf16 where the CPU supports it unless precision says f32.
    Models with a dynamic batch are compiled once per batch size actually used, with a static shape; other
    input sizes likewise (`resizable`: OpenVINO reshapes the network; one compiled with a dynamic shape instead
    ran 15-20 % slower per inference here).
    """

    def __init__(self, path: Path, *, threads: int, precision: str = "auto",
                 input_hw: tuple[int, int] | None = None) -> None:
        import openvino as ov

        self.core = ov.Core()
        self.model = self.core.read_model(str(path))
        caps = list(self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        self.precision = openvino_precision(precision, caps)
        pshape = self.model.inputs[0].get_partial_shape()
        dims = [d.get_length() if d.is_static else None for d in pshape]
        meta = None
        if self.model.has_rt_info(["framework", "imgsz"]):
            meta = self.model.get_rt_info(["framework", "imgsz"]).astype(str)
        self.input_hw = _pick_hw((dims[2], dims[3]), _hw_from_text(meta), input_hw, path)
        self.dynamic_batch = dims[0] is None
        self.static_batch = dims[0] or 1
        self.resizable = True
        self.threads = threads
        self.config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": threads,
            "ENABLE_CPU_PINNING": False,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": self.precision,
        }
        self._requests: dict[tuple[int, int, int], Any] = {}
        self._request(self.static_batch, self.input_hw)

    def _request(self, batch: int, hw: tuple[int, int]) -> Any:
        """An infer request of the model compiled for this batch size and input size (on first use)."""
        key = (batch, int(hw[0]), int(hw[1]))
        if key not in self._requests:
            if not self.dynamic_batch and batch != self.static_batch:
                raise ValueError(f"model has a fixed batch of {self.static_batch}, got {batch} images")
            model = self.model.clone()
            model.reshape({model.inputs[0]: list(key[:1]) + [3, key[1], key[2]]})
            compiled = self.core.compile_model(model, "CPU", self.config)
            self._requests[key] = compiled.create_infer_request()
        return self._requests[key]

    def run(self, blob: np.ndarray) -> np.ndarray:
        request = self._request(blob.shape[0], blob.shape[2:])
        request.infer({0: blob})
        return request.get_output_tensor(0).data


class UltralyticsRunner:
    """An ultralytics `.pt` network run by torch on our own letterboxed tensor (same pre/post as the others).

    torch is imported only here (1.4 s, ~600 MB more resident). `torch.set_num_threads(threads)` because
    ultralytics leaves torch on one thread; importing ultralytics sets OpenCV to one thread for the whole
    process, so the previous OpenCV thread count is restored after the import.
    """

    def __init__(self, path: Path, *, threads: int, precision: str = "auto",
                 input_hw: tuple[int, int] | None = None) -> None:
        if path.suffix != ".pt":
            raise ValueError(f"the ultralytics backend loads .pt files, got {path}")
        from models.export import import_yolo

        yolo_cls = import_yolo()  # offline, OpenCV threads kept
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.net = yolo_cls(str(path)).model.fuse(verbose=False).eval()
        self.input_hw = input_hw or DEFAULT_PT_INPUT_HW
        self.dynamic_batch = True
        self.resizable = True
        self.threads = threads

    def run(self, blob: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.net(self.torch.from_numpy(blob))
        return (out[0] if isinstance(out, (tuple, list)) else out).numpy()


BACKENDS: dict[str, type[OrtRunner] | type[OpenVinoRunner] | type[UltralyticsRunner]] = {
    "onnxruntime": OrtRunner,
    "openvino": OpenVinoRunner,
    "ultralytics": UltralyticsRunner,
}
