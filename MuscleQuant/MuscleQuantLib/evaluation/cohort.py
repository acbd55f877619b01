"""Many evaluated cases → one table (a row per case × label) and cohort statistics per label.

The cohort statistics are what the papers report (SPEC 2, 6): mean ± SD of each per-case metric,
Pearson r of predicted against reference volume (3D) or CSA (2D), Bland–Altman bias and limits in
the size's unit and in percent, the reference-relative error in % (the temporalis paper's "CSA error
7.71 ± 12.17 %") and ICC(2,1). The statistics themselves come from :mod:`MuscleQuantLib.agreement`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..agreement import bland_altman, correlation, icc_2_1
from ..errors import InputError
from .metrics import METRIC_UNITS, STATUS_BOTH_EMPTY, LabelMetrics

SIZE_UNITS = {"volume": "mm3", "area": "mm2"}

# Every column of metrics.csv, in order, with its meaning and unit (also written into metrics.json).
COLUMNS: dict[str, str] = {
    "case_id": "case identifier",
    "label_value": "label value in the compared maps (empty for the all-muscle union row)",
    "label_name": "label name (all_muscle = union of the evaluated labels)",
    "status": "ok | prediction_empty | reference_empty | both_empty",
    "mode": "volume (3D comparison) or slice (2D comparison on one slice)",
    "slice_index": "stored slice index compared in slice mode (array axis 0), empty in volume mode",
    "size_unit": "unit of pred_size/ref_size: mm3 (volume) or mm2 (area, slice mode)",
    "pred_voxels": "voxels of the label in the prediction",
    "ref_voxels": "voxels of the label in the reference",
    "overlap_voxels": "voxels labelled in both (true positives)",
    "pred_size": "predicted volume (mm3) or cross-sectional area (mm2)",
    "ref_size": "reference volume (mm3) or cross-sectional area (mm2)",
    "dice": "Dice similarity coefficient 2|P∩R|/(|P|+|R|), 0..1",
    "jaccard": "Jaccard index |P∩R|/|P∪R|, 0..1",
    "precision": "|P∩R|/|P| (positive predictive value), 0..1",
    "recall": "|P∩R|/|R| (sensitivity), 0..1",
    "hausdorff_mm": "symmetric Hausdorff distance between the surfaces, mm",
    "hausdorff95_mm": "95th-percentile Hausdorff distance (max of both directed 95th percentiles), mm",
    "assd_mm": "average symmetric surface distance, mm",
    "relative_volume_difference_percent": "signed relative volume (or area) difference 100·(P−R)/R, %",
    "note": "why a value is empty (undefined), if any",
}


@dataclass(frozen=True)
class CaseResult:
    """Every label's metrics for one prediction/reference pair, with how they were compared."""

    case_id: str
    prediction: str
    reference: str
    mode: str  # "volume" or "slice"
    slice_index: int | None
    spacing_mm: tuple[float, ...]  # per compared array axis
    labels: list[tuple[int | None, str, LabelMetrics]]  # (value, name, metrics); value None = union
    info: dict[str, Any] = field(default_factory=dict)  # label-name source, merge, preset, ...

    @property
    def size_kind(self) -> str:
        return "area" if self.mode == "slice" else "volume"

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per label, in :data:`COLUMNS` order."""
        out = []
        for value, name, metrics in self.labels:
            row = {"case_id": self.case_id, "label_value": value, "label_name": name, "mode": self.mode,
                   "slice_index": self.slice_index, "size_unit": SIZE_UNITS[self.size_kind], **metrics.to_dict()}
            out.append({column: row.get(column) for column in COLUMNS})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "prediction": self.prediction, "reference": self.reference,
                "mode": self.mode, "slice_index": self.slice_index, "spacing_mm": list(self.spacing_mm),
                "spacing_axes": "y,x" if self.mode == "slice" else "z,y,x",
                "size_unit": SIZE_UNITS[self.size_kind], **self.info, "labels": self.rows()}


def _float_or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _summary(values: Sequence[float | None]) -> dict[str, Any]:
    """n, mean, SD (n − 1), median, min and max of the defined values (null when there are none)."""
    x = np.array([_float_or_nan(v) for v in values], dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "min": None, "max": None}
    return {"n": int(x.size), "mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else None,
            "median": float(np.median(x)), "min": float(x.min()), "max": float(x.max())}


def relative_error_percent(pred: Sequence[float], ref: Sequence[float]) -> dict[str, Any]:
    """Per-case 100·(pred − ref)/ref summarised: mean ± SD, mean absolute, 95 % limits.

    ``agreement.bland_altman(percent=True)`` divides by the pair mean; the temporalis paper's CSA
    error is relative to the manual (reference) value, so this small summary is added here.
    Cases with a zero reference are left out (the percentage is undefined) and counted.
    """
    p = np.asarray(pred, dtype=float)
    r = np.asarray(ref, dtype=float)
    usable = np.isfinite(p) & np.isfinite(r) & (r != 0)
    errors = 100.0 * (p[usable] - r[usable]) / r[usable]
    result: dict[str, Any] = {"n": int(errors.size), "left_out_reference_zero": int((r == 0).sum())}
    if errors.size < 2:
        return {**result, "mean": None, "sd": None, "mean_absolute": None, "loa_low": None, "loa_high": None,
                "reason": f"needs at least 2 cases with a non-zero reference, got {errors.size}"}
    mean, sd = float(errors.mean()), float(errors.std(ddof=1))
    return {**result, "mean": mean, "sd": sd, "mean_absolute": float(np.abs(errors).mean()),
            "loa_low": mean - 1.959963984540054 * sd, "loa_high": mean + 1.959963984540054 * sd}


def _guarded(compute: Callable[[], Any]) -> dict[str, Any]:
    """A statistic as a dict, or ``{"value": null, "reason": ...}`` when the data cannot support it."""
    try:
        return compute().to_dict()
    except InputError as exc:
        return {"value": None, "reason": str(exc)}


def label_statistics(pred_sizes: Sequence[float], ref_sizes: Sequence[float],
                     metrics: Sequence[LabelMetrics]) -> dict[str, Any]:
    """Cohort statistics of one label over the cases in which it is present in either map."""
    pred = np.asarray(pred_sizes, dtype=float)
    ref = np.asarray(ref_sizes, dtype=float)
    return {
        "n_cases": int(pred.size),
        "pred_size": _summary(list(pred)),
        "ref_size": _summary(list(ref)),
        "metrics": {name: _summary([getattr(m, name) for m in metrics]) for name in METRIC_UNITS},
        "pearson": _guarded(lambda: correlation(pred, ref, method="pearson")),
        "bland_altman": _guarded(lambda: bland_altman(pred, ref)),
        "bland_altman_percent_of_mean": _guarded(lambda: bland_altman(pred, ref, percent=True)),
        "relative_error_percent": relative_error_percent(pred, ref),
        "icc_2_1": _guarded(lambda: icc_2_1(np.column_stack([pred, ref]))),
    }


def cohort_statistics(cases: Sequence[CaseResult]) -> dict[str, Any]:
    """Per label (matched by name across cases): metric summaries and size agreement statistics.

    A case in which the label is absent from both maps (status both_empty) is left out of that
    label's statistics: a muscle outside the field of view is not a perfect zero-volume prediction.
    """
    kinds = {case.size_kind for case in cases}
    if len(kinds) > 1:
        slices = [c.case_id for c in cases if c.mode == "slice"][:3]
        raise InputError("cases mix slice (2D, area) and volume (3D) comparisons, whose sizes cannot be pooled "
                         f"(slice cases include {', '.join(slices)}); evaluate them separately")
    kind = kinds.pop() if kinds else "volume"
    grouped: dict[str, list[tuple[str, LabelMetrics]]] = {}
    left_out: dict[str, list[str]] = {}
    for case in cases:
        for _, name, metrics in case.labels:
            if metrics.status == STATUS_BOTH_EMPTY:
                left_out.setdefault(name, []).append(case.case_id)
                continue
            grouped.setdefault(name, []).append((case.case_id, metrics))
    labels: dict[str, Any] = {}
    for name, entries in grouped.items():
        metrics = [m for _, m in entries]
        stats = label_statistics([m.pred_size for m in metrics], [m.ref_size for m in metrics], metrics)
        labels[name] = {**stats, "cases": [case_id for case_id, _ in entries],
                        "left_out_both_empty": left_out.get(name, [])}
    return {
        "n_cases": len(cases),
        "size_kind": kind,
        "size_unit": SIZE_UNITS[kind],
        "difference": "prediction − reference (positive bias = over-segmentation)",
        "metric_units": METRIC_UNITS,
        "conventions": {
            "pearson": "Pearson r of predicted vs reference size, 95 % CI by Fisher z (needs ≥ 4 cases)",
            "bland_altman": "bias = mean(pred − ref), 95 % limits = bias ± 1.96·SD, in size_unit (needs ≥ 3)",
            "bland_altman_percent_of_mean": "the same with each difference as % of the pair mean",
            "relative_error_percent": "100·(pred − ref)/ref per case: mean ± SD, mean absolute, bias ± 1.96·SD",
            "icc_2_1": "two-way random effects, absolute agreement, single measurement (needs ≥ 3)",
            "metrics": "per-case metric summaries; undefined (null) values are not counted in n",
            "left_out_both_empty": "cases where the label is absent from both maps, not counted",
        },
        "labels": labels,
    }
