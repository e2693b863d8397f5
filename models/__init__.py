"""Model files and inference backends.

Resolve a model name or path (with checksummed downloads for users who are online), run it through
ONNX Runtime, OpenVINO or ultralytics, letterbox inputs and decode outputs into `Detections`.
Knows nothing of MQTT, clips, the web or processes.
"""
