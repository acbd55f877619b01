"""Annotators bootstrap a cohort: segmentations approved in Slicer (slicer-core) become training data
for ``musclequant train --data STORE`` — the latest version of each case, on the very image approved."""

# ruff: noqa: F811  (pytest fixtures imported from slicer_wiring are used as test parameters)
from __future__ import annotations

import json
import shutil

import SimpleITK as sitk
from slicer_wiring import engine_inputs, load_volume, middle_slice, slicer_scene  # noqa: F401


def test_approved_cases_train_a_model_and_a_changed_image_is_left_out(slicer_scene, engine_inputs, tmp_path,
                                                                       monkeypatch):
    from MuscleQuantLib.slicer_bridge import mrml, widget_logic
    from MuscleQuantLib.slicer_bridge.casestore import CaseStore
    from MuscleQuantLib.slicer_bridge.process import EngineProcess

    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))  # the per-user model cache, isolated

    slicer = slicer_scene
    store = CaseStore(tmp_path / "store")
    patient = {"age": 64, "sex": "F", "height": 1.68, "weight": 70}
    run = widget_logic.SegmentRun(model=engine_inputs["model"], slice_index=middle_slice(engine_inputs["image"]),
                                  device="cpu")
    images = {}
    for case_id in ("case_a", "case_b", "case_c"):
        images[case_id] = tmp_path / "images" / f"{case_id}.nii.gz"  # one file per case, as a reader loads it
        images[case_id].parent.mkdir(exist_ok=True)
        shutil.copyfile(engine_inputs["image"], images[case_id])
        volume = load_volume(slicer, images[case_id], name=case_id)
        segmentation = widget_logic.segment_blocking(volume, run, tmp_path / "work" / case_id, timeout=240)
        summary = mrml.engine_summary(segmentation)
        k = summary["slice"]["index"]
        for label in summary["labels"][:2]:  # the reader paints each muscle (the untrained model drew little)
            mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, label["name"], volume)
            offset = 20 if label["side"] == "left" else 0
            mask[k, 10:20, 10 + offset:20 + offset] = 1
            slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentation, label["name"], volume)
        widget_logic.approve(store, case_id, "Dr. A", segmentation, volume, patient)
    widget_logic.approve(store, "case_a", "Dr. B", segmentation, load_volume(slicer, images["case_a"]), patient)
    # case_c's image file is rewritten after approval: its segmentation no longer belongs to it
    changed = sitk.ReadImage(str(images["case_c"]))
    sitk.WriteImage(changed + 1, str(images["case_c"]))

    # the widget's "Train on approved cases": the same command line in a background process, then import
    job = widget_logic.ApprovedTraining(store=store.root, preset="c3", minutes=5, device="cpu", profile="tiny",
                                        runs_folder=tmp_path / "models", stamp="20261121.1200")
    train_command, import_command, out = widget_logic.approved_training_commands(job)
    EngineProcess([*train_command, "--max-epochs", "1"]).start().wait(timeout=600)
    imported = EngineProcess(import_command).start().wait(timeout=120)
    listed = EngineProcess(widget_logic.list_models_command()).start().wait(timeout=120)
    choices = widget_logic.model_choices(listed["models"], "c3")
    trained = [(row["id"], row["version"]) for row in choices if row.get("source") != "starter"]
    assert trained == [("c3-approved", "20261121.1200")], imported
    assert {row["id"] for row in choices if row.get("source") == "starter"} <= {"c3-starter"}  # the shipped draft
    summary = json.loads((out / "training_summary.json").read_text(encoding="utf-8"))["dataset"]
    assert summary["cases_found"] == 3 and summary["cases_used"] == 2
    assert [entry["case_id"] for entry in summary["left_out"]] == ["case_c"]
    assert "changed since it was approved" in summary["left_out"][0]["reason"]
    card = json.loads((out / "model" / "model.json").read_text(encoding="utf-8"))
    assert card["training"]["data"]["cases_used"] == 2
    assert [p.name for p in store.versions("case_a")] == ["v001", "v002"]  # reading never touches approvals
