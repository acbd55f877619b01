"""Model archives (``.zip``): how a model travels (registry download, e-mail, shared drive).

A model on disk is a folder; an archive holds the same files flat. Extraction trusts nothing in the
archive: no absolute or parent paths, no links, no nested folders beyond one optional top folder, a cap
on file count and unpacked size, and only the card plus ``*.safetensors`` are unpacked.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InputError
from .card import CARD_FILE, summary
from .modelfile import sha256_file, verify_model

MAX_ENTRIES = 256
MAX_UNPACKED_BYTES = 16 << 30  # 16 GiB: far above any model here, far below a zip bomb's claim
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
UNPACKED = re.compile(rf"^({re.escape(CARD_FILE)}|weights[A-Za-z0-9_.-]{{0,64}}\.safetensors)$")


def pack_model(model_dir: str | Path, archive: str | Path) -> dict[str, Any]:
    """Zip a verified model folder (stored, not compressed: weights do not shrink); returns what a
    registry entry needs: ``sha256``, ``size``, ``id``, ``version``, ``preset`` and the card summary."""
    from ..fileio import atomic_path

    card = verify_model(model_dir)
    archive = Path(archive)
    with atomic_path(archive) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name in [CARD_FILE, *(m["file"] for m in card["members"])]:
                zf.write(Path(model_dir) / name, arcname=name)
    return {"id": card["model_id"], "name": card["name"], "preset": card["preset"], "version": card["version"],
            "sha256": sha256_file(archive), "size": archive.stat().st_size, "card": summary(card)}


def _member_name(info: zipfile.ZipInfo, archive: Path) -> str | None:
    """The file name an entry unpacks to, ``None`` to skip it, or an error for anything unsafe."""
    raw = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InputError(f"archive entry {raw!r} is a link; refused", path=archive)
    if "\\" in raw or raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise InputError(f"archive entry {raw!r} has an absolute or Windows path; refused", path=archive)
    parts = PurePosixPath(raw).parts
    if any(part in ("..", ".") for part in parts) or not parts:
        raise InputError(f"archive entry {raw!r} points outside the model folder; refused", path=archive)
    if info.is_dir():
        if len(parts) > 1 or not SAFE_NAME.match(parts[0]):
            raise InputError(f"archive folder {raw!r} is not allowed", path=archive)
        return None
    if len(parts) > 2 or not all(SAFE_NAME.match(p) for p in parts):
        raise InputError(f"archive entry {raw!r} is not a flat model file", path=archive)
    return parts[-1] if UNPACKED.match(parts[-1]) else None


def extract_model(archive: str | Path, out_dir: str | Path) -> Path:
    """Unpack a model archive into the empty folder ``out_dir``; returns it. Nothing is trusted yet:
    callers verify the result (hashes, card) before using it."""
    archive, out_dir = Path(archive), Path(out_dir)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"not a readable model archive (.zip): {exc}", path=archive) from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise InputError(f"archive has {len(infos)} entries; a model has a handful", path=archive)
        plan: dict[str, zipfile.ZipInfo] = {}
        folders = set()
        for info in infos:
            name = _member_name(info, archive)
            if not info.is_dir():
                folders.add(PurePosixPath(info.filename).parts[:-1])
            if name is None:
                continue
            if name in plan:
                raise InputError(f"archive holds {name!r} twice", path=archive)
            plan[name] = info
        if len(folders) > 1:
            raise InputError("archive must hold one model: its files at the top or in one folder", path=archive)
        if CARD_FILE not in plan:
            raise InputError(f"archive holds no {CARD_FILE}", path=archive)
        if sum(info.file_size for info in plan.values()) > MAX_UNPACKED_BYTES:
            raise InputError("archive unpacks to more than 16 GiB; refused", path=archive)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, info in plan.items():
            try:
                with zf.open(info) as src, open(out_dir / name, "xb") as dst:
                    _copy_limited(src, dst, info.file_size, archive)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
                raise InputError(f"archive entry {info.filename!r} cannot be read: {exc}", path=archive) from exc
    return out_dir


def _copy_limited(src: Any, dst: Any, declared: int, archive: Path) -> None:
    """Copy at most the declared size: an entry that inflates beyond what it claims is refused."""
    written = 0
    while chunk := src.read(1 << 20):
        written += len(chunk)
        if written > declared:
            raise InputError("archive entry is larger than it declares; refused", path=archive)
        dst.write(chunk)

