"""``musclequant models list|fetch|import|verify`` end to end, with the cache in a temporary folder."""

from __future__ import annotations

import json

import pytest
from models_helpers import Route, flip_byte, http_server, make_model, registry_entry, write_registry

from MuscleQuantLib.models.archive import pack_model


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSCLEQUANT_REGISTRY", raising=False)
    return tmp_path / "home"


def _rows(run_cli, *extra):
    code, out, err = run_cli("models", "list", "--json", *extra)
    assert code == 0, err
    return {(r["id"], r["version"]): r for r in json.loads(out)}


def test_list_with_nothing(run_cli, home):
    """An empty registry and cache still list the starter models that ship in the package (issue 14)."""
    code, out, _ = run_cli("models", "list")
    assert code == 0 and "l3-starter" in out and "starter" in out and "none: the registry is empty" not in out


def test_import_list_verify_and_detect_corruption(run_cli, home, tmp_path):
    model_dir = make_model(tmp_path / "trained", members=3)
    code, out, err = run_cli("models", "import", model_dir)
    assert code == 0, err
    installed = home / "models" / "tiny-temporalis" / "0.1.0"
    assert json.loads(out)["path"] == str(installed)
    assert _rows(run_cli)[("tiny-temporalis", "0.1.0")]["status"] == "downloaded"
    row = _rows(run_cli, "--verify")[("tiny-temporalis", "0.1.0")]
    assert (row["status"], row["source"], row["preset"]) == ("verified", "local", "temporalis")
    assert run_cli("models", "verify", "tiny-temporalis")[0] == 0
    assert run_cli("models", "import", model_dir)[0] == 0  # same model again: nothing to do

    flip_byte(installed / "weights_fold1.safetensors", 200)
    code, out, err = run_cli("models", "verify", "tiny-temporalis@0.1.0")
    assert code == 2
    assert err.count("\n") == 1 and "weights_fold1.safetensors: weights file is corrupt: SHA-256" in err
    assert _rows(run_cli, "--verify")[("tiny-temporalis", "0.1.0")]["status"] == "corrupt"
    code, _, err = run_cli("models", "import", model_dir)
    assert code == 2 and "--overwrite" in err
    assert run_cli("models", "import", model_dir, "--overwrite")[0] == 0
    assert run_cli("models", "verify", installed)[0] == 0


def test_import_zip_and_refuse_pickle(run_cli, home, tmp_path):
    pack_model(make_model(tmp_path / "trained"), tmp_path / "model.zip")
    assert run_cli("models", "import", tmp_path / "model.zip")[0] == 0
    assert run_cli("models", "verify", tmp_path / "model.zip")[0] == 0
    (tmp_path / "model.pt").write_bytes(b"\x80\x04N.")
    code, _, err = run_cli("models", "import", tmp_path / "model.pt")
    assert code == 2 and "pickle checkpoints are refused" in err
    assert [p.name for p in (home / "models").iterdir()] == ["tiny-temporalis"]


def test_fetch_from_registry(run_cli, home, tmp_path):
    packed = pack_model(make_model(tmp_path / "model"), tmp_path / "model.zip")
    archive = (tmp_path / "model.zip").read_bytes()
    routes = {"/good.zip": Route(archive), "/bad.zip": Route(archive[:-1] + bytes([archive[-1] ^ 0xFF]))}
    with http_server(routes) as base:
        registry = write_registry(tmp_path / "Models.json", [
            registry_entry(packed, f"{base}/good.zip"),
            registry_entry(packed, f"{base}/bad.zip", id="tampered")])
        rows = _rows(run_cli, "--registry", registry)
        assert rows[("tiny-temporalis", "0.1.0")]["status"] == "available"

        code, out, err = run_cli("models", "fetch", "tampered", "--registry", registry)
        assert code == 2 and "checksum mismatch" in err and f"{base}/bad.zip" in err
        code, out, err = run_cli("--progress", "json", "models", "fetch", "tiny-temporalis", "--registry", registry)
        assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert any(line["stage"] == "download" and line.get("total_bytes") == packed["size"] for line in lines)
    assert lines[-1]["stage"] == "done" and lines[-1]["result"]["status"] == "verified"
    rows = _rows(run_cli, "--registry", registry, "--verify")
    assert rows[("tiny-temporalis", "0.1.0")]["status"] == "verified"
    assert rows[("tampered", "0.1.0")]["status"] == "available"
    assert not (home / "models" / "tampered").exists()
    assert run_cli("models", "fetch", "nonexistent", "--registry", registry)[0] == 2


def test_verify_unknown_reference(run_cli, home):
    code, _, err = run_cli("models", "verify", "no-such-model")
    assert code == 2 and "no model 'no-such-model' in the cache" in err
