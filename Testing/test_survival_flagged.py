"""A measurement the plausibility checks flagged is a draft until someone approves it (issue 14): analyses
that use measurements leave such rows out and name the reason; clinical-only analyses keep them."""

from __future__ import annotations

import csv
from pathlib import Path

from MuscleQuantSurvivalLib.tables import FLAGGED_REASON, load_cohort


def _tables(tmp_path: Path) -> tuple[Path, Path]:
    clinical, measured = tmp_path / "clinical.csv", tmp_path / "measurements.csv"
    with clinical.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", "age", "sex", "os_months", "os_event"])
        for i in range(6):
            writer.writerow([f"P{i}", 60 + i, "MF"[i % 2], 10 + i, i % 2])
    with measured.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", "smi_cm2_m2", "plausibility_status", "review_status"])
        statuses = [("ok", "automatic"), ("needs_review", "automatic"), ("needs_review", "approved"),
                    ("not_checked", ""), ("ok", ""), ("needs_review", "")]
        for i, (status, review) in enumerate(statuses):
            writer.writerow([f"P{i}", 40 + i, status, review])
    return clinical, measured


def test_flagged_unapproved_measurements_are_left_out_with_their_reason(tmp_path):
    cohort = load_cohort(*_tables(tmp_path))
    used, exclusions = cohort.usable(["os_months", "os_event", "smi_cm2_m2"])
    assert sorted(used["patient_id"]) == ["P0", "P2", "P3", "P4"]  # P2 was flagged but approved
    assert dict(exclusions.left_out) == {"P1 (row 3)": FLAGGED_REASON, "P5 (row 7)": FLAGGED_REASON}


def test_clinical_only_analyses_keep_patients_with_flagged_measurements(tmp_path):
    cohort = load_cohort(*_tables(tmp_path))
    used, exclusions = cohort.usable(["os_months", "os_event", "age"])
    assert len(used) == 6 and not exclusions.left_out


def test_flags_without_a_review_column_still_exclude(tmp_path):
    """A plain quantify table has plausibility_status but no review_status (this crashed the analyses)."""
    clinical, measured = _tables(tmp_path)
    text = measured.read_text(encoding="utf-8").splitlines()
    measured.write_text("\n".join(line.rsplit(",", 1)[0] for line in text) + "\n", encoding="utf-8")
    used, exclusions = load_cohort(clinical, measured).usable(["os_months", "os_event", "smi_cm2_m2"])
    assert sorted(used["patient_id"]) == ["P0", "P3", "P4"]
    assert [reason for _, reason in exclusions.left_out] == [FLAGGED_REASON] * 3
