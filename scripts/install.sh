#!/usr/bin/env bash
# Installs HallWatch and its test tools into the current Python (use a venv if you like).
# torch is pinned to the CPU/CUDA builds that pip finds on this kind of machine before ultralytics asks
# for "any torch"; silero-vad is installed without its torch/torchaudio dependencies because HallWatch
# runs its ONNX model through onnxruntime and never imports torch in the audio path.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check "torch==2.14.1" "torchvision==0.29.1" \
  || python -m pip install -q --disable-pip-version-check torch torchvision
python -m pip install -q --disable-pip-version-check -e '.[dev]'
# Silero VAD's ONNX models (models/vad.py finds them inside the wheel; torch is never imported for audio)
python -m pip install -q --disable-pip-version-check --no-deps "silero-vad>=6.2,<7"
