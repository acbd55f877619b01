"""A small ``musclequant batch`` output folder for the review-loop tests (issue 15 item 8): three phantom
studies (A, B with an oblique thin series, C) run through the real batch with the seeded tiny L3 model
and the stand-in level finder of :mod:`batch_helpers`.

The untrained tiny model fails the plausibility checks on every case, so after the run B and C are
marked as having passed them (their rows' ``plausibility_status``/flags and their segmentation summaries'
``plausibility`` block), as a trained model's batch would leave them, and ``measurements.csv`` is rebuilt
from the case folders with the batch's own table code. A stays as the engine flagged it. Built once per
test process; each test works on its own copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import batch_helpers as H

FLAGGED, PASSED = "A", ("B", "C")
_BUILT: dict[str, Path] = {}


def build(root: Path) -> Path:
    from MuscleQuantLib.batch.phantom_studies import StudySpec, write_study
    from MuscleQuantLib.batch.run import run_batch
    from MuscleQuantLib.batch.settings import BatchSettings
    from MuscleQuantLib.batch.store import CaseStore
    from MuscleQuantLib.batch.table import case_rows, write_measurements

    studies = root / "studies"
    for seed, name in enumerate((FLAGGED, *PASSED)):
        write_study(StudySpec(name, seed=seed, oblique_deg=12.0 if name == "B" else 0.0), studies)
    H.ensure_importable()
    out = root / "batch"
    settings = BatchSettings(preset="l3", out=out, model=H.tiny_l3_model(root / "model"),
                             level_finder=H.LEVEL_FINDER, qa_png=False)
    summary = run_batch(studies, settings)
    assert summary["done"] == 3 and summary["flagged"] == 3, summary
    store = CaseStore(out)
    for case_id in store.case_ids():
        state = store.read(case_id)
        if state["row"]["patient_id"] not in PASSED:
            continue
        state["row"].update(plausibility_status="ok", plausibility_flag_count=0, plausibility_flags="")
        (store.folder(case_id) / "case.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
        path = store.folder(case_id) / state["outputs"]["segmentation"]
        segmentation = json.loads(path.read_text(encoding="utf-8"))
        segmentation["plausibility"].update(status="ok", flags=[])
        path.write_text(json.dumps(segmentation, indent=2), encoding="utf-8")
    write_measurements(out, case_rows(store, store.case_ids()))
    return out


def batch_copy(tmp_path_factory, target: Path) -> Path:
    """A fresh copy of the review batch folder at ``target`` (the source studies are shared, read only)."""
    if "out" not in _BUILT:
        _BUILT["out"] = build(tmp_path_factory.mktemp("review-batch"))
    shutil.copytree(_BUILT["out"], target)
    return target
