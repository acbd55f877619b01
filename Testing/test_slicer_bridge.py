"""The MRML layer with Slicer's real libraries (slicer-core): geometry, segmentation import through the
widget's own code path (real CLI in a background process), HU refinement, and versioned approval."""

# ruff: noqa: F811  (pytest fixtures imported from slicer_wiring are used as test parameters)
from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from slicer_wiring import engine_inputs, load_volume, middle_slice, put_in_study, slicer_scene  # noqa: F401

pytestmark = pytest.mark.slicer


def test_volume_geometry_survives_engine_input(slicer_scene, tmp_path):
    """An oblique, RAS-stored volume reaches the engine with its exact grid and voxels."""
    from MuscleQuantLib.imageio import read_image
    from MuscleQuantLib.slicer_bridge import mrml

    slicer = slicer_scene
    array = (np.arange(5 * 6 * 7).reshape(5, 6, 7) % 300 - 100).astype(np.int16)
    angle = np.deg2rad(17.0)
    tilt = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    axes = tilt @ np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, -1]])  # permuted, flipped and tilted
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3] = axes @ np.diag([0.8, 0.9, 2.5])
    ijk_to_ras[:3, 3] = [10.0, -20.0, 33.0]
    node = slicer.util.addVolumeFromArray(array, ijkToRAS=ijk_to_ras, name="oblique")
    path = mrml.write_volume_for_engine(node, tmp_path / "input.nrrd")
    image = read_image(path)
    assert mrml.same_geometry(node, image)
    assert np.array_equal(sitk.GetArrayFromImage(image), array)
    in_memory = mrml.volume_to_sitk(node)
    assert np.allclose(in_memory.GetDirection(), image.GetDirection(), atol=1e-6)
    assert np.allclose(in_memory.GetOrigin(), image.GetOrigin(), atol=1e-6)
    # a voxel's physical point agrees between Slicer (RAS) and ITK (LPS)
    ras = ijk_to_ras @ np.array([2, 3, 4, 1.0])
    lps = image.TransformIndexToPhysicalPoint((2, 3, 4))
    assert np.allclose([-ras[0], -ras[1], ras[2]], lps, atol=1e-4)
    assert mrml.ras_to_slice_index(node, mrml.slice_center_ras(node, 3)) == 3


def test_segmentation_node_equals_engine_output(slicer_scene, engine_inputs, tmp_path):
    """The widget's path (Slicer writes the volume, CLI in a background process, import) gives a
    segmentation whose labelmap equals the engine's output voxel for voxel, with terminology."""
    from MuscleQuantLib.presets.terminology import parse_slicer_terminology_string, terminology_for
    from MuscleQuantLib.slicer_bridge import mrml, widget_logic

    slicer = slicer_scene
    volume = load_volume(slicer, engine_inputs["image"])
    study = put_in_study(slicer, volume)
    run = widget_logic.SegmentRun(model=engine_inputs["model"], preset="c3",
                                  slice_index=middle_slice(engine_inputs["image"]), device="cpu")
    process, work = widget_logic.start_segmentation(volume, run, tmp_path / "work")
    stages = []
    process.wait(timeout=240, on_event=lambda e: stages.append(e.stage))
    assert "segment" in stages and stages[-1] == "done"
    segmentation = widget_logic.finish_segmentation(process, volume)

    summary = process.result
    engine = sitk.ReadImage(summary["files"]["labels"])
    assert mrml.same_geometry(volume, engine)
    expected = sitk.GetArrayFromImage(engine)
    assert expected.any(), "the untrained model should label something on the phantom"
    value_by_name = {label["name"]: label["value"] for label in summary["labels"]}
    merged, names = mrml.segmentation_to_labelmap(segmentation, volume, value_by_name)
    assert np.array_equal(merged, expected)
    seg = segmentation.GetSegmentation()
    assert seg.GetNumberOfSegments() == len(summary["labels"])
    for label in summary["labels"]:
        segment = seg.GetSegment(label["name"])
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, label["name"], volume)
        assert np.array_equal(mask > 0, expected == label["value"]), label["name"]
        assert segment.GetName() == label["name"]
        assert np.allclose(segment.GetColor(), np.array(label["color"]) / 255.0)
        entry = parse_slicer_terminology_string(_tag(segment))
        term = terminology_for(label["name"])
        assert entry.type == term.type and entry.type_modifier == term.type_modifier
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    assert sh.GetItemParent(sh.GetItemByDataNode(segmentation)) == study
    assert mrml.engine_summary(segmentation)["model"]["card_sha256"] == summary["model"]["card_sha256"]


def _tag(segment) -> str:
    import vtk

    value = vtk.mutable("")
    assert segment.GetTag("TerminologyEntry", value)
    return str(value)


