"""``slicer_bridge.batch_review`` on the real slicer-core scene (issue 15 item 8, Slicer side): a batch output
folder's measured cases in review order, each opened on the grid its series was measured on with the
automatic label map as segments and the flags on the node, and an approval that goes through the engine's
``merge_approved`` (new version every time, automatic label map untouched, table row with provenance)."""

# ruff: noqa: F811  (pytest fixtures imported from slicer_wiring are used as test parameters)
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from slicer_wiring import slicer_scene  # noqa: F401

pytest.importorskip("highdicom", reason="batch needs the 'batch' extra (pip install -e .[batch])")

import batch_review_helpers as R  # noqa: E402

from MuscleQuantLib.errors import InputError  # noqa: E402
from MuscleQuantLib.slicer_bridge import batch_review, mrml  # noqa: E402

pytestmark = pytest.mark.slicer


@pytest.fixture
def out(tmp_path_factory, tmp_path):
    return R.batch_copy(tmp_path_factory, tmp_path / "batch")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def automatic_labels(item) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(item["labels"]))


def test_queue_puts_the_flagged_case_first_and_refuses_other_folders(out, tmp_path):
    session = batch_review.ReviewSession.load(out)
    assert [q["patient_id"] for q in session.queue] == [R.FLAGGED, *R.PASSED]
    text, flagged = session.case_line()
    assert flagged and text.startswith("Case 1 of 3: A (") and "Flagged, " in text and "area:" in text
    assert not session.move(-1) and session.move(+1) and session.move(+1) and not session.move(+1)
    text, flagged = session.case_line()
    assert not flagged and "Case 3 of 3: C" in text and "No plausibility flags" in text
    assert batch_review.enabled_widgets(False, session) == {"openBatchButton": True, "previousCaseButton": True,
                                                            "nextCaseButton": False, "approveBatchCaseButton": True}
    assert not any(batch_review.enabled_widgets(True, session).values())
    for folder, reason in ((tmp_path, "no cases/ folder"), ("", "choose a batch output folder")):
        with pytest.raises(InputError, match=reason):
            batch_review.ReviewSession.load(folder)


@pytest.mark.parametrize("patient", ["A", "B"], ids=["axial-flagged", "oblique"])
def test_case_opens_on_its_measured_grid_with_the_automatic_labels_and_flags(slicer_scene, out, patient):
    import SimpleITK as sitk

    item = next(q for q in batch_review.ReviewSession.load(out).queue if q["patient_id"] == patient)
    volume, segmentation = batch_review.show_case(batch_review.read_case(out, item))
    assert mrml.same_geometry(volume, sitk.ReadImage(item["labels"]))
    summary = mrml.engine_summary(segmentation)
    assert mrml.source_volume(segmentation).GetID() == volume.GetID()
    assert bool(summary["plausibility"]["flags"]) == (patient == R.FLAGGED)
    value_by_name = {label["name"]: label["value"] for label in summary["labels"]}
    labels, _ = mrml.segmentation_to_labelmap(segmentation, volume, value_by_name)
    assert np.array_equal(labels, automatic_labels(item)) and labels.any()
    assert batch_review.case_of(segmentation) == {"out": str(out), "case_id": item["case_id"]}


def test_approval_merges_a_new_version_with_provenance_and_never_touches_the_automatic_map(slicer_scene, out):
    import SimpleITK as sitk

    slicer = slicer_scene
    item = batch_review.ReviewSession.load(out).queue[0]
    before = pd.read_csv(out / "measurements.csv", dtype={"patient_id": str}).set_index("patient_id").loc["A"]
    automatic_sha = sha256(Path(item["labels"]))
    volume, segmentation = batch_review.show_case(batch_review.read_case(out, item))
    # The reviewer erases the largest segment on the measured slice (painting through the segmentation node).
    summary = mrml.engine_summary(segmentation)
    largest = max(summary["labels"], key=lambda label: label["voxels"])["name"]
    mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, largest, volume)
    assert mask.sum() == largest_voxels(summary, largest)
    assert not batch_review.unapproved_edits(segmentation, automatic_labels(item))
    slicer.util.updateSegmentBinaryLabelmapFromArray(np.zeros_like(mask), segmentation, largest, volume)
    assert batch_review.unapproved_edits(segmentation, automatic_labels(item))
    with pytest.raises(InputError, match="approver"):
        batch_review.approval_task(segmentation, "  ")
    job = batch_review.approval_task(segmentation, "Dr. Review")
    assert not batch_review.unapproved_edits(segmentation, job.labels)
    first = job()
    second = batch_review.approval_task(segmentation, "Dr. Second", note="checked twice")()
    assert (first["version"], second["version"]) == (1, 2)
    assert 0 < first["dice_auto_vs_approved"] < 1
    folder = out / "cases" / item["case_id"]
    approved = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "review" / "v1" / "labels.nii.gz")))
    expected = automatic_labels(item)
    expected[expected == next(lb["value"] for lb in summary["labels"] if lb["name"] == largest)] = 0
    assert np.array_equal(approved, expected)
    assert sha256(Path(item["labels"])) == automatic_sha
    row = pd.read_csv(out / "measurements.csv", dtype={"patient_id": str}).set_index("patient_id").loc["A"]
    assert row["review_status"] == "approved" and row["review_version"] == 2 and row["approved_by"] == "Dr. Second"
    assert row["dice_auto_vs_approved"] == second["dice_auto_vs_approved"] and row["approved_at"]
    assert row["csa_total_cm2"] < before["csa_total_cm2"] and before["review_status"] == "automatic"
    # Opened again, the case starts from its latest approved version; Dice stays against the automatic map.
    again = batch_review.read_case(out, item)
    assert again.shown == folder / "review" / "v2" / "labels.nii.gz" and np.array_equal(again.saved, expected)
    _, reopened = batch_review.show_case(again)
    assert np.array_equal(batch_review.labels_of(reopened), expected)
    assert reopened.GetAttribute(mrml.AI_LABELS_ATTRIBUTE) == item["labels"]
    other = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "not a batch case")
    with pytest.raises(InputError, match="not a batch case"):
        batch_review.approval_task(other, "Dr. Review")


def largest_voxels(summary, name: str) -> int:
    return next(label["voxels"] for label in summary["labels"] if label["name"] == name)
