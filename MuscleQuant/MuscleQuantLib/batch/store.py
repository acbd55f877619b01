"""The batch state store: one folder per case under ``OUT/cases``, whose ``case.json`` records the case's
status, input SHA-256, model SHA-256, settings fingerprint and outputs.

A case is written into a hidden temporary folder and committed by one rename, so a reader (or a resumed
run) sees either the whole case or none of it. Replacing an older result keeps its ``review/`` folder
(approved work is never lost): the old folder is renamed aside first and, should the run die between the
two renames, restored on the next start."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

CASE_FILE = "case.json"
REVIEW_DIR = "review"
FINAL_STATUSES = ("done", "excluded")  # results; "failed" (an internal error) is retried by the next run


class CaseStore:
    def __init__(self, out: Path):
        self.root = Path(out) / "cases"

    def folder(self, case_id: str) -> Path:
        return self.root / case_id

    def read(self, case_id: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.folder(case_id) / CASE_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    @staticmethod
    def is_current(state: dict[str, Any] | None, fingerprint: dict[str, str]) -> bool:
        """A committed result for exactly these inputs, models and settings (failed cases are retried)."""
        return (state is not None and state.get("status") in FINAL_STATUSES
                and all(state.get(k) == v for k, v in fingerprint.items()))

    def new_temp(self, case_id: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f".tmp-{case_id}-{uuid.uuid4().hex[:12]}"
        path.mkdir()
        return path

    def commit(self, temp: Path, case_id: str, state: dict[str, Any]) -> bool:
        """Write ``case.json`` last and move ``temp`` into place; False when an identical result is already
        there (the same case finished by another worker: it is kept, ``temp`` is discarded)."""
        (temp / CASE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True, default=str), encoding="utf-8")
        final = self.folder(case_id)
        existing = self.read(case_id)
        keys = ("input_sha256", "models_sha256", "settings_sha256", "status")
        if existing is not None and all(existing.get(k) == state.get(k) for k in keys) \
                and existing.get("status") in FINAL_STATUSES:
            shutil.rmtree(temp, ignore_errors=True)
            return False
        if final.exists():
            if (final / REVIEW_DIR).is_dir():
                shutil.copytree(final / REVIEW_DIR, temp / REVIEW_DIR)
            aside = self.root / f".old-{case_id}-{uuid.uuid4().hex[:12]}"
            os.rename(final, aside)
            os.rename(temp, final)
            shutil.rmtree(aside, ignore_errors=True)
            return True
        try:
            os.rename(temp, final)
        except OSError:  # another worker committed this case a moment ago
            shutil.rmtree(temp, ignore_errors=True)
            return False
        return True

    def recover(self) -> dict[str, int]:
        """Remove half-written temporary folders of an interrupted run; restore a replaced folder whose
        replacement never arrived."""
        counts = {"removed": 0, "restored": 0}
        if not self.root.is_dir():
            return counts
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".tmp-"):
                shutil.rmtree(path, ignore_errors=True)
                counts["removed"] += 1
            elif path.name.startswith(".old-"):
                case_id = path.name[len(".old-"):].rsplit("-", 1)[0]
                if self.folder(case_id).exists():
                    shutil.rmtree(path, ignore_errors=True)
                    counts["removed"] += 1
                else:
                    os.rename(path, self.folder(case_id))
                    counts["restored"] += 1
        return counts

    def case_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if not p.name.startswith(".") and (p / CASE_FILE).exists())