def test_apply_hu_range_refines_segments(slicer_scene):
    from MuscleQuantLib.slicer_bridge import mrml

    slicer = slicer_scene
    hu = np.full((3, 8, 8), 40, dtype=np.int16)
    hu[1, 2:4, 2:4] = 400  # bone inside the painted muscle
    volume = slicer.util.addVolumeFromArray(hu, name="ct")
    segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    segmentation.GetSegmentation().AddEmptySegment("m", "m")
    painted = np.zeros(hu.shape, np.uint8)
    painted[1, 1:6, 1:6] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(painted, segmentation, "m", volume)
    assert mrml.apply_hu_range(segmentation, volume, (-29.0, 150.0)) == {"m": 4}
    refined = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, "m", volume)
    assert refined.sum() == 21 and not refined[1, 2:4, 2:4].any()


def test_approve_twice_makes_two_readable_versions(slicer_scene, engine_inputs, tmp_path):
    """Approve the AI result, correct it, approve again: v001 and v002, both readable, provenance complete."""
    from MuscleQuantLib.segnrrd import read_seg_nrrd
    from MuscleQuantLib.slicer_bridge import mrml, widget_logic
    from MuscleQuantLib.slicer_bridge.casestore import REQUIRED_PROVENANCE, CaseStore

    slicer = slicer_scene
    volume = load_volume(slicer, engine_inputs["image"])
    run = widget_logic.SegmentRun(model=engine_inputs["model"], slice_index=middle_slice(engine_inputs["image"]),
                                  device="cpu")
    segmentation = widget_logic.segment_blocking(volume, run, tmp_path / "work", timeout=240)
    store = CaseStore(tmp_path / "store")
    case_id = widget_logic.suggested_case_id(volume)
    patient = {"age": 64, "sex": "F", "height": 1.68, "weight": 70}
    first = widget_logic.approve(store, case_id, "Dr. A", segmentation, volume, patient)

    # the reader paints a correction: one more square of the first segment on the measured slice
    summary = mrml.engine_summary(segmentation)
    first_label = summary["labels"][0]["name"]
    mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, first_label, volume)
    k = summary["slice"]["index"]
    mask[k, 5:15, 5:15] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentation, first_label, volume)
    second = widget_logic.approve(store, case_id, "Dr. B", segmentation, volume, patient)

    assert [p.name for p in store.versions(case_id)] == ["v001", "v002"]
    assert (first.name, second.name) == ("v001", "v002")
    reference = sitk.ReadImage(str(engine_inputs["image"]))
    ai = sitk.GetArrayFromImage(sitk.ReadImage(segmentation.GetAttribute(mrml.AI_LABELS_ATTRIBUTE)))
    for version, approver in ((first, "Dr. A"), (second, "Dr. B")):
        files = {p.name for p in version.iterdir()}
        assert {"segmentation.seg.nrrd", "measurements.json", "measurements.csv", "provenance.json"} <= files
        assert all(not (p.stat().st_mode & stat.S_IWUSR) for p in version.iterdir())
        provenance = store.read_provenance(version)
        assert set(REQUIRED_PROVENANCE) <= set(provenance)
        assert provenance["approved_by"] == approver
        assert provenance["model"]["model_id"] == "c3-untrained-test" and len(provenance["model"]["card_sha256"]) == 64
        assert provenance["input"]["file_sha256"] and provenance["input"]["voxel_sha256"]
        assert "musclequant" in provenance["software"] and "slicer_core" in provenance["software"]
        # readable by the engine's own reader...
        engine_read = read_seg_nrrd(version / "segmentation.seg.nrrd", reference)
        assert list(engine_read.names.values()) == [label["name"] for label in summary["labels"]]
        expected = ai.copy()
        if version == second:
            expected[k, 5:15, 5:15] = np.where(expected[k, 5:15, 5:15] == 0, summary["labels"][0]["value"],
                                               expected[k, 5:15, 5:15])
        assert np.array_equal(engine_read.labels, expected)
        # ...and by Slicer's storage node, terminology included
        loaded = mrml.read_segmentation(version / "segmentation.seg.nrrd")
        assert loaded.GetSegmentation().GetNumberOfSegments() == segmentation.GetSegmentation().GetNumberOfSegments()
        assert _tag(loaded.GetSegmentation().GetSegment(loaded.GetSegmentation().GetNthSegmentID(0)))
        measurements = json.loads((version / "measurements.json").read_text(encoding="utf-8"))
        assert measurements["row"]["patient_id"] == case_id
    dice_first = store.read_provenance(first)["dice_ai_vs_approved"]
    dice_second = store.read_provenance(second)["dice_ai_vs_approved"]
    assert all(v in (None, 1.0) for v in dice_first.values())
    assert dice_second[first_label] < 1.0
    assert store.read_provenance(second)["edited_voxels"] > 0
    exported = store.export_measurements(tmp_path / "approved.csv")
    assert "v002" in exported.read_text(encoding="utf-8")


