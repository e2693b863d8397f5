"""Finding the shared assets (models, footage, audio) without copying them into the repository.

Looked up in order: `$HALLWATCH_ASSETS`, then `shared/assets` beside the repository root or any folder
above it (the layout `<work>/shared/assets` next to `<work>/<checkout>`). Returns None when absent, so
callers decide whether that is an error (a config that names the file) or a skip (tests).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def assets_dir() -> Path | None:
    env = os.environ.get("HALLWATCH_ASSETS")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for base in [REPO_ROOT, *REPO_ROOT.parents]:
        cand = base / "shared" / "assets" if base != REPO_ROOT else base.parent / "shared" / "assets"
        if cand.is_dir():
            return cand
    return None


def find_asset(rel: str) -> Path | None:
    """Path of `rel` (e.g. "models/yunet_s_640_640.onnx") under the assets folder, or None."""
    base = assets_dir()
    if base is None:
        return None
    p = base / rel
    return p if p.is_file() else None
