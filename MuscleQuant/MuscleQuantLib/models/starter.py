"""Starter models shipped inside the package (``models/starter/<id>/``): trained on synthetic data
only (``Testing/benchmarks/train_starter_models.py``), so that a fresh install can segment and find
levels before any model is trained or fetched. An installed model for the same preset (trained,
imported or fetched into the cache) always takes precedence: the newest one is used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .card import read_card

STARTER_DIR = Path(__file__).resolve().parent / "starter"
STARTER_NOTICE = ("starter model trained on synthetic data only: a draft for annotation, not a clinical "
                  "measurement")


def starter_models() -> list[tuple[Path, dict[str, Any]]]:
    """(folder, card) of every shipped starter model whose card reads."""
    if not STARTER_DIR.is_dir():
        return []
    found = []
    for folder in sorted(p for p in STARTER_DIR.iterdir() if (p / "model.json").is_file()):
        try:
            found.append((folder, read_card(folder)))
        except Exception:  # noqa: BLE001 - a damaged shipped card is skipped here; `models list` shows it
            continue
    return found


def starter_for(preset: str) -> Path | None:
    return next((folder for folder, card in starter_models() if card.get("preset") == preset), None)


def newest_installed(preset: str) -> Path | None:
    """The newest model of ``preset`` in the user's cache (by creation time, then version)."""
    from .registry import cache_status, cached_models, version_key

    candidates = []
    for folder in cached_models():
        status, _, card = cache_status(folder)
        if status != "corrupt" and card is not None and card.get("preset") == preset:
            candidates.append((card.get("created", ""), version_key(card["version"]), folder))
    return max(candidates)[2] if candidates else None


def default_model(preset: str) -> Path | None:
    """What a command uses without ``--model``: the newest installed model, else the starter model."""
    return newest_installed(preset) or starter_for(preset)


def is_starter(card: dict[str, Any]) -> bool:
    return bool(card.get("training", {}).get("starter"))


def starter_status(verify: bool = False) -> list[tuple[Path, str, str, dict[str, Any]]]:
    """(folder, status, problem, card) of each shipped starter model, for ``models list``."""
    from ..errors import InputError
    from .modelfile import check_files

    rows = []
    for folder, card in starter_models():
        try:
            if verify:
                check_files(folder, card)
            else:
                for member in card["members"]:
                    path = folder / member["file"]
                    if not path.is_file() or path.stat().st_size != member["size"]:
                        raise InputError("weights file missing or of the wrong size", path=path)
        except InputError as exc:
            rows.append((folder, "corrupt", str(exc), card))
            continue
        rows.append((folder, "verified" if verify else "shipped", "", card))
    return rows
