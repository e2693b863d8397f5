"""Model files and inference backends.

Resolve a model name or path (with checksummed downloads for users who are online), run it through
ONNX Runtime, OpenVINO or ultralytics, letterbox inputs and decode outputs into `Detections`.
Knows nothing of MQTT, clips, the web or processes.

Public entry points (import them from their modules; this file stays light):
- `models.detector.load_detector(cfg, threads=...) -> PersonDetector`; `det(image_bgr) -> Detections`,
  `det.detect_batch(images) -> list[Detections]`, `det.input_hw`, `det.batches`
- `models.registry.resolve_model(name_or_path) -> Path`, `ModelNotFoundError`
- `models.assets.assets_dir()`, `require_asset(relpath)`, `AssetMissingError`
- `models.export.baseline_network("yolov8n.yaml", (384, 640)) -> (pt, onnx)`, `export_onnx(pt, hw)`
- `models.backends.BACKENDS` (onnxruntime, openvino, ultralytics runners)
"""
