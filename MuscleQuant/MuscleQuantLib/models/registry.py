"""Where models come from and where they live: the shipped registry (``Models.json``) of downloadable
models, and the per-user cache holding downloaded, imported and locally trained models.

The registry ships inside the package (``MuscleQuantLib/models/Models.json`` with its schema) because
that is the copy an installed engine or the Slicer module can always find; ``Resources/Models.json`` at
the repository top is an identical copy for people browsing the repository (a test keeps them equal).
The cache is ``$MUSCLEQUANT_HOME`` or the platform's per-user cache folder; models sit in
``models/<id>/<version>/``, and only complete, verified folders are ever renamed into place there.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..progress import NULL_PROGRESS, Progress
from .archive import extract_model
from .card import read_card
from .download import download
from .modelfile import copy_model, install_dir, refuse_pickle, staging_dir, verify_model
from .schemas import REGISTRY_SCHEMA, SCHEMA_DIR, validate

REGISTRY_FILE = SCHEMA_DIR / "Models.json"
IDENTIFIER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.+-]{0,31}$")
STATUSES = ("available", "downloaded", "verified", "corrupt")


def musclequant_home() -> Path:
    """``$MUSCLEQUANT_HOME``, else the platform's per-user cache (``~/.cache/musclequant`` on Linux)."""
    if env := os.environ.get("MUSCLEQUANT_HOME"):
        return Path(env).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "MuscleQuant" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "MuscleQuant"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "musclequant"


def models_dir() -> Path:
    return musclequant_home() / "models"


def downloads_dir() -> Path:
    return musclequant_home() / "downloads"


def installed_dir(model_id: str, version: str) -> Path:
    """Cache folder of one model version; the id and version are checked so they cannot escape it."""
    if not IDENTIFIER.match(model_id) or not VERSION.match(version):
        raise InputError(f"not a valid model id/version: {model_id!r} {version!r}", field="id")
    return models_dir() / model_id / version


def version_key(version: str) -> tuple:
    """Natural order, so 0.10.0 sorts after 0.9.1."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[._+-]", version))


def read_registry(path: str | Path | None = None) -> dict[str, Any]:
    """The registry at ``path`` (default ``$MUSCLEQUANT_REGISTRY`` or the shipped one), schema-checked."""
    path = Path(path or os.environ.get("MUSCLEQUANT_REGISTRY") or REGISTRY_FILE)
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("model registry not found", path=path) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"model registry is not valid JSON: {exc}", path=path) from exc
    validate(registry, REGISTRY_SCHEMA, path)
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(registry["models"]):
        key = (entry["id"], entry["version"])
        if key in seen:
            raise InputError(f"{entry['id']} {entry['version']} is listed twice", path=path,
                             field=f"models[{index}].version")
        seen.add(key)
    return registry


def find_entry(registry: dict[str, Any], model_id: str, version: str | None = None) -> dict[str, Any]:
    """The registry entry for ``model_id`` (newest version unless ``version`` is given)."""
    matches = [e for e in registry["models"] if e["id"] == model_id and version in (None, e["version"])]
    if not matches:
        known = sorted({e["id"] for e in registry["models"]}) or ["none: the registry is empty"]
        what = f"{model_id} {version}" if version else model_id
        raise InputError(f"no model {what!r} in the registry (known: {', '.join(known)})", field="id")
    return max(matches, key=lambda e: version_key(e["version"]))


def cached_models() -> list[Path]:
    """Folders in the cache that look like models (hidden staging folders are skipped)."""
    root = models_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("*/*") if p.is_dir() and not p.name.startswith(".")
                  and not p.parent.name.startswith("."))


def cache_status(model_dir: Path, verify: bool = False) -> tuple[str, str, dict[str, Any] | None]:
    """(status, message, card): a quick check (card and file sizes) or, with ``verify``, every hash."""
    try:
        card = verify_model(model_dir) if verify else read_card(model_dir)
        if not verify:
            for member in card["members"]:
                path = model_dir / member["file"]
                if not path.is_file() or path.stat().st_size != member["size"]:
                    raise InputError("weights file missing or of the wrong size", path=path)
    except InputError as exc:
        return "corrupt", str(exc), None
    if (card["model_id"], card["version"]) != (model_dir.parent.name, model_dir.name):
        return "corrupt", f"card says {card['model_id']} {card['version']}, folder is misnamed", card
    return ("verified" if verify else "downloaded"), "", card


def list_models(registry_path: str | Path | None = None, verify: bool = False) -> list[dict[str, Any]]:
    """Every model a user can use: registry entries (available or downloaded) and cached models
    (downloaded, imported or trained here), with their status."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in read_registry(registry_path)["models"]:
        rows[(entry["id"], entry["version"])] = {
            "id": entry["id"], "version": entry["version"], "name": entry["name"], "preset": entry["preset"],
            "status": "available", "source": "registry", "url": entry["url"], "path": None}
    for model_dir in cached_models():
        status, message, card = cache_status(model_dir, verify)
        key = (model_dir.parent.name, model_dir.name)
        row = rows.setdefault(key, {"id": key[0], "version": key[1], "name": None, "preset": None,
                                    "source": "local", "url": None})
        row.update(status=status, path=str(model_dir))
        if card:
            row.update(name=card["name"], preset=card["preset"])
        if message:
            row["problem"] = message
    from .starter import starter_status

    for folder, status, message, card in starter_status(verify):  # shipped in the package (synthetic data only)
        rows.setdefault((card["model_id"], card["version"]), {
            "id": card["model_id"], "version": card["version"], "name": card["name"], "preset": card["preset"],
            "status": status, "source": "starter", "url": None, "path": str(folder), **({"problem": message} if message else {})})
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0], version_key(k[1])))]


