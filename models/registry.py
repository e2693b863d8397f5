"""Resolve a model name or path to a file on disk, downloading known models (with sha256 check) when online.

`resolve_model("yolox_nano.onnx")` looks, in order, at:
1. the argument as a path (absolute, relative to cwd, or with a folder in it: then it must exist);
2. `$HALLWATCH_MODELS`, `<assets>/models` (see models/assets.py), the user cache
   (`$XDG_CACHE_HOME/hallwatch/models`, default `~/.cache/hallwatch/models`);
3. for a name in `KNOWN_MODELS`: a download from its official public location into the user cache, through a
   `.part` file, verified against the pinned sha256 before it is renamed into place.
Offline or when anything fails, `ModelNotFoundError` says in one message what is missing and where to put it.
`$HALLWATCH_OFFLINE=1` skips the download attempt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from models.assets import assets_dir

log = logging.getLogger(__name__)

ENV_MODELS = "HALLWATCH_MODELS"
ENV_OFFLINE = "HALLWATCH_OFFLINE"
DOWNLOAD_TIMEOUT_S = 30.0


class ModelNotFoundError(FileNotFoundError):
    """A model could not be found locally nor downloaded (or its download failed its checksum)."""


@dataclass(frozen=True)
class KnownModel:
    """A model the registry may download: file name, official URL, full sha256 of the file, licence."""

    filename: str
    url: str
    sha256: str
    licence: str


# Official public locations (raw GitHub files of the upstream repositories named in SOURCES.md). `HEAD` is the
# repository's default branch; the pinned sha256 rejects any file that differs from the one we tested.
KNOWN_MODELS: dict[str, KnownModel] = {
    "yolox_nano.onnx": KnownModel(
        "yolox_nano.onnx",
        "https://raw.githubusercontent.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/HEAD/model/yolox_nano.onnx",
        "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
        "Apache-2.0 (Megvii YOLOX-Nano, converted by Kazuhito00)",
    ),
    "yunet_s_640_640.onnx": KnownModel(
        "yunet_s_640_640.onnx",
        "https://raw.githubusercontent.com/ShiqiYu/libfacedetection.train/HEAD/onnx/yunet_s_640_640.onnx",
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        "Apache-2.0 (ShiqiYu/libfacedetection.train)",
    ),
}


def cache_dir() -> Path:
    """The user cache for models: `$XDG_CACHE_HOME/hallwatch/models` or `~/.cache/hallwatch/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hallwatch" / "models"


def search_dirs() -> list[Path]:
    """Folders searched for a bare model name, in order (existing or not)."""
    dirs: list[Path] = []
    if os.environ.get(ENV_MODELS):
        dirs.append(Path(os.environ[ENV_MODELS]).expanduser())
    assets = assets_dir()
    if assets is not None:
        dirs.append(assets / "models")
    dirs.append(cache_dir())
    return dirs


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, sha256: str, dest: Path, *, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Fetch `url` to `dest` via `dest.part`, check its sha256, then rename. Returns `dest`.

    Raises:
        ModelNotFoundError: the fetch failed (offline, HTTP error) or the checksum differs; no file is left.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp, open(part, "wb") as out:
            shutil.copyfileobj(resp, out, 1 << 20)
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts and bad URLs are OSError/ValueError
        part.unlink(missing_ok=True)
        raise ModelNotFoundError(f"could not download {dest.name} from {url}: {exc}") from exc
    got = sha256_file(part)
    if got != sha256:
        part.unlink(missing_ok=True)
        raise ModelNotFoundError(
            f"download of {dest.name} from {url} has sha256 {got}, expected {sha256}; file discarded"
        )
    os.replace(part, dest)
    log.info("downloaded %s to %s (sha256 ok)", url, dest)
    return dest


def _not_found(name: str, dirs: list[Path], why: str) -> ModelNotFoundError:
    where = ", ".join(str(d) for d in dirs)
    return ModelNotFoundError(
        f"model {name!r} not found ({why}); searched: {where}. Put the file in one of those folders "
        f"(or set ${ENV_MODELS} to its folder, or pass a full path)"
    )


def resolve_model(name_or_path: str | os.PathLike[str], *, allow_download: bool = True) -> Path:
    """The file for a model name or path (see module docstring for the search order).

    Raises:
        ModelNotFoundError: naming what is missing, where it was looked for and where to put it.
    """
    raw = str(name_or_path)
    path = Path(raw).expanduser()
    if path.is_file():
        return path
    if path.is_absolute() or len(path.parts) > 1:
        raise ModelNotFoundError(f"model file {raw!r} does not exist")
    names = [raw] if path.suffix else [raw, raw + ".onnx", raw + ".pt"]
    dirs = search_dirs()
    for folder in dirs:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    known = next((KNOWN_MODELS[n] for n in names if n in KNOWN_MODELS), None)
    if known is None:
        raise _not_found(raw, dirs, f"not a known model ({', '.join(sorted(KNOWN_MODELS))})")
    if not allow_download or os.environ.get(ENV_OFFLINE, "") not in ("", "0"):
        raise _not_found(raw, dirs, f"downloads are off; its official location is {known.url}")
    try:
        return download(known.url, known.sha256, cache_dir() / known.filename)
    except ModelNotFoundError as exc:
        raise _not_found(raw, dirs, str(exc)) from exc
