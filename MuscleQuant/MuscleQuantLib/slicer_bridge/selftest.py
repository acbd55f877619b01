"""The MuscleQuant module's self-test body (Slicer's "Reload and Test"): a low-resolution L3 phantom → the
shipped starter models (L3 level finder and segmentation, ONNX Runtime on CPU, no training) → segment through
the widget's code path with the level found automatically → approve twice. Kept here so the module file stays
thin; ``display`` is the test's ``delayDisplay``. ``Testing/test_widget_selftests.py`` runs it in pytest through
the harness, as "Reload and Test" does (``slicer.selfTests[name]()``)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def segment_and_approve(display: Callable[[str], object]) -> None:
    import numpy as np
    import SimpleITK as sitk
    import slicer

    from ..models.starter import starter_for
    from . import mrml, widget_logic
    from .casestore import CaseStore
    from .process import EngineProcess, musclequant_command

    work = Path(tempfile.mkdtemp(prefix="MuscleQuantTest-"))
    try:
        display("Generating a low-resolution L3 phantom")
        EngineProcess(musclequant_command("phantom", "--anatomy", "l3", "--n", "1", "--seed", "3", "--in-view",
                                          "always", "--resolution", "low", "--orientation", "LPS", "--out",
                                          work / "phantom")).start().wait(timeout=300)
        truth = json.loads(next((work / "phantom").glob("*_0000.json")).read_text(encoding="utf-8"))["levels"]["L3"]
        volume = slicer.util.loadVolume(str(next((work / "phantom").glob("*_image.nii.gz"))))
        model = starter_for("l3")
        if model is None:
            raise AssertionError("the shipped L3 starter model is missing from this installation")
        display("Finding L3 and segmenting through the widget's code path (shipped starter models)")
        run = widget_logic.SegmentRun(model=model, preset="l3", slice_index=None, device="cpu")
        segmentation = widget_logic.segment_blocking(volume, run, work / "segment", timeout=600)
        summary = mrml.engine_summary(segmentation)
        found = summary["slice"]
        if not found["chosen_by"].startswith("finder") or not truth["first_slice"] <= found["index"] <= truth["last_slice"]:
            raise AssertionError(f"the level finder chose slice {found['index']} ({found['chosen_by']}); the "
                                 f"phantom's L3 spans slices {truth['first_slice']}-{truth['last_slice']}")
        engine = sitk.GetArrayFromImage(sitk.ReadImage(summary["files"]["labels"]))
        merged, _ = mrml.segmentation_to_labelmap(segmentation, volume,
                                                  {lb["name"]: lb["value"] for lb in summary["labels"]})
        if not np.array_equal(merged, engine) or not merged[found["index"]].any():
            raise AssertionError("the segmentation node differs from the engine's label map, or the found slice is empty")
        store = CaseStore(work / "store")
        first = widget_logic.approve(store, "selftest", "Self test", segmentation, volume)
        second = widget_logic.approve(store, "selftest", "Self test", segmentation, volume)
        if [first.name, second.name] != ["v001", "v002"]:
            raise AssertionError(f"approvals made {first.name}, {second.name} instead of v001, v002")
        if store.read_provenance(second)["model"]["card_sha256"] is None:
            raise AssertionError("provenance lacks the model's SHA-256")
        mrml.read_segmentation(second / "segmentation.seg.nrrd")
    finally:
        if os.environ.get("MUSCLEQUANT_KEEP_TEST_FILES") is None:
            shutil.rmtree(work, ignore_errors=True)
