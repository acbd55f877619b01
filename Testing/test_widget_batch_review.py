"""The MuscleQuant widget's Batch review section under PythonQt's rules (Testing/slicer_harness) on the real
slicer-core scene (issue 15 item 8): open a ``musclequant batch`` output folder → the flagged case first,
its flags highlighted → correct in the embedded Segment Editor → Approve case (twice: versions 1 and 2) →
the batch table holds the approved values with provenance, the automatic label map is untouched → Next →
``musclequant cohort report`` runs on the batch table and sees the approved values."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from slicer_harness import Harness

pytest.importorskip("highdicom", reason="batch needs the 'batch' extra (pip install -e .[batch])")
# The batch folder is built in-process with a seeded torch model; Slicer-Python CI (no torch there, the
# PyTorch extension provides it in Slicer) skips this file, the Python 3.11 stage runs it.
pytest.importorskip("torch", reason="builds its batch output in-process with torch (Python 3.11 stage)")

import batch_review_helpers as R  # noqa: E402

pytestmark = pytest.mark.slicer


@pytest.fixture
def harness(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))  # empty model registry and cache
    h = Harness(monkeypatch, settings={"MuscleQuant/CaseStorePath": str(tmp_path / "store"),
                                       "MuscleQuant/Approver": "Dr. A"})
    yield h
    h.close()


def table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "measurements.csv", dtype={"patient_id": str}).set_index("patient_id")


def test_story_open_flagged_first_correct_approve_twice_next_and_cohort_report(harness, tmp_path_factory, tmp_path):
    from MuscleQuantLib.slicer_bridge import batch_review, mrml

    slicer = harness.slicer
    out = R.batch_copy(tmp_path_factory, tmp_path / "batch")
    widget = harness.open_module("MuscleQuant")
    harness.pump(timeout=120)  # the model list loads at setup
    ui = widget.ui
    assert not ui.approveBatchCaseButton.enabled and not ui.nextCaseButton.enabled  # nothing open yet
    ui.batchFolderPathLineEdit.currentPath = str(out)
    ui.openBatchButton.click()
    assert not ui.openBatchButton.enabled and not ui.runButton.enabled  # one task at a time (worker thread)
    harness.pump(timeout=120)
    assert harness.dialogs_of("errorDisplay") == []

    # The flagged case first, its flags highlighted, image + automatic labels in the editor.
    assert ui.batchCaseLabel.text.startswith("Case 1 of 3: A (") and "Flagged, " in ui.batchCaseLabel.text
    assert "background-color" in ui.batchCaseLabel.styleSheet
    assert ui.flagsLabel.visible and "error: area rectus_abdominis_left" in ui.flagsLabel.text
    segmentation, volume = ui.outputSegmentationSelector.currentNode(), ui.inputVolumeSelector.currentNode()
    case = batch_review.case_of(segmentation)
    assert case["out"] == str(out) and mrml.source_volume(segmentation).GetID() == volume.GetID()
    assert ui.segmentEditorWidget.segmentationNode() is segmentation
    assert ui.segmentEditorWidget.sourceVolumeNode().GetID() == volume.GetID()
    assert not ui.previousCaseButton.enabled and ui.nextCaseButton.enabled and ui.approveBatchCaseButton.enabled
    automatic = out / "cases" / case["case_id"] / "labels.nii.gz"
    automatic_sha = hashlib.sha256(automatic.read_bytes()).hexdigest()
    before = table(out).loc["A"]

    # The reviewer erases the largest segment (as the Erase effect does, through the segmentation node).
    summary = mrml.engine_summary(segmentation)
    largest = max(summary["labels"], key=lambda label: label["voxels"])["name"]
    mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, largest, volume)
    assert mask.any()
    slicer.util.updateSegmentBinaryLabelmapFromArray(np.zeros_like(mask), segmentation, largest, volume)
    for version, approver in ((1, "Dr. A"), (2, "Dr. B")):
        ui.approverLineEdit.text = approver
        ui.approveBatchCaseButton.click()
        assert not ui.approveBatchCaseButton.enabled  # the merge runs in a worker thread
        harness.pump(timeout=120)
        assert harness.dialogs_of("errorDisplay") == []
        assert ui.statusLabel.text.startswith(f"Approved as version {version} (Dice automatic vs approved 0.")
        assert f"approved v{version}" in ui.batchCaseLabel.text
        row = table(out).loc["A"]
        assert row["review_status"] == "approved" and row["review_version"] == version
        assert row["approved_by"] == approver and 0 < row["dice_auto_vs_approved"] < 1
    assert row["csa_total_cm2"] < before["csa_total_cm2"]
    assert sorted(p.name for p in (automatic.parent / "review").iterdir()) == ["v1", "v2"]
    assert hashlib.sha256(automatic.read_bytes()).hexdigest() == automatic_sha
    assert table(out).loc["B", "review_status"] == "automatic"

    # Next: the first case that passed the checks; the previous case leaves the scene.
    ui.nextCaseButton.click()
    harness.pump(timeout=120)
    assert ui.batchCaseLabel.text.startswith("Case 2 of 3: B (") and "No plausibility flags" in ui.batchCaseLabel.text
    assert ui.batchCaseLabel.styleSheet == "" and not ui.flagsLabel.visible
    assert ui.previousCaseButton.enabled and ui.nextCaseButton.enabled
    assert not slicer.mrmlScene.IsNodePresent(segmentation) and not slicer.mrmlScene.IsNodePresent(volume)
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 1
    assert batch_review.case_of(ui.outputSegmentationSelector.currentNode())["case_id"] != case["case_id"]

    # Approve case without an approver: refused with a dialog before any work, nothing written.
    ui.approverLineEdit.text = ""
    ui.approveBatchCaseButton.click()
    assert any("approver" in text for text in harness.dialogs_of("errorDisplay"))
    assert table(out).loc["B", "review_status"] == "automatic"
    assert harness.dialogs_of("confirmOkCancelDisplay") == []  # Next after approving: nothing to lose

    # Leaving a case with unapproved corrections asks first; Cancel stays, OK goes back to the approved case.
    b_segmentation, b_volume = ui.outputSegmentationSelector.currentNode(), ui.inputVolumeSelector.currentNode()
    name = mrml.engine_summary(b_segmentation)["labels"][0]["name"]
    mask = slicer.util.arrayFromSegmentBinaryLabelmap(b_segmentation, name, b_volume)
    slicer.util.updateSegmentBinaryLabelmapFromArray(1 - mask, b_segmentation, name, b_volume)
    harness.confirm_answers = [False]
    ui.previousCaseButton.click()
    harness.pump(timeout=120)
    assert len(harness.dialogs_of("confirmOkCancelDisplay")) == 1 and "not approved" in harness.dialogs[-1][1]
    assert ui.batchCaseLabel.text.startswith("Case 2 of 3: B (") and slicer.mrmlScene.IsNodePresent(b_segmentation)
    harness.confirm_answers = [True]
    ui.previousCaseButton.click()
    harness.pump(timeout=120)
    assert ui.batchCaseLabel.text.startswith("Case 1 of 3: A (") and "approved v2" in ui.batchCaseLabel.text
    reopened = ui.outputSegmentationSelector.currentNode()  # starts from the approved version, not the automatic
    assert not slicer.util.arrayFromSegmentBinaryLabelmap(reopened, largest, ui.inputVolumeSelector.currentNode()).any()
    assert not slicer.mrmlScene.IsNodePresent(b_segmentation) and table(out).loc["B", "review_status"] == "automatic"

    # cohort report reads the batch table directly; the cohort it analyses holds the approved values.
    from MuscleQuantSurvivalLib.tables import load_cohort

    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,age,sex,height_m,weight_kg,os_months,os_event\nA,60,M,1.75,80,12,1\n"
                        "B,61,F,1.65,60,30,0\nC,70,M,1.80,90,8,1\n", encoding="utf-8")
    cohort = load_cohort(clinical, out / "measurements.csv")
    assert cohort.data.set_index("patient_id").loc["A", "csa_total_cm2"] == row["csa_total_cm2"]
    done = subprocess.run([sys.executable, "-m", "MuscleQuantLib", "cohort", "report", str(clinical), "--measurements",
                           str(out / "measurements.csv"), "--measure", "csa_total_cm2", "--out", str(tmp_path / "report")],
                          capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "report" / "report.html").is_file()


def test_batch_folder_is_remembered_and_a_folder_that_is_no_batch_output_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    stored = {"MuscleQuant/BatchFolder": str(tmp_path / "earlier")}
    harness = Harness(monkeypatch, settings=stored)
    try:
        widget = harness.open_module("MuscleQuant")
        harness.pump(timeout=120)
        ui = widget.ui
        assert ui.batchFolderPathLineEdit.currentPath == str(tmp_path / "earlier")  # restored at start
        ui.batchFolderPathLineEdit.currentPath = str(tmp_path)
        assert stored["MuscleQuant/BatchFolder"] == str(tmp_path)
        ui.openBatchButton.click()
        harness.pump(timeout=60)
        assert any("no cases/ folder" in text for text in harness.dialogs_of("errorDisplay"))
        assert ui.batchCaseLabel.text == "No batch folder open" and not ui.approveBatchCaseButton.enabled
        assert ui.openBatchButton.enabled and ui.runButton.enabled
    finally:
        harness.close()
