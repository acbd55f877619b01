"""Cases quantified in parallel into one folder all keep their row in measurements.csv (the cohort
table is read, changed and rewritten; without a lock, concurrent updates overwrite each other)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pandas as pd

from MuscleQuantLib.quantify.report import upsert_csv_row

WRITERS, ROWS_EACH = 6, 8


def _writer(args: tuple[str, int]) -> None:
    path, writer = args
    for i in range(ROWS_EACH):
        upsert_csv_row(Path(path), {"patient_id": f"w{writer}_{i}", "smi_cm2_m2": 40.0 + i, "writer": writer})


def test_parallel_upserts_keep_every_row(tmp_path):
    table = tmp_path / "measurements.csv"
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        pool.map(_writer, [(str(table), w) for w in range(WRITERS)])
    rows = pd.read_csv(table, dtype={"patient_id": str})
    assert len(rows) == WRITERS * ROWS_EACH and rows["patient_id"].is_unique
    upsert_csv_row(table, {"patient_id": "w0_0", "smi_cm2_m2": 1.0, "writer": 0})  # replaces, never duplicates
    rows = pd.read_csv(table, dtype={"patient_id": str})
    assert len(rows) == WRITERS * ROWS_EACH and rows.loc[rows["patient_id"] == "w0_0", "smi_cm2_m2"].item() == 1.0
