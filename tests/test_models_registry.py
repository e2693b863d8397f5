"""Finding asset folders and model files; checksummed downloads through file:// URLs (never the network)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from models import registry
from models.assets import AssetMissingError, assets_dir, require_asset
from models.registry import KnownModel, ModelNotFoundError, download, resolve_model, sha256_file


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user cache and model folder, and an assets folder without models."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HALLWATCH_MODELS", str(tmp_path / "mine"))
    (tmp_path / "assets").mkdir()
    monkeypatch.setenv("HALLWATCH_ASSETS", str(tmp_path / "assets"))
    monkeypatch.delenv("HALLWATCH_OFFLINE", raising=False)
    return tmp_path


def _published(tmp_path: Path, payload: bytes, name: str = "tiny.onnx") -> tuple[str, str]:
    """A file standing in for an upstream release: its file:// URL and true sha256."""
    src = tmp_path / "upstream" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(payload)
    return src.as_uri(), hashlib.sha256(payload).hexdigest()


def test_assets_env_wins_and_missing_asset_message(isolated: Path) -> None:
    assert assets_dir() == isolated / "assets"
    (isolated / "assets" / "footage").mkdir()
    (isolated / "assets" / "footage" / "a.gif").write_bytes(b"GIF89a")
    assert require_asset("footage/a.gif") == isolated / "assets" / "footage" / "a.gif"
    with pytest.raises(AssetMissingError, match=r"footage/b\.gif.*HALLWATCH_ASSETS"):
        require_asset("footage/b.gif")


def test_explicit_path_and_search_order(isolated: Path) -> None:
    explicit = isolated / "elsewhere" / "m.onnx"
    explicit.parent.mkdir()
    explicit.write_bytes(b"x")
    assert resolve_model(explicit) == explicit
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(isolated / "elsewhere" / "missing.onnx")
    # the same bare name in $HALLWATCH_MODELS, the assets and the cache: $HALLWATCH_MODELS first
    for folder in ("mine", "assets/models", "cache/hallwatch/models"):
        (isolated / folder).mkdir(parents=True, exist_ok=True)
        (isolated / folder / "net.onnx").write_bytes(folder.encode())
    assert resolve_model("net.onnx") == isolated / "mine" / "net.onnx"
    assert resolve_model("net") == isolated / "mine" / "net.onnx"  # suffix added for bare names
    (isolated / "mine" / "net.onnx").unlink()
    assert resolve_model("net.onnx") == isolated / "assets" / "models" / "net.onnx"


def test_unknown_name_says_where_to_put_it(isolated: Path) -> None:
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("nosuchnet.onnx")
    msg = str(err.value)
    assert "nosuchnet.onnx" in msg and str(isolated / "mine") in msg and "HALLWATCH_MODELS" in msg


@pytest.mark.parametrize("good_checksum", [True, False])
def test_download_known_model(isolated: Path, monkeypatch: pytest.MonkeyPatch, good_checksum: bool) -> None:
    payload = b"\x08\x07onnx-bytes" * 1000
    url, digest = _published(isolated, payload)
    pinned = digest if good_checksum else "0" * 64
    monkeypatch.setitem(registry.KNOWN_MODELS, "tiny.onnx", KnownModel("tiny.onnx", url, pinned, "test"))
    cached = isolated / "cache" / "hallwatch" / "models" / "tiny.onnx"
    if good_checksum:
        assert resolve_model("tiny") == cached
        assert cached.read_bytes() == payload and sha256_file(cached) == digest
        assert resolve_model("tiny.onnx") == cached  # second time: found in the cache
    else:
        with pytest.raises(ModelNotFoundError, match=f"sha256 {digest}, expected 0+"):
            resolve_model("tiny.onnx")
        assert not cached.exists()
    assert not cached.with_name("tiny.onnx.part").exists()


def test_download_failure_and_offline(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing_url = (isolated / "upstream" / "gone.onnx").as_uri()
    monkeypatch.setitem(registry.KNOWN_MODELS, "gone.onnx", KnownModel("gone.onnx", missing_url, "0" * 64, "t"))
    with pytest.raises(ModelNotFoundError, match="could not download gone.onnx"):
        resolve_model("gone.onnx")
    monkeypatch.setenv("HALLWATCH_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="downloads are off.*upstream/gone.onnx"):
        resolve_model("gone.onnx")
    with pytest.raises(ModelNotFoundError, match="could not download"):
        download(missing_url, "0" * 64, isolated / "x" / "gone.onnx")


def test_known_models_pin_full_checksums_of_shared_assets() -> None:
    for name, known in registry.KNOWN_MODELS.items():
        assert len(known.sha256) == 64 and known.url.startswith("https://") and known.url.endswith(name)
    base = assets_dir()
    if base is None or not (base / "models" / "yolox_nano.onnx").is_file():
        pytest.skip("shared assets absent: cannot compare pinned checksums with the real files")
    for name, known in registry.KNOWN_MODELS.items():
        assert sha256_file(base / "models" / name) == known.sha256


def test_cli_fetch(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from edge.cli_models import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    (isolated / "mine").mkdir()
    (isolated / "mine" / "here.onnx").write_bytes(b"x")
    args = parser.parse_args(["models", "fetch", "here", "absent.onnx", "--offline"])
    assert args.func(args) == 2
    out, err = capsys.readouterr()
    assert out.strip() == str(isolated / "mine" / "here.onnx")
    assert "absent.onnx" in err and "HALLWATCH_MODELS" in err
