"""The MuscleQuant module's self-test body (Slicer's "Reload and Test"): phantom → tiny model → segment
through the widget's code path → approve twice. Kept here so the module file stays thin; ``display`` is
the test's ``delayDisplay``."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def segment_and_approve(display: Callable[[str], object]) -> None:
    import numpy as np
    import SimpleITK as sitk
    import slicer

    from . import mrml, widget_logic
    from .casestore import CaseStore
    from .process import EngineProcess, musclequant_command

    work = Path(tempfile.mkdtemp(prefix="MuscleQuantTest-"))
    display("Generating a C3 phantom and training a tiny model (about 2 minutes)")
    EngineProcess(musclequant_command("phantom", "--anatomy", "c3", "--n", "4", "--seed", "1", "--in-view",
                                      "always", "--out", work / "phantoms")).start().wait(timeout=600)
    EngineProcess(musclequant_command("train", "--preset", "c3", "--profile", "tiny", "--data",
                                      work / "phantoms", "--out", work / "run", "--max-epochs", "1",
                                      "--device", "cpu")).start().wait(timeout=900)
    image = sorted((work / "phantoms").glob("*_image.nii.gz"))[0]
    volume = slicer.util.loadVolume(str(image))
    k = volume.GetImageData().GetDimensions()[2] // 2
    display("Segmenting through the widget's code path")
    run = widget_logic.SegmentRun(model=work / "run" / "model", slice_index=k, device="cpu")
    segmentation = widget_logic.segment_blocking(volume, run, work / "segment", timeout=600)
    summary = mrml.engine_summary(segmentation)
    engine = sitk.GetArrayFromImage(sitk.ReadImage(summary["files"]["labels"]))
    merged, _ = mrml.segmentation_to_labelmap(segmentation, volume, {lb["name"]: lb["value"] for lb in summary["labels"]})
    if not np.array_equal(merged, engine):
        raise AssertionError("the segmentation node differs from the engine's label map")
    store = CaseStore(work / "store")
    first = widget_logic.approve(store, "selftest", "Self test", segmentation, volume)
    second = widget_logic.approve(store, "selftest", "Self test", segmentation, volume)
    if [first.name, second.name] != ["v001", "v002"]:
        raise AssertionError(f"approvals made {first.name}, {second.name} instead of v001, v002")
    if store.read_provenance(second)["model"]["card_sha256"] is None:
        raise AssertionError("provenance lacks the model's SHA-256")
    mrml.read_segmentation(second / "segmentation.seg.nrrd")
    if os.environ.get("MUSCLEQUANT_KEEP_TEST_FILES") is None:
        shutil.rmtree(work, ignore_errors=True)
