"""Cohort statistics of evaluate (evaluation.cohort) against a direct NumPy computation."""

from __future__ import annotations

import numpy as np
import pytest

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.evaluation.cohort import CaseResult, cohort_statistics, relative_error_percent
from MuscleQuantLib.evaluation.metrics import evaluate_label_maps

SPACING = (2.0, 0.5, 0.5)  # mm per array axis (z, y, x): one voxel = 0.5 mm³
REF_VOXELS = [60, 80, 100, 120, 140]
EXTRA_VOXELS = [6, -4, 10, 3, -7]  # prediction minus reference, in voxels


def _case(case_id: str, ref_voxels: int, extra: int, with_absent_label: bool = True) -> CaseResult:
    """Label 1 in a row of ``ref_voxels``; the prediction is longer (or shorter) by ``extra`` voxels."""
    ref = np.zeros((1, 4, 200), dtype=np.uint8)
    pred = np.zeros_like(ref)
    ref[0, 1, :ref_voxels] = 1
    pred[0, 1, :ref_voxels + extra] = 1
    values = [1, 2] if with_absent_label else [1]
    rows = [(v, {1: "psoas", 2: "absent"}[v] if v else "all_muscle", m)
            for v, m in evaluate_label_maps(pred, ref, SPACING, values)]
    return CaseResult(case_id, f"{case_id}_pred", f"{case_id}_ref", "volume", None, SPACING, rows)


def test_bland_altman_correlation_icc_match_numpy():
    cases = [_case(f"c{i}", r, e) for i, (r, e) in enumerate(zip(REF_VOXELS, EXTRA_VOXELS, strict=True))]
    stats = cohort_statistics(cases)
    assert stats["size_unit"] == "mm3" and stats["n_cases"] == 5
    psoas = stats["labels"]["psoas"]
    voxel = 2.0 * 0.5 * 0.5
    ref = np.array(REF_VOXELS) * voxel
    pred = (np.array(REF_VOXELS) + np.array(EXTRA_VOXELS)) * voxel
    diff = pred - ref
    ba = psoas["bland_altman"]
    assert ba["n"] == 5
    assert ba["bias"] == pytest.approx(diff.mean())
    assert ba["sd_difference"] == pytest.approx(diff.std(ddof=1))
    assert ba["loa_low"] == pytest.approx(diff.mean() - 1.959964 * diff.std(ddof=1), abs=1e-5)
    assert ba["loa_high"] == pytest.approx(diff.mean() + 1.959964 * diff.std(ddof=1), abs=1e-5)
    percent_of_mean = 100 * diff / ((pred + ref) / 2)
    assert psoas["bland_altman_percent_of_mean"]["bias"] == pytest.approx(percent_of_mean.mean())
    relative = 100 * diff / ref  # the temporalis paper's CSA error
    assert psoas["relative_error_percent"]["mean"] == pytest.approx(relative.mean())
    assert psoas["relative_error_percent"]["sd"] == pytest.approx(relative.std(ddof=1))
    assert psoas["relative_error_percent"]["mean_absolute"] == pytest.approx(np.abs(relative).mean())
    assert psoas["pearson"]["r"] == pytest.approx(np.corrcoef(pred, ref)[0, 1])
    assert psoas["pearson"]["ci_low"] < psoas["pearson"]["r"] < psoas["pearson"]["ci_high"]
    assert 0.9 < psoas["icc_2_1"]["icc"] <= 1.0
    dice = [2 * min(r, r + e) / (2 * r + e) for r, e in zip(REF_VOXELS, EXTRA_VOXELS, strict=True)]
    assert psoas["metrics"]["dice"]["mean"] == pytest.approx(np.mean(dice))
    assert psoas["metrics"]["dice"]["sd"] == pytest.approx(np.std(dice, ddof=1))
    # a label absent from both maps in every case is left out, not scored as a perfect match
    assert "absent" not in stats["labels"]
    assert stats["labels"]["all_muscle"]["bland_altman"]["bias"] == pytest.approx(diff.mean())


def test_small_cohorts_report_why_a_statistic_is_missing():
    cases = [_case(f"c{i}", r, e) for i, (r, e) in enumerate(zip(REF_VOXELS[:3], EXTRA_VOXELS[:3], strict=True))]
    psoas = cohort_statistics(cases)["labels"]["psoas"]
    assert psoas["pearson"]["value"] is None and "at least 4" in psoas["pearson"]["reason"]
    assert psoas["bland_altman"]["n"] == 3  # three pairs are enough for Bland–Altman


def test_relative_error_leaves_out_zero_references():
    result = relative_error_percent([11.0, 9.0, 5.0], [10.0, 10.0, 0.0])
    assert result["n"] == 2 and result["left_out_reference_zero"] == 1
    assert result["mean"] == pytest.approx(0.0) and result["mean_absolute"] == pytest.approx(10.0)


def test_mixed_slice_and_volume_cases_are_refused():
    volume = _case("v", 60, 2)
    slice_case = CaseResult("s", "p", "r", "slice", 0, (0.5, 0.5), volume.labels)
    with pytest.raises(InputError, match="mix slice"):
        cohort_statistics([volume, slice_case])
