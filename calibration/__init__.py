"""The technician's tools: the web zone editor, floor-scale fitting, microphone baselines and preview
rendering. Writes the node config; uses `detectors` and `edge`, never the other way round."""
