"""Silero VAD run through ONNX Runtime, streaming, without torch.

The `silero-vad` wheel ships its ONNX models in `silero_vad/data/`. Its Python package imports torch at
import time, so HallWatch never imports it: the file is located with `importlib.util.find_spec`, which
finds a top-level package's folder without executing its `__init__`. Install it with
`pip install --no-deps silero-vad` (scripts/install.sh does).

Two exports are supported, chosen by what the installed version ships:
- `silero_vad_16k_sequence.onnx` (6.x): inputs `input` (F, 576), `h`/`c` (1, 1, 128); one call per block
  of F frames, bit-exact with the streaming model. About 2.8 ms per second of audio on one core here.
- `silero_vad.onnx` (5.x/6.x streaming): inputs `input` (1, 576), `state` (2, 1, 128), `sr` int64 scalar;
  one call per 32 ms frame (about 8 ms per second of audio).
Each frame is 512 samples at 16 kHz, preceded by the last 64 samples of the previous frame as context.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAME = 512  # samples per VAD frame at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame prepended to each frame
MODEL_NAMES = ("silero_vad_16k_sequence.onnx", "silero_vad.onnx")


class VadError(RuntimeError):
    """The VAD model cannot be found or loaded; the message says how to fix it."""


def find_model(path: str | Path | None = None) -> Path:
    """The ONNX file to use: `path` if given, else the best one inside the installed silero-vad wheel."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise VadError(f"VAD model {p} does not exist")
        return p
    spec = importlib.util.find_spec("silero_vad")  # locates the folder without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise VadError("silero-vad is not installed: run `pip install --no-deps silero-vad`")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    for name in MODEL_NAMES:
        if (data / name).is_file():
            return data / name
    raise VadError(f"no Silero ONNX model ({', '.join(MODEL_NAMES)}) in {data}")


class SileroVad:
    """Streaming speech probability per 32 ms frame for one microphone.

    `probs(samples)` takes float32 mono 16 kHz audio of any length, processes every complete 512-sample
    frame (the remainder waits for the next call) and returns their speech probabilities, float32 (F,)
    in 0..1. The model state and the 64-sample context carry across calls, so a stream cut into chunks
    gives the same probabilities as the whole stream.
    """

    def __init__(self, path: str | Path | None = None, *, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = find_model(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._sess = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise VadError(f"cannot load VAD model {self.path}: {exc}") from None
        names = {i.name for i in self._sess.get_inputs()}
        self.sequence = {"h", "c"} <= names
        if not self.sequence and not {"state", "sr"} <= names:
            raise VadError(f"{self.path}: unexpected inputs {sorted(names)} (not a Silero VAD export)")
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def probs(self, samples: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        n = len(x) // FRAME
        self._pending = x[n * FRAME:]
        if n == 0:
            return np.zeros(0, np.float32)
        frames = x[: n * FRAME].reshape(n, FRAME)
        block = np.empty((n, CONTEXT + FRAME), np.float32)
        block[:, CONTEXT:] = frames
        block[0, :CONTEXT] = self._context
        block[1:, :CONTEXT] = frames[:-1, -CONTEXT:]
        self._context = frames[-1, -CONTEXT:].copy()
        if self.sequence:
            out, self._h, self._c = self._sess.run(None, {"input": block, "h": self._h, "c": self._c})
            return np.asarray(out, np.float32).reshape(n)
        sr = np.array(SAMPLE_RATE, np.int64)
        res = np.empty(n, np.float32)
        for i in range(n):  # the streaming export takes one frame per call
            out, self._state = self._sess.run(None, {"input": block[i:i + 1], "state": self._state, "sr": sr})
            res[i] = float(np.asarray(out).reshape(-1)[0])
        return res