def test_table_node_holds_measurements(slicer_scene):
    from MuscleQuantLib.slicer_bridge import mrml

    slicer = slicer_scene
    table = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode")
    mrml.fill_table(table, [{"measure": "csa_total_cm2", "value": 12.5, "unit": "cm²"},
                            {"measure": "smi_cm2_m2", "value": None, "unit": "cm²/m²"}])
    assert table.GetNumberOfColumns() == 3 and table.GetNumberOfRows() == 2
    assert table.GetCellText(0, 0) == "csa_total_cm2"
    assert slicer.util.arrayFromTableColumn(table, "value")[0] == 12.5


def test_hu_range_spares_bone_and_is_never_applied_to_mr(slicer_scene):
    """D8: the thigh's femur and iliac bone keep every voxel; the temporalis (MR) preset gets no window."""
    from MuscleQuantLib.slicer_bridge import mrml, widget_logic

    slicer = slicer_scene
    muscles = widget_logic.muscle_names("thigh")
    assert muscles and not {"femur", "iliac_bone"} & muscles
    hu = np.full((3, 8, 8), 40, dtype=np.int16)
    hu[1, 2:6, 2:6] = 700  # cortical bone HU
    volume = slicer.util.addVolumeFromArray(hu, name="thigh ct")
    segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    mask = np.zeros(hu.shape, np.uint8)
    mask[1, 1:7, 1:7] = 1
    for name in ("femur", sorted(muscles)[0]):
        segmentation.GetSegmentation().AddEmptySegment(name, name)
        slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentation, name, volume)
    mrml.set_source_volume(segmentation, volume)
    segmentation.SetAttribute(mrml.SUMMARY_ATTRIBUTE, json.dumps({"preset": "thigh", "hu_range": {
        "name": "alberta", "window": [-29.0, 150.0]}}))
    window, removed = widget_logic.apply_hu_choice(segmentation, "preset default", "thigh")
    assert window == (-29.0, 150.0) and removed == 16
    assert slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, "femur", volume).sum() == 36
    assert slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, sorted(muscles)[0], volume).sum() == 20
    mr = {"preset": "temporalis", "hu_range": {"name": "alberta", "window": None}}
    assert widget_logic.hu_window("preset default", mr, "temporalis") is None
    assert widget_logic.hu_window("alberta", None, "temporalis") is None


def test_case_id_never_comes_from_the_patient_id(slicer_scene):
    """D17: a DICOM volume's default case id is a pseudonym of the series UID, stable and identifier-free."""
    from MuscleQuantLib.slicer_bridge import widget_logic

    slicer = slicer_scene
    volume = slicer.util.addVolumeFromArray(np.zeros((2, 3, 4), np.int16), name="3: CT abdomen")
    study = put_in_study(slicer, volume)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    sh.SetItemUID(sh.GetItemByDataNode(volume), "DICOM", "1.2.3.4.5.6789")
    sh.SetItemAttribute(sh.GetItemParent(study), "DICOM.PatientID", "MRN-0042")
    case_id = widget_logic.suggested_case_id(volume)
    assert case_id.startswith("case-") and "0042" not in case_id and "6789" not in case_id
    assert case_id == widget_logic.suggested_case_id(volume)


def test_model_guard_refuses_an_empty_choice(tmp_path):
    """D13: Path("") is "." (an existing folder), which the old is_dir guard let through."""
    from MuscleQuantLib.errors import InputError
    from MuscleQuantLib.slicer_bridge import widget_logic

    for empty in (None, "", Path(""), "."):
        with pytest.raises(InputError, match="no model is chosen"):
            widget_logic.check_model(empty)
    with pytest.raises(InputError, match="model.json"):
        widget_logic.check_model(tmp_path)
    message = widget_logic.no_model_message("C3 skeletal muscle", 0)
    assert "draw the outline by hand" in message and "approve cases first" in message


def test_plausibility_flags_become_highlighted_lines():
    from MuscleQuantLib.slicer_bridge import widget_logic

    summary = {"plausibility": {"status": "needs_review", "flags": [
        {"check": "area", "label": "psoas_left", "value": 0.4, "expected": "2-30 cm²", "reason": "far too small",
         "severity": "error"}]}}
    assert widget_logic.plausibility_lines(summary) == [
        "error: area psoas_left = 0.4 (expected 2-30 cm²): far too small"]
    assert widget_logic.plausibility_lines({"plausibility": {"status": "ok", "flags": []}}) == []
    assert widget_logic.plausibility_lines(None) == []
