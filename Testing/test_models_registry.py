"""The registry file and its schema, the per-user cache location, and safe unpacking of model archives."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest
from models_helpers import make_model, registry_entry, write_registry

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.models.archive import extract_model, pack_model
from MuscleQuantLib.models.registry import REGISTRY_FILE, musclequant_home, read_registry
from MuscleQuantLib.models.schemas import SCHEMA_DIR

REPO = Path(__file__).resolve().parents[1]


def test_shipped_registry_is_valid_and_empty():
    registry = read_registry()
    assert registry["models"] == []  # no pretrained weights exist; models are trained with the tool


@pytest.mark.parametrize("name", ["Models.json", "Models.schema.json"])
def test_resources_copy_matches_the_packaged_one(name):
    assert (REPO / "Resources" / name).read_bytes() == (SCHEMA_DIR / name).read_bytes(), (
        f"Resources/{name} and MuscleQuant/MuscleQuantLib/models/{name} must be identical; copy one over the other")
    assert REGISTRY_FILE == SCHEMA_DIR / "Models.json"


@pytest.fixture(scope="module")
def good_entry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry")
    packed = pack_model(make_model(tmp / "model"), tmp / "model.zip")
    return registry_entry(packed, "https://example.org/models/tiny-temporalis-0.1.0.zip")


def test_registry_entry_from_pack_model_validates(tmp_path, good_entry):
    registry = read_registry(write_registry(tmp_path / "Models.json", [good_entry]))
    assert registry["models"][0]["card"]["labels"][1] == "left temporalis"


@pytest.mark.parametrize(("change", "field"), [
    (lambda e: e.update(sha256="abc"), "models[0].sha256"),
    (lambda e: e.update(sha256=e["sha256"].upper()), "models[0].sha256"),
    (lambda e: e.update(url="ftp://example.org/m.zip"), "models[0].url"),
    (lambda e: e.update(url="file:///etc/passwd"), "models[0].url"),
    (lambda e: e.update(id="../escape"), "models[0].id"),
    (lambda e: e.update(version="1/../../x"), "models[0].version"),
    (lambda e: e.update(size=0), "models[0].size"),
    (lambda e: e.pop("licence"), "models[0]: 'licence' is a required property"),
    (lambda e: e.update(homepage="x"), "models[0].homepage: unknown field"),
    (lambda e: e["card"].update(spatial_dims=4), "models[0].card.spatial_dims"),
])
def test_bad_registry_entries_are_refused_with_the_field_named(tmp_path, good_entry, change, field):
    entry = json.loads(json.dumps(good_entry))
    change(entry)
    path = write_registry(tmp_path / "Models.json", [entry])
    with pytest.raises(InputError) as caught:
        read_registry(path)
    assert str(caught.value).startswith(f"{path}: {field}")


def test_duplicate_registry_entries_are_refused(tmp_path, good_entry):
    path = write_registry(tmp_path / "Models.json", [good_entry, good_entry])
    with pytest.raises(InputError, match=r"models\[1\]\.version: tiny-temporalis 0\.1\.0 is listed twice"):
        read_registry(path)


def test_home_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "mq"))
    assert musclequant_home() == tmp_path / "mq"
    monkeypatch.delenv("MUSCLEQUANT_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert musclequant_home() == tmp_path / "cache" / "musclequant"


def _zip(path: Path, entries: dict[str, bytes], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(("entries", "link", "message"), [
    ({"model.json": b"{}", "../weights.safetensors": b"x"}, None, "points outside"),
    ({"model.json": b"{}", "/tmp/weights.safetensors": b"x"}, None, "absolute"),
    ({"model.json": b"{}", "..\\weights.safetensors": b"x"}, None, "absolute or Windows"),
    ({"model.json": b"{}", "C:/weights.safetensors": b"x"}, None, "absolute or Windows"),
    ({"model.json": b"{}"}, "weights.safetensors", "is a link"),
    ({"a/model.json": b"{}", "b/weights.safetensors": b"x"}, None, "one model"),
    ({"a/b/model.json": b"{}"}, None, "not a flat model file"),
    ({"weights.safetensors": b"x"}, None, "no model.json"),
])
def test_unsafe_archives_are_refused(tmp_path, entries, link, message):
    archive = _zip(tmp_path / "evil.zip", entries, link)
    out = tmp_path / "deep" / "out"
    with pytest.raises(InputError, match=message):
        extract_model(archive, out)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.zip"]


def test_archive_round_trip_keeps_only_model_files(tmp_path):
    model_dir = make_model(tmp_path / "model")
    (model_dir / "notes.txt").write_text("not part of the model", encoding="utf-8")
    pack_model(model_dir, tmp_path / "model.zip")
    with zipfile.ZipFile(tmp_path / "model.zip", "a") as zf:
        zf.writestr("README.md", "ignored")
    out = extract_model(tmp_path / "model.zip", tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "weights.safetensors"]
