"""Outputs of ``quantify``: the per-case JSON, the cohort CSV (one row per case) and its column
dictionary.

The CSV is what the survival module reads: it joins on ``patient_id`` and finds a sarcopenia
definition's measure by its column name (``definitions.json`` 'measure'). Every column is listed in
``COLUMNS`` (fixed names) or ``COLUMN_PATTERNS`` (per-label names, ``<label>`` = the normalised label
name); ``column_info`` resolves any emitted column to its unit and meaning, and the CLI writes the
dictionary beside the CSV as ``columns.json``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..fileio import exclusive, write_atomic, write_json
from .definitions import DEFINITIONS

CSV_NAME = "measurements.csv"
COLUMNS_NAME = "columns.json"

# name -> (unit, meaning). Units: "" for identifiers and text.
COLUMNS: dict[str, tuple[str, str]] = {
    "patient_id": ("", "case identifier (join key); --patient-id, the metadata case_id, or the image name"),
    "preset": ("", "measurement preset: l3, c3, temporalis, thigh or custom"),
    "level": ("", "anatomical level the preset measures"),
    "modality": ("", "CT or MR"),
    "slice_index": ("index", "stored slice index k (0-based, third image axis) that was measured"),
    "slice_rule": ("", "how the slice was chosen: --slice, metadata level, or most labelled muscle"),
    "slice_position_mm": ("mm", "LPS superior coordinate of the measured slice's centre"),
    "spacing_x_mm": ("mm", "voxel spacing along image axis i"),
    "spacing_y_mm": ("mm", "voxel spacing along image axis j"),
    "spacing_z_mm": ("mm", "voxel spacing along image axis k (slice spacing)"),
    "hu_range_name": ("", "muscle HU range: alberta (-29..150), kreher (-20..200), custom; empty = none (MR)"),
    "hu_min": ("HU", "lower bound of the muscle HU range"),
    "hu_max": ("HU", "upper bound of the muscle HU range"),
    "model_id": ("", "id of the model that produced the labels (model card), when known"),
    "model_sha256": ("", "SHA-256 of the model weights (model card), when known"),
    "model_notice": ("", "notice on the model that made the labels; a starter model's: 'starter model trained on "
                     "synthetic data only: a draft for annotation, not a clinical measurement' (empty otherwise)"),
    "sex": ("", "M (male) or F (female)"),
    "age_y": ("years", "age at imaging"),
    "height_m": ("m", "height"),
    "weight_kg": ("kg", "weight"),
    "bmi_kg_m2": ("kg/m2", "body-mass index = weight / height^2"),
    "csa_total_mm2": ("mm2", "total muscle cross-sectional area on the slice (voxels in the HU range)"),
    "csa_total_cm2": ("cm2", "total muscle cross-sectional area on the slice"),
    "csa_left_cm2": ("cm2", "muscle CSA on the patient's left"),
    "csa_right_cm2": ("cm2", "muscle CSA on the patient's right"),
    "csa_side_mean_mm2": ("mm2", "mean of left and right muscle CSA (temporalis patient value, Mi 2022)"),
    "muscle_hu_mean": ("HU", "mean attenuation of muscle voxels in the HU range (muscle attenuation)"),
    "muscle_hu_sd": ("HU", "standard deviation of muscle attenuation"),
    "imat_total_cm2": ("cm2", "IMAT: voxels at -190..-30 HU inside the muscle outlines"),
    "psoas_area_mm2": ("mm2", "psoas CSA, both sides (labels psoas, psoas_major, iliopsoas)"),
    "psoas_area_cm2": ("cm2", "psoas CSA, both sides"),
    "psoas_hu_mean": ("HU", "mean attenuation of psoas voxels in the HU range (psoas density)"),
    "smi_cm2_m2": ("cm2/m2", "skeletal muscle index = csa_total_cm2 / height^2 (at the preset's level)"),
    "psoas_index_cm2_m2": ("cm2/m2", "psoas muscle index = psoas_area_cm2 / height^2"),
    "l3_csa_from_c3_cm2": ("cm2", "L3 muscle CSA estimated from C3 CSA, age, weight, sex (Swartz 2016)"),
    "l3_smi_from_c3_cm2_m2": ("cm2/m2", "l3_csa_from_c3_cm2 / height^2"),
    "tmt_mm": ("mm", "temporal muscle thickness, mean of the sides (largest inscribed disc diameter)"),
    "tmt_slice_index": ("index", "stored slice where TMT was measured (orbital roof when known)"),
    "tmt_slice_rule": ("", "how the TMT slice was chosen"),
    "tmt_left_mm": ("mm", "temporal muscle thickness, patient's left"),
    "tmt_right_mm": ("mm", "temporal muscle thickness, patient's right"),
    "volume_total_cm3": ("cm3", "total muscle volume over the label map (voxels in the HU range), 3D presets"),
    "volume_index_total_cm3_m2": ("cm3/m2", "volume_total_cm3 / height^2"),
    "plausibility_status": ("", "ok | needs_review | not_checked: needs_review = at least one plausibility flag; "
                            "leave such cases out of cohort statistics until reviewed (the JSON lists the flags)"),
    "plausibility_flag_count": ("count", "number of plausibility flags"),
    "plausibility_flags": ("", "the flags as 'check:label(severity)' separated by '; ' (empty when ok)"),
}
COLUMN_PATTERNS: list[tuple[str, str, str]] = [  # (regex, unit, meaning); first match wins
    (r"csa_(?P<label>.+)_(?P<side>left|right)_cm2", "cm2", "CSA of label <label> on the patient's <side>"),
    (r"csa_(?P<label>.+)_mm2", "mm2", "CSA of label <label> on the slice (voxels in the HU range)"),
    (r"csa_(?P<label>.+)_cm2", "cm2", "CSA of label <label> on the slice"),
    (r"hu_mean_(?P<label>.+)", "HU", "mean attenuation of label <label> (voxels in the HU range)"),
    (r"imat_(?P<label>.+)_cm2", "cm2", "IMAT area inside label <label>"),
    (r"volume_index_(?P<label>.+)_cm3_m2", "cm3/m2", "volume of label <label> / height^2"),
    (r"volume_(?P<label>.+)_cm3", "cm3", "volume of label <label> (voxels in the HU range), 3D presets"),
    (r"outline_(?P<label>.+)_mm2", "mm2", "area of the whole outline of label <label> (per-slice table)"),
    (r"sarcopenia_(?P<definition>.+)", "", "sarcopenic | not_sarcopenic | not_applicable under definition "
     "<definition> (definitions.json); the JSON gives the reason"),
]


def column_info(name: str) -> tuple[str, str] | None:
    """(unit, meaning) of any column quantify writes; None for an undocumented column."""
    if name in COLUMNS:
        return COLUMNS[name]
    for pattern, unit, meaning in COLUMN_PATTERNS:
        match = re.fullmatch(pattern, name)
        if match:
            if "definition" in match.groupdict() and match["definition"] not in DEFINITIONS:
                return None
            for key, value in match.groupdict().items():
                meaning = meaning.replace(f"<{key}>", value)
            return unit, meaning
    return None


def column_dictionary() -> dict[str, Any]:
    """The documented columns, for ``columns.json``."""
    return {"columns": {k: {"unit": u, "meaning": m} for k, (u, m) in COLUMNS.items()},
            "patterns": [{"regex": p, "unit": u, "meaning": m} for p, u, m in COLUMN_PATTERNS],
            "definitions": {k: {"name": d.name, "measure": d.measure, "citation": d.citation}
                            for k, d in DEFINITIONS.items()},
            "missing_values": "empty cell; the case JSON's not_available says why"}


def values_with_units(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every CSV value as {'value', 'unit'} for the JSON document."""
    out = {}
    for name, value in row.items():
        info = column_info(name)
        out[name] = {"value": value, "unit": info[0] if info else ""}
    return out


