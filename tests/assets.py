"""Pytest helper: the path of a shared asset, or a clean skip saying what is missing and where to put it.

    from tests.assets import asset_or_skip
    gif = asset_or_skip("footage/classroom.gif")
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.assets import AssetMissingError, require_asset


def asset_or_skip(relpath: str) -> Path:
    """`require_asset(relpath)`, turning a missing file into `pytest.skip` with the full message."""
    try:
        return require_asset(relpath)
    except AssetMissingError as exc:
        pytest.skip(str(exc))
