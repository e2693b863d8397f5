"""The edge node: config loading, video/audio sources, the frame loop and its processes, health and the CLI.

`edge` wires every other capability together; nothing else imports from it except `calibration`
(which uses it to validate and preview configs).
"""
