"""Where the shared real assets are, for tests: $HALLWATCH_ASSETS or ../shared/assets beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def assets_dir() -> Path | None:
    env = os.environ.get("HALLWATCH_ASSETS")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "assets"]:
        if cand.is_dir():
            return cand
    return None


def asset(relpath: str) -> Path:
    """Path of a shared asset, or skip the test with a message saying what is missing and where."""
    base = assets_dir()
    path = base / relpath if base else None
    if path is None or not path.exists():
        pytest.skip(f"real asset {relpath} not found: put the shared assets in ../shared/assets beside the "
                    f"repository or point HALLWATCH_ASSETS at them (see ../shared/assets/SOURCES.md)")
    return path
