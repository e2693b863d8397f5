"""`hallwatch models`: find or fetch model files, and build/export ultralytics networks offline.

    hallwatch models fetch yolox_nano.onnx        # print its path; download (sha256-checked) when missing
    hallwatch models export --yaml yolov8n.yaml --hw 384 640   # random-weight baseline network, .pt + .onnx
    hallwatch models export --pt my.pt --hw 384 640            # ONNX (and --openvino IR) beside the weights
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_fetch(args: argparse.Namespace) -> int:
    from models.registry import ModelNotFoundError, resolve_model

    status = 0
    for name in args.names:
        try:
            print(resolve_model(name, allow_download=not args.offline))
        except ModelNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
    return status


def cmd_export(args: argparse.Namespace) -> int:
    from models.export import baseline_network, export_onnx, export_openvino

    hw = (args.hw[0], args.hw[1])
    out_dir = Path(args.out) if args.out else None
    try:
        if args.pt:
            pt, onnx_path = Path(args.pt), export_onnx(Path(args.pt), hw, out_dir=out_dir)
        else:
            pt, onnx_path = baseline_network(args.yaml, hw, out_dir=out_dir)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(pt)
    print(onnx_path)
    if args.openvino:
        print(export_openvino(onnx_path))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="find, fetch and export model files")
    sub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    f = sub.add_parser("fetch", help="print the path of each model, downloading known ones when missing")
    f.add_argument("names", nargs="+", help="model names (e.g. yolox_nano.onnx) or paths")
    f.add_argument("--offline", action="store_true", help="never download; say what is missing and where")
    f.set_defaults(func=cmd_fetch)
    e = sub.add_parser("export", help="build a network from an ultralytics YAML (random weights) or export "
                       "a .pt, to ONNX with a dynamic batch, cached")
    e.add_argument("--yaml", default="yolov8n.yaml", help="ultralytics model YAML (default yolov8n.yaml)")
    e.add_argument("--pt", help="export these weights instead of building from --yaml")
    e.add_argument("--hw", nargs=2, type=int, default=[384, 640], metavar=("H", "W"),
                   help="input height and width, multiples of 32 (default 384 640: 16:9)")
    e.add_argument("--out", help="output folder (default: beside the weights, or ~/.cache/hallwatch/models)")
    e.add_argument("--openvino", action="store_true", help="also write OpenVINO IR beside the ONNX")
    e.set_defaults(func=cmd_export)
