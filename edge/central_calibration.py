"""Mount the technician's calibration editor inside the central service, behind its login.

`edge` wires this because the editor (calibration/) and the central service (alerts/central/) must not
import each other. Each node config named in central.yaml's `calibration:` is served at
`/calibrate/<name>/` to users whose role may `calibrate` (technician, admin); everyone else gets 403,
and anonymous requests the login redirect.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI

log = logging.getLogger(__name__)


def mount_calibration(app: FastAPI, configs: dict[str, str]) -> list[str]:
    """Add one editor per `{name: config path}`; returns the mounted URL prefixes."""
    from alerts.central.web import require
    from calibration.app import create_calibration_router

    prefixes = []
    for name, path in configs.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"central config calibration.{name}: node config {path} not found")
        prefix = f"/calibrate/{name}"
        app.include_router(create_calibration_router(path, dependencies=[Depends(require("calibrate"))]),
                           prefix=prefix)
        prefixes.append(prefix)
        log.info("calibration editor for %s at %s/", path, prefix)
    return prefixes
