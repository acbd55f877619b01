"""Writing a radiomics survival run: tables, figures, the model folder and a summary — used by the
command line and by the cohort report, so both produce the same files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from MuscleQuantLib.fileio import write_atomic, write_json

from .. import figures as cohort_figures
from ..groupings import SARCOPENIC, GroupingSpec, lookup_definition, make_groups
from ..tables import Cohort
from . import figures
from .analysis import DeepSurvRequest, DeepSurvResult, best_definition, deepsurv_c_index, pca_components
from .modelfile import save_pipeline


def definition_indicators(cohort: Cohort, result: DeepSurvResult, request: DeepSurvRequest) -> dict[str, np.ndarray]:
    """Sarcopenic (1), not (0) or not classified (NaN) per patient of the run, for each definition."""
    id_column = cohort.columns.id
    position = {pid: i for i, pid in enumerate(result.risk[id_column])}
    out = {}
    for key in request.definitions:
        definition = lookup_definition(key)
        if definition.measure not in cohort.data.columns:
            continue
        labels = make_groups(cohort, GroupingSpec("definition", definition=key),
                             exclude_invalid=request.exclude_invalid).labels
        flags = np.full(len(position), np.nan)
        for index, label in labels.items():
            pid = cohort.data.at[index, id_column]
            if pid in position:
                flags[position[pid]] = 1.0 if label == SARCOPENIC else 0.0
        out[getattr(definition, "name", key)] = flags
    return out


def summary(result: DeepSurvResult) -> dict[str, Any]:
    """DeepSurv's C-index per set next to the best definition's, in one dict (JSON and report).

    DeepSurv "beats" a definition when the paired-bootstrap 95 % CI of C(DeepSurv) − C(definition)
    lies above 0; it beats every definition when that holds for each one scored on the set.
    """
    out = {}
    metrics = result.metrics
    for name in metrics["set"].unique():
        best_name, best_c = best_definition(metrics, name)
        c = deepsurv_c_index(metrics, name)
        rivals = metrics[(metrics["set"] == name) & (metrics["kind"] == "definition")]
        lows = rivals.get("deepsurv_minus_c_ci_low", pd.Series(dtype=float)).to_numpy(dtype=float)
        out[name] = {"deepsurv_c_index": c, "best_definition": best_name, "best_definition_c_index": best_c,
                     "higher_than_every_definition": bool(np.isfinite(best_c) and c > best_c),
                     "deepsurv_beats_every_definition": bool(lows.size > 0 and np.all(np.nan_to_num(lows, nan=-1) > 0)),
                     "smallest_margin_ci_low": float(np.nanmin(lows)) if lows.size and np.isfinite(lows).any() else None}
    return out


def run_figures(cohort: Cohort, features: pd.DataFrame, result: DeepSurvResult,
                request: DeepSurvRequest) -> list[tuple[str, Figure]]:
    """(file stem, figure): KM per set, C-index per set and score, PCA by definition."""
    made = [(f"km_{name}", cohort_figures.km_figure(km)) for name, km in result.km.items()]
    made.append(("c_index", figures.c_index_figure(result.metrics)))
    indicators = definition_indicators(cohort, result, request)
    if indicators:
        components = pca_components(result, features, result.risk[cohort.columns.id].astype(str))
        made.append(("pca_definitions", figures.pca_figure(components, indicators)))
    return made


def write_run(out: Path, cohort: Cohort, features: pd.DataFrame, result: DeepSurvResult, request: DeepSurvRequest,
              overwrite: bool = False) -> dict[str, Any]:
    """metrics.csv, risk.csv, figures (KM per set, C-index, PCA), model/ and summary.json under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {}
    for name, frame in (("metrics", result.metrics), ("risk", result.risk)):
        write_atomic(out / f"{name}.csv", lambda p, f=frame: f.to_csv(p, index=False))
        written[name] = str(out / f"{name}.csv")
    figure_files = []
    for stem, figure in run_figures(cohort, features, result, request):
        figure_files += cohort_figures.save_figure(figure, out / stem)
    written["figures"] = [str(p) for p in figure_files if p.suffix == ".png"]
    written["model"] = str(save_pipeline(result.pipeline, out / "model", overwrite=overwrite))
    digest = {"endpoint": request.endpoint, "sets": summary(result), "notes": result.notes,
              "exclusions": result.exclusions.summary(), "settings": request.settings.to_dict(),
              "definitions": list(request.definitions), "auc_months": list(request.auc_months)}
    write_json(out / "summary.json", digest)
    written["summary"] = str(out / "summary.json")
    return {**written, "comparison": digest["sets"]}