def case_json(record: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    return {**record, "values": values_with_units(row)}


def write_case_json(path: Path, record: dict[str, Any], row: dict[str, Any]) -> Path:
    return write_json(path, case_json(record, row))


def read_measurements(path: Path) -> pd.DataFrame | None:
    """The existing cohort table, or None; a file that is not one quantify wrote is refused, so a
    foreign or damaged table is neither extended nor overwritten."""
    if not path.exists():
        return None
    if not path.is_file():
        raise InputError("exists and is not a file", path=path)
    try:
        old = pd.read_csv(path, dtype={"patient_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"not a readable measurements table ({' '.join(str(exc).split())[:160]}); move it away "
                         "or choose another --out", path=path) from None
    if "patient_id" not in old.columns:
        raise InputError("has no patient_id column: not a table written by quantify; move it away or choose "
                         "another --out", path=path, field="patient_id")
    return old


def upserted_table(path: Path, row: dict[str, Any]) -> pd.DataFrame:
    """The cohort table with the case's row added, replacing an earlier row of the same patient_id."""
    records, columns = [row], list(row)
    old = read_measurements(path)
    if old is not None:
        old = old[old["patient_id"] != str(row["patient_id"])]
        records = [*old.to_dict("records"), row]
        columns = [*old.columns, *(c for c in row if c not in old.columns)]
    return pd.DataFrame(records, columns=columns)


def upsert_csv_row(path: Path, row: dict[str, Any]) -> Path:
    """Add the case's row to the cohort CSV, replacing an earlier row of the same patient_id.

    Locked, so cases quantified in parallel into one folder all keep their rows."""
    with exclusive(path):
        table = upserted_table(path, row)
        return write_atomic(path, lambda p: table.to_csv(p, index=False))


def write_per_slice(path: Path, rows: list[dict[str, Any]]) -> Path:
    return write_atomic(path, lambda p: pd.DataFrame(rows).to_csv(p, index=False))
