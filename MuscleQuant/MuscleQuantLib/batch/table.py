"""The cohort views of a batch folder, rebuilt from the case folders (the state store) at any time:
``measurements.csv`` (one row per case, status and reason first) and ``series.csv`` (every series
considered, chosen or why not). Rows are sorted by case id and hold no timings, so an interrupted and
resumed run writes the same table as an uninterrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..fileio import write_atomic
from .store import CaseStore

MEASUREMENTS = "measurements.csv"
SERIES = "series.csv"
FRONT = ["case_id", "patient_id", "status", "reason", "review_status", "plausibility_status",
         "plausibility_flag_count", "plausibility_flags", "study_uid", "series_uid", "series_description", "source",
         "slice_index", "slice_chosen_by", "level_confidence"]


def case_rows(store: CaseStore, case_ids: list[str]) -> list[dict[str, Any]]:
    """One row per case (approved values replace automatic ones, see :mod:`.review`)."""
    from .review import reviewed_row

    rows = []
    for case_id in sorted(case_ids):
        state = store.read(case_id)
        if state is None:
            rows.append({"case_id": case_id, "status": "pending", "reason": "not measured yet"})
            continue
        rows.append(reviewed_row(store.folder(case_id), state["row"]))
    return rows


def _ordered(rows: list[dict[str, Any]], front: list[str]) -> list[str]:
    columns = [c for c in front if any(c in r for r in rows)]
    for row in rows:
        columns += [c for c in row if c not in columns]
    return columns


def write_measurements(out: Path, rows: list[dict[str, Any]]) -> Path:
    table = pd.DataFrame(rows, columns=_ordered(rows, FRONT))
    return write_atomic(out / MEASUREMENTS, lambda p: table.to_csv(p, index=False))


def write_series(out: Path, store: CaseStore, case_ids: list[str], static: dict[str, list[dict[str, Any]]],
                 problems: list[tuple[str, str]]) -> Path:
    """Every series: from the case's committed state when it ran, else what selection said."""
    rows = []
    for case_id in sorted(case_ids):
        state = store.read(case_id)
        for row in (state or {}).get("series") or static.get(case_id, []):
            rows.append({"case_id": case_id, **row})
    for file, reason in problems:
        rows.append({"case_id": "", "series_uid": "", "description": file, "status": "rejected", "reason": reason})
    front = ["case_id", "patient_id", "study_uid", "series_uid", "status", "reason"]
    table = pd.DataFrame(rows, columns=_ordered(rows, front))
    return write_atomic(out / SERIES, lambda p: table.to_csv(p, index=False))
