"""The MuscleQuant module's widget, executed under PythonQt's rules (Testing/slicer_harness) on the real
slicer-core scene, with the real ``musclequant`` engine in a background process. Each test names the
issue-13 defect it covers (D1…D18)."""

# ruff: noqa: F811  (pytest fixtures imported from slicer_wiring are used as test parameters)
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from slicer_harness import Harness, qtcore
from slicer_wiring import engine_inputs, load_volume, middle_slice, put_in_study  # noqa: F401

pytestmark = pytest.mark.slicer


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """The process's temp folder, observable: what the widget leaves there is what a user would find."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def harness(monkeypatch, tmp_path, temp_root):
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))  # empty model registry and cache
    h = Harness(monkeypatch, settings={"MuscleQuant/CaseStorePath": str(tmp_path / "store"),
                                       "MuscleQuant/Approver": "Dr. A"})
    yield h
    h.close()


@pytest.fixture
def no_shipped_models(monkeypatch):
    """An installation whose engine ships no starter models (``models list`` run with the starter folder
    emptied): D13's first-use state, whichever presets a release ships starters for."""
    from MuscleQuantLib.slicer_bridge import process, widget_logic

    entry = ("import sys, pathlib; sys.path[:0] = {paths!r}; import MuscleQuantLib.models.starter as s; "
             "s.STARTER_DIR = pathlib.Path('/nonexistent/starters'); from MuscleQuantLib.cli import main; sys.exit(main())")

    def command(python=None):
        return [python or process.engine_python(), "-c", entry.format(paths=process.engine_pythonpath()),
                "models", "list", "--progress", "json"]

    monkeypatch.setattr(widget_logic, "list_models_command", command)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def task_pid(widget) -> int:
    task = getattr(widget, "runner", None)
    task = task.task if task is not None else widget.process
    return task.proc.pid


def terminology(segment) -> str:
    import vtk

    value = vtk.mutable("")
    segment.GetTag("TerminologyEntry", value)
    return str(value)


def open_with_volume(harness, engine_inputs, dicom: bool = False):
    """A reader's start: the phantom is loaded (from DICOM when ``dicom``) before the module opens."""
    slicer = harness.slicer
    volume = load_volume(slicer, engine_inputs["image"], name="phantom")
    if dicom:
        study = put_in_study(slicer, volume)
        sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        sh.SetItemUID(sh.GetItemByDataNode(volume), "DICOM", "1.2.826.0.1.3680043.8.498.1234567890")
        sh.SetItemUID(study, "DICOM", "1.2.826.0.1.3680043.8.498.42")
        sh.SetItemAttribute(sh.GetItemParent(study), "DICOM.PatientID", "SECRET-PATIENT-77")
    widget = harness.open_module("MuscleQuant")
    harness.pump(timeout=120)  # the model list loads at setup
    return widget, volume


def segment_on(harness, widget, model, index: int):
    widget.ui.modelPathLineEdit.currentPath = str(model)
    widget.ui.autoSliceCheckBox.checked = False
    widget.ui.sliceSpinBox.value = index
    widget.ui.runButton.click()
    harness.pump(timeout=240)
    return widget.ui.outputSegmentationSelector.currentNode()


