"""Edge side of the clips contract: upload a finished clip or snapshot to the central service.

`upload_clip(central_url, token, event_id, kind, path)` POSTs `multipart/form-data` with `event_id`, `kind`
(video|snapshot), `sha256` and `file` to `<central_url>/api/clips` with `Authorization: Bearer <token>` (a
user with role `node`), retrying connection errors and 5xx answers with doubling backoff. Returns the clip
url path (`/clips/<id>`). A 4xx answer (bad token, hash mismatch) raises `ClipUploadError` at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

log = logging.getLogger(__name__)


class ClipUploadError(RuntimeError):
    """The central service refused the clip, or stayed unreachable through every retry."""


def _multipart(fields: dict[str, str], path: Path, boundary: str) -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return b"".join(parts) + head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()


def upload_clip(central_url: str, token: str, event_id: str, kind: str, path: str | Path, *,
                retries: int = 5, backoff_s: float = 1.0, timeout_s: float = 60.0) -> str:
    """Upload one file; returns `/clips/<id>`. Reads the whole file into memory (clips are tens of MB)."""
    if kind not in ("video", "snapshot"):
        raise ValueError(f"clip kind {kind!r}: expected video or snapshot")
    path = Path(path)
    try:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ClipUploadError(f"clip {path}: cannot read ({exc.strerror})") from None
    boundary = uuid.uuid4().hex
    body = _multipart({"event_id": event_id, "kind": kind, "sha256": sha}, path, boundary)
    url = central_url.rstrip("/") + "/api/clips"
    delay = backoff_s
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return str(json.loads(resp.read())["url"])
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                raise ClipUploadError(f"central refused clip {path.name} for {event_id}: HTTP {exc.code} "
                                      f"{exc.read()[:200].decode(errors='replace')}") from None
            err = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            err = str(getattr(exc, "reason", exc))
        log.warning("clip upload %s attempt %d/%d failed: %s", path.name, attempt + 1, retries + 1, err)
        if attempt < retries:
            time.sleep(delay)
            delay = min(delay * 2, 60.0)
    raise ClipUploadError(f"clip {path.name} for {event_id}: central {url} unreachable after {retries + 1} tries")