def fetch_model(model_id: str, version: str | None = None, *, registry_path: str | Path | None = None,
                force: bool = False, progress: Progress = NULL_PROGRESS, **download_options: Any
                ) -> dict[str, Any]:
    """Download, check and install a registry model into the cache; returns its path and status."""
    entry = find_entry(read_registry(registry_path), model_id, version)
    target = installed_dir(entry["id"], entry["version"])
    if target.exists() and not force:
        status, _, _ = cache_status(target, verify=True)
        if status == "verified":
            return {"id": entry["id"], "version": entry["version"], "path": str(target), "status": "verified",
                    "downloaded": False}
    archive = downloads_dir() / f"{entry['id']}-{entry['version']}.{os.getpid()}.zip"  # per process: no clashes
    download(entry["url"], archive, entry["sha256"], size=entry["size"], progress=progress, **download_options)
    try:
        progress.update("install", None, f"checking {entry['id']} {entry['version']}")
        with staging_dir(target) as staged:
            extract_model(archive, staged)
            card = verify_model(staged)
            if (card["model_id"], card["version"]) != (entry["id"], entry["version"]):
                raise InputError(f"archive holds {card['model_id']} {card['version']}, the registry promised "
                                 f"{entry['id']} {entry['version']}", path=entry["url"])
            install_dir(staged, target, overwrite=True)
    finally:
        archive.unlink(missing_ok=True)
    return {"id": entry["id"], "version": entry["version"], "path": str(target), "status": "verified",
            "downloaded": True}


def import_model(source: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Copy a model folder or ``.zip`` (for example one trained elsewhere) into the cache, verified."""
    source = Path(source)
    refuse_pickle(source)
    if source.is_dir():
        return _import_folder(source, overwrite)
    if source.is_file() and source.suffix.lower() == ".zip":
        models_dir().mkdir(parents=True, exist_ok=True)
        with staging_dir(models_dir() / ".import") as staged:
            extract_model(source, staged)
            return _import_folder(staged, overwrite)
    raise InputError("expected a model folder (model.json + weights*.safetensors) or a .zip of one", path=source)


def _import_folder(folder: Path, overwrite: bool) -> dict[str, Any]:
    card = verify_model(folder)
    target = installed_dir(card["model_id"], card["version"])
    result = {"id": card["model_id"], "version": card["version"], "path": str(target)}
    if target.exists() and not overwrite:
        status, _, existing = cache_status(target, verify=True)
        if status == "verified" and existing and existing["card_sha256"] == card["card_sha256"]:
            return {**result, "status": "verified", "imported": False}
        raise InputError(f"the cache already holds a different {card['model_id']} {card['version']} "
                         f"({status}); use --overwrite to replace it or give the model a new version", path=target)
    copy_model(folder, target, overwrite=True)
    return {**result, "status": "verified", "imported": True}


def resolve_model(reference: str | Path) -> Path:
    """A model folder from a path, or from ``ID`` / ``ID@VERSION`` in the cache (newest version)."""
    path = Path(reference)
    if path.exists():
        return path
    model_id, _, version = str(reference).partition("@")
    if IDENTIFIER.match(model_id):
        if version:
            candidate = installed_dir(model_id, version)
            if candidate.is_dir():
                return candidate
        else:
            versions = [p for p in cached_models() if p.parent.name == model_id]
            if versions:
                return max(versions, key=lambda p: version_key(p.name))
    raise InputError(f"no such model folder, and no model {str(reference)!r} in the cache ({models_dir()}); "
                     "'musclequant models list' shows what there is", path=reference)


def verify_reference(reference: str | Path) -> dict[str, Any]:
    """Recheck a cached or on-disk model completely (card, hashes, weights fit the network)."""
    path = resolve_model(reference)
    refuse_pickle(path)
    if path.is_file() and path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="musclequant-verify-") as staged:
            extract_model(path, staged)
            card = verify_model(staged)
    else:
        card = verify_model(path)
    return {"id": card["model_id"], "version": card["version"], "path": str(path), "status": "verified",
            "members": len(card["members"])}
