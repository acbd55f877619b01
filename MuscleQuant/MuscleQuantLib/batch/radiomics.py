"""Optional radiomic features per case (``--radiomics PROFILE``) with the engine's PyRadiomics extraction
(``features.extract``): one row per case in the case folder, gathered into ``OUT/radiomics.csv`` (the
``cohort deepsurv --features`` input). A case whose features cannot be extracted keeps its measurements;
the reason is recorded instead of the features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import SimpleITK as sitk

from ..errors import MuscleQuantError
from ..fileio import write_atomic
from .store import CaseStore

CASE_FILE = "radiomics.csv"
COHORT_FILE = "radiomics.csv"


def case_radiomics(image: sitk.Image, labels: sitk.Image, profile: str, preset: str, patient_id: str,
                   slice_index: int | None, label_names: dict[int, str], path: Path) -> str | None:
    """Write the case's feature row to ``path``; returns the reason when there are no features."""
    from ..features.extract import extract_case
    from ..features.settings import load_settings

    try:
        features = extract_case(image, labels, load_settings(profile), preset=preset, patient_id=patient_id,
                                slice_index=slice_index, label_names=label_names)
    except MuscleQuantError as exc:
        return f"no radiomic features: {' '.join(str(exc).split())}"
    row = {"patient_id": patient_id, **features.values}
    write_atomic(path, lambda p: pd.DataFrame([row]).to_csv(p, index=False))
    return None


def write_cohort_radiomics(out: Path, store: CaseStore, case_ids: list[str]) -> Path | None:
    """``OUT/radiomics.csv``: the feature rows of every case that has them, by case id."""
    rows: list[dict[str, Any]] = []
    for case_id in sorted(case_ids):
        state = store.read(case_id)
        name = (state or {}).get("outputs", {}).get("radiomics")
        if name:
            rows += pd.read_csv(store.folder(case_id) / name, dtype={"patient_id": str}).to_dict("records")
    if not rows:
        return None
    table = pd.DataFrame(rows)
    return write_atomic(out / COHORT_FILE, lambda p: table.to_csv(p, index=False))
