"""Read a phantom folder's ``dataset.json`` safely: a malformed file or an entry pointing outside the
folder is refused in one line naming the field, instead of a KeyError or reading ``../../elsewhere``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InputError

PATH_FIELDS = ("image", "labels", "metadata", "vertebrae")


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``, or a one-line refusal."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} file not found", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable {what} JSON ({' '.join(str(exc).split())[:160]})", path=path) from None
    if not isinstance(data, dict):
        raise InputError(f"{what} JSON must be an object", path=path)
    return data


def inside(folder: Path, relative: Any, dataset: Path, field: str) -> Path:
    """``folder / relative``, refused unless it is a relative path that stays inside ``folder``."""
    if not isinstance(relative, str) or not relative.strip():
        raise InputError(f"{relative!r} is not a file name", path=dataset, field=field)
    candidate = Path(relative)
    resolved = (folder / candidate).resolve()
    if candidate.is_absolute() or not resolved.is_relative_to(folder.resolve()):
        raise InputError(f"{relative!r} points outside the data folder {folder}", path=dataset, field=field)
    return folder / candidate


def read_dataset(folder: str | Path) -> list[dict[str, Any]]:
    """The case entries of ``folder/dataset.json``, each with a string ``case_id`` and its file fields
    checked to be relative paths inside the folder (returned as they are written)."""
    folder = Path(folder)
    dataset = folder / "dataset.json"
    data = read_json_object(dataset, "dataset")
    entries = data.get("cases")
    if not isinstance(entries, list) or not entries:
        raise InputError("needs a non-empty list 'cases'", path=dataset, field="cases")
    seen: set[str] = set()
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InputError(f"entry {n} is not an object", path=dataset, field=f"cases[{n}]")
        case_id = entry.get("case_id")
        if not isinstance(case_id, str) or not case_id or case_id.startswith(".") or "/" in case_id or "\\" in case_id:
            raise InputError(f"{case_id!r} is not a case identifier", path=dataset, field=f"cases[{n}].case_id")
        if case_id in seen:
            raise InputError(f"case {case_id!r} is listed twice", path=dataset, field=f"cases[{n}].case_id")
        seen.add(case_id)
        if "image" not in entry:
            raise InputError(f"case {case_id!r} has no 'image'", path=dataset, field=f"cases[{n}].image")
        for key in PATH_FIELDS:
            if entry.get(key) is not None:
                inside(folder, entry[key], dataset, f"cases[{n}].{key}")
    return entries
