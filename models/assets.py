"""Where the shared, never-committed asset files (models, footage, audio) live.

Search order:
1. `$HALLWATCH_ASSETS` (a directory holding `models/`, `footage/`, `audio/`, as described in SOURCES.md);
2. `shared/assets` beside the repository root (the folder holding pyproject.toml), i.e. `../shared/assets`,
   then the same one level higher up (a git worktree nested one level deeper than the main checkout);
3. `../shared/assets` relative to the current working directory.

`assets_dir()` returns None when none exists; `require_asset()` raises `AssetMissingError` whose message
says what is missing and where to put it (tests turn it into `pytest.skip`, see tests/assets.py).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_ASSETS = "HALLWATCH_ASSETS"


class AssetMissingError(FileNotFoundError):
    """A shared asset file (model, footage, audio) is not on this machine."""


def repo_root() -> Path | None:
    """The nearest folder above this file that holds pyproject.toml (None when installed elsewhere)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return None


def candidate_dirs() -> list[Path]:
    """Every place looked at, in order (whether it exists or not), for messages and `assets_dir`."""
    out: list[Path] = []
    env = os.environ.get(ENV_ASSETS)
    if env:
        out.append(Path(env).expanduser())
    root = repo_root()
    if root is not None:
        out += [root.parent / "shared" / "assets", root.parent.parent / "shared" / "assets"]
    out.append(Path.cwd().parent / "shared" / "assets")
    return list(dict.fromkeys(out))  # drop repeats, keep order


def assets_dir() -> Path | None:
    """The first existing assets directory, or None. An explicitly set $HALLWATCH_ASSETS wins."""
    for path in candidate_dirs():
        if path.is_dir():
            return path
    return None


def require_asset(relpath: str) -> Path:
    """The path of `relpath` (e.g. "footage/classroom.gif") under the assets directory.

    Raises:
        AssetMissingError: with one line naming the file, the places searched and how to fix it.
    """
    base = assets_dir()
    if base is not None and (base / relpath).is_file():
        return base / relpath
    where = ", ".join(str(p) for p in candidate_dirs())
    raise AssetMissingError(
        f"asset {relpath!r} not found (looked in: {where}); put the shared assets folder (see its SOURCES.md) "
        f"at ../shared/assets next to the repository or set ${ENV_ASSETS} to it"
    )