def test_story_segment_correct_approve_twice_and_train(harness, engine_inputs, tmp_path, no_shipped_models):
    """Phantom already in the scene → Run (D1: clicked(bool) must not become --slice False) → progress and
    log → segmentation with terminology on the slice → Use current slice → Apply HU range → Approve twice
    → two versions on disk → Train on approved cases → the new model is listed."""
    from MuscleQuantLib.slicer_bridge import mrml

    harness.slicer.app.settings().setValue("MuscleQuant/TrainProfile", "tiny")
    harness.slicer.app.settings().setValue("MuscleQuant/TrainMaxEpochs", 1)
    widget, volume = open_with_volume(harness, engine_inputs, dicom=True)
    ui = widget.ui
    assert ui.noModelLabel.visible and "No " in ui.noModelLabel.text  # D13: first use says so
    k = middle_slice(engine_inputs["image"])
    progress = []
    ui.progressBar.valueChanged.connect(progress.append)
    segmentation = segment_on(harness, widget, engine_inputs["model"], k)
    assert harness.dialogs_of("errorDisplay") == []
    assert segmentation is not None and mrml.source_volume(segmentation).GetID() == volume.GetID()
    assert any(0 < p < 100 for p in progress)
    summary = mrml.engine_summary(segmentation)
    assert summary["slice"]["index"] == k and ui.sliceSpinBox.value == k
    tags = [terminology(segmentation.GetSegmentation().GetNthSegment(i)) for i in
            range(segmentation.GetSegmentation().GetNumberOfSegments())]
    assert tags and all(tags)
    assert "segment" in ui.logTextEdit.toPlainText()  # D18: engine log lines are shown

    # "Use current slice": the reader scrolls the red view to another slice; the run lands there
    other = k + 3
    harness.slicer.vtkMRMLSliceNode.JumpAllSlices(harness.slicer.mrmlScene, *mrml.slice_center_ras(volume, other))
    ui.useCurrentSliceButton.click()
    harness.pump(timeout=240)
    assert harness.dialogs_of("errorDisplay") == []
    assert harness.dialogs_of("confirmOkCancelDisplay"), "replacing unapproved segments must be confirmed (D9)"
    assert ui.outputSegmentationSelector.currentNode().GetID() == segmentation.GetID()
    assert mrml.engine_summary(segmentation)["slice"]["index"] == other

    ui.applyHuRangeButton.click()
    assert "voxels removed" in ui.statusLabel.text and not harness.dialogs_of("errorDisplay")

    store = tmp_path / "store"
    for case_id in ("case-a", "case-a", "case-b"):
        ui.caseIdLineEdit.text = case_id
        ui.approveButton.click()
        harness.pump(timeout=120)
    assert harness.dialogs_of("errorDisplay") == []
    assert sorted(p.name for p in (store / "case-a").iterdir()) == ["v001", "v002"]
    provenance = json.loads((store / "case-a" / "v002" / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["input"]["name"] == "phantom" and provenance["slice"]["index"] == other

    ui.trainApprovedButton.click()
    assert not ui.runButton.enabled and ui.cancelButton.enabled
    harness.pump(timeout=600)
    assert harness.dialogs_of("errorDisplay") == []
    ids = [ui.modelComboBox.itemData(i)["id"] for i in range(ui.modelComboBox.count)]
    assert ids == ["c3-approved"] and not ui.noModelLabel.visible


@pytest.fixture(scope="module")
def l3_phantom(tmp_path_factory) -> dict:
    """A low-resolution L3 phantom (79 x 79 x 117 voxels) and its truth: the shipped starter models (level
    finder and segmentation, ONNX Runtime on CPU) find and segment it in a few seconds each."""
    import subprocess

    from slicer_wiring import REPO, engine_python

    out = tmp_path_factory.mktemp("l3_phantom")
    subprocess.run([engine_python(), "-m", "MuscleQuantLib", "phantom", "--anatomy", "l3", "--n", "1", "--seed", "3",
                    "--in-view", "always", "--resolution", "low", "--orientation", "LPS", "--out", str(out),
                    "--progress", "none"], check=True, cwd=REPO, timeout=300)
    truth = json.loads(next(out.glob("*_s3_0000.json")).read_text(encoding="utf-8"))
    return {"image": next(out.glob("*_image.nii.gz")), "L3": truth["levels"]["L3"]}


def test_story_level_found_automatically_then_correct_and_approve(harness, l3_phantom, tmp_path):
    """The issue's story with automatic level finding: an L3 phantom already in the scene → L3 preset, the
    shipped starter model listed → Run with "find the level" on (D1) → progress → segmentation with
    terminology on the slice the level finder reported in the engine's JSON, inside the true L3 vertebra →
    the result is shown there (spin box, status, red view, editor, background layer) → Use current slice →
    Apply HU range → Approve twice → two versions on disk."""
    from MuscleQuantLib.slicer_bridge import mrml

    slicer = harness.slicer
    volume = load_volume(slicer, l3_phantom["image"], name="abdomen")
    widget = harness.open_module("MuscleQuant")
    harness.pump(timeout=120)
    ui = widget.ui
    ui.presetComboBox.setCurrentIndex(ui.presetComboBox.findData("l3"))
    assert ui.modelComboBox.count and ui.modelComboBox.currentData["id"] == "l3-starter" and not ui.noModelLabel.visible
    ui.autoSliceCheckBox.checked = True
    progress = []
    ui.progressBar.valueChanged.connect(progress.append)
    ui.runButton.click()
    harness.pump(timeout=300)
    assert harness.dialogs_of("errorDisplay") == []
    segmentation = ui.outputSegmentationSelector.currentNode()
    assert segmentation is not None and mrml.source_volume(segmentation).GetID() == volume.GetID()
    assert any(0 < p < 100 for p in progress)
    found = mrml.engine_summary(segmentation)["slice"]
    assert found["chosen_by"].startswith("finder") and found["level"]["found"]
    k = found["index"]
    assert k == found["level"]["slice_index"]  # the run measured where the finder said L3 is
    assert l3_phantom["L3"]["first_slice"] <= k <= l3_phantom["L3"]["last_slice"]  # LPS storage: canonical == stored
    names = {segmentation.GetSegmentation().GetNthSegment(i).GetName(): i + 1
             for i in range(segmentation.GetSegmentation().GetNumberOfSegments())}
    labels, _ = mrml.segmentation_to_labelmap(segmentation, volume, names)
    assert sorted(set(np.nonzero(labels)[0].tolist())) == [k]  # a 2D result, on the found slice only
    tags = [terminology(segmentation.GetSegmentation().GetNthSegment(i)) for i in range(len(names))]
    assert tags and all(tags)
    # shown: slice spin box and status, the red view on the found slice, the editor on the result
    assert ui.sliceSpinBox.value == k and ui.statusLabel.text.startswith(f"Slice {k} (finder")
    red = slicer.util.getNode("vtkMRMLSliceNodeRed")
    assert mrml.ras_to_slice_index(volume, mrml.slice_view_center(red)) == k
    assert ui.segmentEditorWidget.segmentationNode() is segmentation
    assert harness.layer_calls and harness.layer_calls[-1]["background"] is volume

    other = k + 2  # the reader prefers a neighbouring slice: "Use current slice" measures there
    slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, *mrml.slice_center_ras(volume, other))
    ui.useCurrentSliceButton.click()
    harness.pump(timeout=300)
    assert harness.dialogs_of("errorDisplay") == [] and not ui.autoSliceCheckBox.checked
    summary = mrml.engine_summary(segmentation)
    assert summary["slice"]["index"] == other and not summary["slice"]["chosen_by"].startswith("finder")
    ui.applyHuRangeButton.click()
    assert "voxels removed" in ui.statusLabel.text and not harness.dialogs_of("errorDisplay")
    for _ in range(2):
        ui.caseIdLineEdit.text = "abdomen-1"
        ui.approveButton.click()
        harness.pump(timeout=120)
    assert harness.dialogs_of("errorDisplay") == []
    assert sorted(p.name for p in (tmp_path / "store" / "abdomen-1").iterdir()) == ["v001", "v002"]
    assert ui.resultsTableView.mrmlTableNode().GetNumberOfRows() > 0


def test_volume_loaded_before_the_module_opens_sets_case_and_slice_range(harness, engine_inputs):
    """D7: the selector is filled by setMRMLScene before currentNodeChanged is connected; D17: no PatientID."""
    widget, volume = open_with_volume(harness, engine_inputs, dicom=True)
    assert widget.ui.sliceSpinBox.maximum == volume.GetImageData().GetDimensions()[2] - 1
    case_id = widget.ui.caseIdLineEdit.text
    assert case_id and "SECRET" not in case_id and "77" not in case_id


def test_refresh_is_disabled_while_a_run_is_going_and_cannot_orphan_it(harness, engine_inputs):
    """D6: a second background task must not replace the running one."""
    widget, volume = open_with_volume(harness, engine_inputs)
    ui = widget.ui
    ui.modelPathLineEdit.currentPath = str(engine_inputs["model"])
    ui.autoSliceCheckBox.checked = False
    ui.sliceSpinBox.value = middle_slice(engine_inputs["image"])
    ui.runButton.click()
    pid = task_pid(widget)
    assert not ui.refreshModelsButton.enabled
    ui.refreshModelsButton.click()  # ignored: disabled
    assert task_pid(widget) == pid
    harness.pump(timeout=240)
    assert not harness.dialogs_of("errorDisplay")
    assert ui.outputSegmentationSelector.currentNode() is not None


def test_cancel_mid_run_leaves_no_process(harness, engine_inputs):
    """Cancel → the engine's whole process group is gone once the event loop reports it."""
    widget, volume = open_with_volume(harness, engine_inputs)
    ui = widget.ui
    ui.modelPathLineEdit.currentPath = str(engine_inputs["model"])
    ui.autoSliceCheckBox.checked = False
    ui.sliceSpinBox.value = middle_slice(engine_inputs["image"])
    ui.runButton.click()
    pid = task_pid(widget)
    assert alive(pid)
    ui.cancelButton.click()
    harness.pump(timeout=30)
    assert not alive(pid)
    assert ui.statusLabel.text == "Cancelled" and ui.runButton.enabled
    assert not harness.dialogs_of("errorDisplay")
    assert harness.slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0


def test_scene_close_mid_run_leaves_no_process_node_or_temp_copy(harness, engine_inputs, temp_root):
    """D9/D16: closing the scene during a run kills it, imports nothing, and removes the temp folders."""
    widget, volume = open_with_volume(harness, engine_inputs)
    segment_on(harness, widget, engine_inputs["model"], middle_slice(engine_inputs["image"]))
    assert widget.ui.useCurrentSliceButton.enabled
    widget.ui.runButton.click()
    pid = task_pid(widget)
    harness.close_scene()
    assert not alive(pid)
    harness.pump(timeout=30)
    scene = harness.slicer.mrmlScene
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0
    assert widget.ui.segmentEditorWidget.segmentationNode() is None
    assert not widget.ui.useCurrentSliceButton.enabled and not widget.ui.applyHuRangeButton.enabled
    assert not [p for p in temp_root.iterdir() if p.name.startswith("musclequant")]
    assert not harness.dialogs_of("errorDisplay")


def test_segmentation_is_imported_in_one_layer_and_temp_copy_removed(harness, engine_inputs, temp_root):
    """D15: one shared labelmap layer instead of one full-size labelmap per label; D16: the engine's
    uncompressed copy of the volume is deleted as soon as the result is in, the rest at unload."""
    widget, volume = open_with_volume(harness, engine_inputs)
    segmentation = segment_on(harness, widget, engine_inputs["model"], middle_slice(engine_inputs["image"]))
    assert segmentation.GetSegmentation().GetNumberOfSegments() > 1
    assert segmentation.GetSegmentation().GetNumberOfLayers() == 1
    assert not list(temp_root.rglob("input.nrrd"))
    harness.unload("MuscleQuant")
    assert not [p for p in temp_root.iterdir() if p.name.startswith("musclequant")]


def test_one_segmentation_per_volume_and_approval_uses_the_segmented_volume(harness, engine_inputs, tmp_path):
    """D9: a second volume gets its own segmentation; D10: Approve uses the volume that was segmented."""
    widget, volume = open_with_volume(harness, engine_inputs)
    first = segment_on(harness, widget, engine_inputs["model"], middle_slice(engine_inputs["image"]))
    other = load_volume(harness.slicer, engine_inputs["image"], name="second")
    widget.ui.inputVolumeSelector.setCurrentNode(other)
    assert widget.ui.outputSegmentationSelector.currentNode() is None
    second = segment_on(harness, widget, engine_inputs["model"], middle_slice(engine_inputs["image"]))
    assert second.GetID() != first.GetID() and first.GetSegmentation().GetNumberOfSegments()
    widget.ui.outputSegmentationSelector.setCurrentNode(first)  # the reader goes back to the first result
    widget.ui.caseIdLineEdit.text = "first"
    widget.ui.approveButton.click()
    harness.pump(timeout=120)
    provenance = json.loads((tmp_path / "store" / "first" / "v001" / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["input"]["name"] == "phantom"


def test_leaving_the_module_stops_the_editor_capturing_views(harness, engine_inputs):
    """D11: an active Paint effect must not keep capturing slice-view events in other modules."""
    widget, volume = open_with_volume(harness, engine_inputs)
    editor = widget.ui.segmentEditorWidget
    widget.ui.drawOutlineButton.click()
    assert editor.activeEffectName() == "Paint" and editor.viewsObserved
    harness.exit("MuscleQuant")
    assert editor.activeEffect() is None and not editor.viewsObserved


def test_first_use_without_a_model_draw_by_hand_and_approve(harness, engine_inputs, tmp_path, no_shipped_models):
    """D13: empty registry → the module says so, Run explains instead of passing Path("") on, and an
    outline drawn by hand is approved and measured."""
    widget, volume = open_with_volume(harness, engine_inputs)
    ui = widget.ui
    assert ui.noModelLabel.visible and "draw the outline by hand" in ui.noModelLabel.text
    ui.runButton.click()
    harness.pump(timeout=30)
    assert any("no model is chosen" in text for text in harness.dialogs_of("errorDisplay"))
    ui.drawOutlineButton.click()
    node = ui.outputSegmentationSelector.currentNode()
    names = [node.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(node.GetSegmentation().GetNumberOfSegments())]
    k = middle_slice(engine_inputs["image"])
    mask = np.zeros(harness.slicer.util.arrayFromVolume(volume).shape, np.uint8)
    mask[k, 40:60, 40:70] = 1  # the annotator paints one muscle on the slice
    harness.slicer.util.updateSegmentBinaryLabelmapFromArray(mask, node, names[0], volume)
    ui.caseIdLineEdit.text = "drawn"
    ui.approveButton.click()
    harness.pump(timeout=120)
    assert len(harness.dialogs_of("errorDisplay")) == 1  # only the Run without a model
    version = tmp_path / "store" / "drawn" / "v001"
    measurements = json.loads((version / "measurements.json").read_text(encoding="utf-8"))
    assert measurements["row"]["patient_id"] == "drawn"
    assert json.loads((version / "provenance.json").read_text(encoding="utf-8"))["model"] is None


def test_settings_persist_between_sessions(monkeypatch, tmp_path, temp_root):
    """D18: the case store folder, approver and preset survive a restart (Slicer's application settings)."""
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    stored: dict = {}
    first = Harness(monkeypatch, settings=stored)
    widget = first.open_module("MuscleQuant")
    first.pump(timeout=120)
    widget.ui.caseStorePathLineEdit.currentPath = str(tmp_path / "cases")
    widget.ui.approverLineEdit.text = "Dr. B"
    widget.ui.presetComboBox.choose(widget.ui.presetComboBox.itemText(widget.ui.presetComboBox.count - 1))
    chosen = widget.ui.presetComboBox.currentData
    first.close()
    second = Harness(monkeypatch, settings=stored)
    again = second.open_module("MuscleQuant")
    second.pump(timeout=120)
    assert again.ui.caseStorePathLineEdit.currentPath == str(tmp_path / "cases")
    assert again.ui.approverLineEdit.text == "Dr. B" and again.ui.presetComboBox.currentData == chosen
    second.close()


def test_import_errors_are_shown_in_a_dialog(harness, engine_inputs, monkeypatch):
    """D14: an exception while importing the result reaches the user, not only the Python console."""
    from MuscleQuantLib.slicer_bridge import widget_logic

    def broken(*args, **kwargs):
        raise RuntimeError("labelmap import exploded")

    monkeypatch.setattr(widget_logic, "finish_segmentation", broken)
    widget, volume = open_with_volume(harness, engine_inputs)
    segment_on(harness, widget, engine_inputs["model"], middle_slice(engine_inputs["image"]))
    assert any("labelmap import exploded" in text for text in harness.dialogs_of("errorDisplay"))
    assert widget.ui.runButton.enabled


def test_mr_preset_offers_no_hu_range(harness, engine_inputs):
    """D8: the temporalis (MR) preset gets no CT window."""
    widget, volume = open_with_volume(harness, engine_inputs)
    combo = widget.ui.presetComboBox
    combo.setCurrentIndex(combo.findData("temporalis"))
    widget.ui.drawOutlineButton.click()
    assert not widget.ui.applyHuRangeButton.enabled and not widget.ui.huRangeComboBox.enabled
    combo.setCurrentIndex(combo.findData("c3"))
    assert widget.ui.huRangeComboBox.enabled


def test_cancel_returns_at_once_and_kills_a_process_that_ignores_sigterm():
    """D15: Cancel does not wait on the GUI thread; a process ignoring SIGTERM is killed by the poll."""
    import sys

    from MuscleQuantLib.slicer_bridge.process import EngineProcess

    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    process = EngineProcess([sys.executable, "-c", script]).start()
    deadline = time.monotonic() + 60
    while "ready" not in process.log and time.monotonic() < deadline:
        process.poll()
        time.sleep(0.02)
    process.cancel(grace_s=0.5, wait=False)
    assert alive(process.pid)  # returned before the process ended: nothing waited
    while not process.finished() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(process.pid)


def test_run_button_segments_on_the_chosen_slice(harness, engine_inputs):
    """D1: clicked(bool) gave onRun(sliceIndex=False) → ``--slice False`` → the engine exited 2."""
    from MuscleQuantLib.slicer_bridge import mrml

    widget, volume = open_with_volume(harness, engine_inputs)
    k = middle_slice(engine_inputs["image"])
    widget.ui.modelPathLineEdit.currentPath = str(engine_inputs["model"])
    widget.ui.autoSliceCheckBox.checked = False
    widget.ui.sliceSpinBox.value = k
    widget.ui.runButton.click()
    harness.pump(timeout=240)
    assert harness.dialogs_of("errorDisplay") == []
    segmentation = harness.slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    assert mrml.engine_summary(segmentation)["slice"]["index"] == k


def test_no_signal_fills_a_defaulted_slot_parameter(harness):
    """D1 for every connect of both modules: a signal argument must never land in a parameter that has a
    default (PythonQt fills defaulted parameters too, so ``def onRun(self, sliceIndex=None)`` got False)."""
    import inspect

    from slicer_harness.signals import python_argument_count

    for name in ("MuscleQuant", "MuscleQuantSurvival"):
        widget = harness.open_module(name)
        stack, checked = [widget.parent, widget.timer], 0
        while stack:
            item = stack.pop()
            stack.extend(item.children())
            for overloads in item._signals.values():
                for signal in overloads.overloads.values():
                    for slot in signal.slots:
                        count = python_argument_count(slot)
                        if count is None or getattr(slot, "__name__", "") == "relay":  # .ui C++ connections
                            continue
                        filled = list(inspect.signature(slot).parameters.values())[:min(count, signal.arity)]
                        assert all(p.default is inspect.Parameter.empty for p in filled), \
                            f"{name}: {item.name}.{signal.signature} fills defaulted parameters of {slot}"
                        checked += 1
        assert checked >= 8, f"{name}: only {checked} connections found"


def test_first_use_install_runs_in_the_background_and_the_run_goes_on(harness, engine_inputs, tmp_path):
    """D15 (installs on the GUI thread): Run with a package missing asks once, then pip runs as a background
    process: the click returns at once, the event loop keeps running (another timer fires, pip's lines reach
    the log panel), Run/Train/Refresh stay disabled and Cancel enabled until pip ends; then the Run goes on
    by itself and the buttons come back."""
    from slicer_harness import FakePip

    pip = FakePip(harness.monkeypatch, tmp_path / "pip")
    widget, volume = open_with_volume(harness, engine_inputs)
    ui = widget.ui
    ui.modelPathLineEdit.currentPath = str(tmp_path / "no-such-model")  # the Run, once it goes on, stops here
    ui.runButton.click()
    assert widget.runner.busy, "the install must not run (and finish) inside the click handler"
    assert not ui.runButton.enabled and not ui.trainApprovedButton.enabled and not ui.refreshModelsButton.enabled
    assert ui.cancelButton.enabled
    ticks = []
    other = qtcore.QTimer()  # any other GUI work (repaints, other modules' timers) keeps running
    other.setInterval(20)
    other.timeout.connect(lambda: ticks.append(1))
    other.start()
    harness.pump(until=lambda: "Collecting lifelines" in ui.logTextEdit.toPlainText() and len(ticks) >= 5, timeout=60)
    other.stop()
    assert widget.runner.busy and not ui.runButton.enabled and not harness.dialogs_of("errorDisplay")
    pip.release()
    harness.pump(timeout=60)
    assert ui.runButton.enabled and not ui.cancelButton.enabled
    assert "Successfully installed" in ui.logTextEdit.toPlainText()
    assert len(harness.dialogs_of("confirmOkCancelDisplay")) == 1
    (command, constraints), = pip.commands
    assert command[1:4] == ["-m", "pip", "install"] and ["--only-binary", ":all:"] == command[4:6]
    assert any(r.startswith("lifelines") for r in command) and "--constraint" in command
    assert not any(r.lower().startswith(("torch", "numpy", "scipy", "simpleitk")) for r in command[1:])
    assert "numpy==" in constraints and "scipy==" in constraints
    # installed: the Run went on by itself to the model check (whatever models are shipped)
    errors = harness.dialogs_of("errorDisplay")
    assert len(errors) == 1 and "no-such-model" in errors[0] and "model.json is missing" in errors[0]


def test_cancel_during_first_use_install_stops_pip_and_runs_nothing(harness, engine_inputs, tmp_path, temp_root):
    """Cancel while pip runs: its process is gone, nothing else starts, no error, no temp constraints left."""
    from slicer_harness import FakePip

    FakePip(harness.monkeypatch, tmp_path / "pip")
    widget, volume = open_with_volume(harness, engine_inputs)
    ui = widget.ui
    ui.runButton.click()
    harness.pump(until=lambda: "Collecting" in ui.logTextEdit.toPlainText(), timeout=60)
    pid = task_pid(widget)
    assert alive(pid)
    ui.cancelButton.click()
    harness.pump(timeout=30)
    assert not alive(pid) and ui.statusLabel.text == "Cancelled" and ui.runButton.enabled
    assert not harness.dialogs_of("errorDisplay")
    assert not [p for p in temp_root.iterdir() if p.name.startswith("musclequant-pip")]


def test_first_use_installs_torch_through_pytorchutils_then_pip(harness, engine_inputs, tmp_path):
    """One confirmation listing torch and lifelines; torch only through PyTorchUtils (on the GUI thread: it
    may show its own dialog and imports torch into Slicer), the rest by the background pip under constraints."""
    from importlib import metadata

    from slicer_harness import FakePip, FakePyTorchUtilsLogic

    from MuscleQuantLib.slicer_bridge import install

    pip = FakePip(harness.monkeypatch, tmp_path / "pip", released=True)
    with_pip = install.slicer_installer

    def installer(*args, **kwargs):
        made = with_pip(*args, **kwargs)
        inner = made.version_of

        def version_of(name: str) -> str:
            if name == "torch":
                if not FakePyTorchUtilsLogic.calls:
                    raise metadata.PackageNotFoundError(name)
                return "2.9.0"
            return inner(name)

        made.version_of = version_of
        return made

    harness.monkeypatch.setattr(install, "slicer_installer", installer)
    widget, volume = open_with_volume(harness, engine_inputs)
    widget.ui.modelPathLineEdit.currentPath = str(tmp_path / "no-such-model")
    widget.ui.runButton.click()
    assert [c["torchVersionRequirement"] for c in FakePyTorchUtilsLogic.calls] == [install.TORCH_REQUIREMENT]
    harness.pump(timeout=60)
    confirmations = harness.dialogs_of("confirmOkCancelDisplay")
    assert len(confirmations) == 1 and "lifelines" in confirmations[0] and "PyTorch" in confirmations[0]
    (command, constraints), = pip.commands
    assert any(r.startswith("lifelines") for r in command)
    assert not any(r.lower().startswith(("torch", "numpy", "simpleitk")) for r in command[1:])
    assert "torch==2.9.0" in constraints  # the extension's torch is pinned: no dependency may replace it
    assert any("no-such-model" in text for text in harness.dialogs_of("errorDisplay"))


def test_plausibility_flags_of_the_result_are_shown_highlighted(harness):
    """Flags in the engine summary (``plausibility.flags``) appear in the highlighted label of the result
    they belong to, and disappear for a result without flags."""
    from MuscleQuantLib.slicer_bridge import mrml

    slicer = harness.slicer
    volume = slicer.util.addVolumeFromArray(np.zeros((4, 8, 8), np.int16), name="ct")
    widget = harness.open_module("MuscleQuant")
    harness.pump(timeout=120)
    flagged, clean = (slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", n) for n in ("flagged", "clean"))
    for node, flags in ((flagged, [{"check": "symmetry", "label": "psoas", "value": 0.31, "expected": ">= 0.6",
                                    "reason": "left and right differ", "severity": "warning"}]), (clean, [])):
        mrml.set_source_volume(node, volume)
        node.SetAttribute(mrml.SUMMARY_ATTRIBUTE, json.dumps({"preset": "l3", "plausibility": {
            "status": "needs_review" if flags else "ok", "flags": flags}}))
    widget.ui.outputSegmentationSelector.setCurrentNode(flagged)
    label = widget.ui.flagsLabel
    assert label.visible and "symmetry psoas = 0.31" in label.text and "background-color" in label.styleSheet
    widget.ui.outputSegmentationSelector.setCurrentNode(clean)
    assert not label.visible
