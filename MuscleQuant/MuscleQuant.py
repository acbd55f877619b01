"""MuscleQuant Slicer module: segment, correct, approve and measure skeletal muscle.

Thin by design: all logic lives in ``MuscleQuantLib`` (engine, headless) and its MRML adapter
``MuscleQuantLib.slicer_bridge``; this file only wires Qt widgets to it. Engine runs and first-use pip
installs are background processes and approvals a worker thread, polled by a QTimer (``slicer_bridge.runner``),
so the UI never blocks; Cancel kills the process tree. Signals connect to slots taking exactly the signal's
arguments: PythonQt passes as many arguments as a slot accepts (``Testing/slicer_harness`` runs this file).

Slicer/Qt/CTK API used, checked against Slicer v5.10.0 and v5.12.3 sources: ``slicer.util.loadUI``/
``childWidgetVariables``/``VTKObservationMixin``/``confirmOkCancelDisplay``/``errorDisplay``/
``setSliceViewerLayers``/``getNode`` (Base/Python/slicer/util.py); ``ScriptedLoadableModule*``;
``qMRMLSegmentEditorWidget`` ``setMRMLSegmentEditorNode``/``setSegmentationNode``/``setSourceVolumeNode``/
``setActiveEffect(None)``/``removeViewObservations``/``setActiveEffectByName`` (as in
Modules/Scripted/SegmentEditor/SegmentEditor.py); ``qMRMLNodeComboBox``; ``qMRMLTableView.setMRMLTableNode``;
``vtkMRMLSliceNode.JumpAllSlices``/``GetSliceToRAS``; ``qt.QSettings``.
"""

import shutil
from pathlib import Path

import qt
import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin


class MuscleQuant(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "MuscleQuant"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["MuscleQuant developers"]
        self.parent.helpText = (
            "Segment skeletal muscle (temporalis MRI, C3 CT, L3 CT five groups, thigh CT 27 muscles), "
            "correct and approve it, and export CSA, SMI, attenuation and volumes."
        )
        self.parent.acknowledgementText = "Reproduces Mi 2022, Naser 2022, Kreher 2022 and Kim 2024."


class MuscleQuantWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Qt wiring only: every decision is made in MuscleQuantLib.slicer_bridge."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = self.batchPanel = self.approvalPanel = None
        self.modelRows, self.nodeFolders = [], {}

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from MuscleQuantLib.slicer_bridge import approval_panel, batch_panel, runner, settings, widget_logic
        from MuscleQuantLib.slicer_bridge.workfolders import WorkFolders

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MuscleQuant.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = MuscleQuantLogic()
        self.workFolders = WorkFolders()
        self.runner = runner.TaskRunner(self.showProgress, slicer.util.errorDisplay, self.updateButtons)
        for name, title in widget_logic.preset_choices():
            self.ui.presetComboBox.addItem(title, name)
        self.ui.deviceComboBox.addItems(list(widget_logic.DEVICES))
        self.ui.huRangeComboBox.addItems(list(widget_logic.HU_CHOICES))
        settings.restore(self.ui, qt.QSettings(), settings.MUSCLEQUANT)
        self.selectEditorNode()
        self.timer = qt.QTimer()
        self.timer.setInterval(200)
        self.timer.timeout.connect(self.onPoll)
        for button, slot in ((self.ui.runButton, self.onRun), (self.ui.cancelButton, self.runner.cancel),
                             (self.ui.useCurrentSliceButton, self.onUseCurrentSlice),
                             (self.ui.refreshModelsButton, self.onRefreshModels),
                             (self.ui.applyHuRangeButton, self.onApplyHuRange),
                             (self.ui.exportCsvButton, self.onExportCsv), (self.ui.drawOutlineButton, self.onDrawOutline)):
            button.clicked.connect(lambda checked, slot=slot: slot())  # clicked(bool): never into a slot's parameter
        self.approvalPanel = approval_panel.ApprovalPanel(self, qt.QSettings)  # Approve, results, Train on approved
        self.batchPanel = batch_panel.BatchReviewPanel(self)  # Batch review: open a batch folder, step, correct, approve
        self.ui.presetComboBox.currentIndexChanged.connect(self.onPresetChanged)
        self.ui.inputVolumeSelector.currentNodeChanged.connect(self.onInputChanged)
        self.ui.outputSegmentationSelector.currentNodeChanged.connect(self.onOutputChanged)
        for signal in (self.ui.caseStorePathLineEdit.currentPathChanged, self.ui.approverLineEdit.textChanged,
                       self.ui.deviceComboBox.currentIndexChanged, self.ui.modelPathLineEdit.currentPathChanged,
                       self.ui.trainMinutesSpinBox.valueChanged, self.ui.batchFolderPathLineEdit.currentPathChanged):
            signal.connect(lambda value: settings.save(self.ui, qt.QSettings(), settings.MUSCLEQUANT))
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.onInputChanged(self.ui.inputVolumeSelector.currentNode())  # a volume loaded before the module opened
        self.onPresetChanged(self.ui.presetComboBox.currentIndex)
        self.onRefreshModels()

    def enter(self):
        self.selectEditorNode()
        self.ui.segmentEditorWidget.installKeyboardShortcuts()

    def exit(self):  # the editor's effect must stop capturing slice-view events (as in SegmentEditor.py)
        self.ui.segmentEditorWidget.setActiveEffect(None)
        self.ui.segmentEditorWidget.uninstallKeyboardShortcuts()
        self.ui.segmentEditorWidget.removeViewObservations()

    def cleanup(self):
        self.timer.stop()
        self.runner.cancel(wait=True, grace_s=1.0)
        self.removeObservers()
        self.workFolders.remove_all()

    def selectEditorNode(self):
        from MuscleQuantLib.slicer_bridge import mrml

        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(mrml.segment_editor_node("MuscleQuant"))

    # ----- state --------------------------------------------------------------------------------
    def segmentation(self):
        return self.ui.outputSegmentationSelector.currentNode()

    def updateButtons(self):
        from MuscleQuantLib.slicer_bridge import widget_logic

        for name, enabled in widget_logic.enabled_widgets(self.runner.busy, self.segmentation(),
                                                          self.currentPreset()).items():
            getattr(self.ui, name).enabled = enabled
        self.batchPanel.updateButtons(self.runner.busy)  # made in setup before anything calls this

    def currentPreset(self):
        return self.ui.presetComboBox.currentData

    def onPresetChanged(self, index):
        from MuscleQuantLib.slicer_bridge import settings

        settings.save(self.ui, qt.QSettings(), settings.MUSCLEQUANT)
        self.updateModelCombo()
        self.updateButtons()

    def onInputChanged(self, node):
        from MuscleQuantLib.slicer_bridge import mrml, widget_logic

        if node is None or node.GetImageData() is None:
            self.updateButtons()
            return
        self.ui.caseIdLineEdit.text = widget_logic.suggested_case_id(node)
        self.ui.sliceSpinBox.maximum = max(0, node.GetImageData().GetDimensions()[2] - 1)
        made = mrml.segmentations_of(node)
        self.ui.outputSegmentationSelector.setCurrentNode(made[-1] if made else None)
        self.onOutputChanged(self.segmentation())

    def onOutputChanged(self, node):
        from MuscleQuantLib.slicer_bridge import mrml, widget_logic

        editor = self.ui.segmentEditorWidget
        editor.setSegmentationNode(node)
        editor.setSourceVolumeNode(mrml.source_volume(node) or self.ui.inputVolumeSelector.currentNode())
        lines = widget_logic.plausibility_lines(mrml.engine_summary(node) if node else None)
        self.ui.flagsLabel.text = "Check before approving:\n" + "\n".join(lines) if lines else ""
        self.ui.flagsLabel.visible = bool(lines)
        self.updateButtons()

    # ----- models -------------------------------------------------------------------------------
    def onRefreshModels(self):
        from MuscleQuantLib.slicer_bridge import widget_logic

        self.startCommand(widget_logic.list_models_command, "Listing models…",
                          lambda result: self.updateModelCombo(result.get("models", [])))

    def updateModelCombo(self, rows=None):
        from MuscleQuantLib.slicer_bridge import widget_logic

        self.modelRows = self.modelRows if rows is None else rows
        choices, self.ui.noModelLabel.text = widget_logic.model_panel(
            self.modelRows, self.currentPreset(), self.ui.presetComboBox.currentText,
            self.ui.modelPathLineEdit.currentPath, self.ui.caseStorePathLineEdit.currentPath)
        self.ui.modelComboBox.clear()
        for row in choices:
            self.ui.modelComboBox.addItem(row["label"], row)
        self.ui.noModelLabel.visible = bool(self.ui.noModelLabel.text)

    # ----- segmentation -------------------------------------------------------------------------
    def onRun(self):
        volume = self.ui.inputVolumeSelector.currentNode()
        if volume is None:
            slicer.util.errorDisplay("Select an input volume first.")
            return
        self.runOn(volume, None if self.ui.autoSliceCheckBox.checked else self.ui.sliceSpinBox.value)

    def runOn(self, volume, sliceIndex):  # first use: pip runs in the background, then the run goes on
        self.logic.whenInstalled(self.startTask, lambda: self.segmentWithChosenModel(volume, sliceIndex))

    def segmentWithChosenModel(self, volume, sliceIndex):
        from MuscleQuantLib.slicer_bridge import widget_logic

        row = self.ui.modelComboBox.currentData
        localFolder = self.ui.modelPathLineEdit.currentPath
        if not localFolder and row and not row.get("path"):  # registry model not downloaded yet: fetch first
            self.startCommand(lambda python: widget_logic.fetch_model_command(row["id"], row["version"], python),
                              "Downloading model…", lambda result: self.segment(
                                  volume, result.get("path") or result.get("model_dir"), sliceIndex))
            return
        self.segment(volume, localFolder or (row or {}).get("path"), sliceIndex)

    def segment(self, volume, model, sliceIndex):
        from MuscleQuantLib.slicer_bridge import widget_logic

        try:
            widget_logic.check_model(model)
        except Exception as exc:
            slicer.util.errorDisplay(f"{exc}\n\n{self.ui.noModelLabel.text}".strip())
            return
        run = widget_logic.SegmentRun(model=widget_logic.Path(model), preset=self.currentPreset(),
                                      slice_index=sliceIndex, device=self.ui.deviceComboBox.currentText,
                                      hu_range=widget_logic.hu_argument(self.ui.huRangeComboBox.currentText))
        work = self.workFolders.make()
        self.startTask(lambda: widget_logic.start_segmentation(volume, run, work, self.enginePython())[0], "Segmenting…",
                       lambda result: self.onSegmented(volume, work), lambda: self.workFolders.remove(work))

    def onSegmented(self, volume, work):
        from MuscleQuantLib.slicer_bridge import mrml, widget_logic

        self.workFolders.drop_input_copy(work)
        try:
            node = widget_logic.import_result(self.runner.finished_task, volume, self.segmentation(),
                                              slicer.util.confirmOkCancelDisplay)
        except Exception as exc:
            self.workFolders.remove(work)
            slicer.util.errorDisplay(f"Could not import the result: {exc}")
            return
        self.workFolders.remove(self.nodeFolders.pop(node.GetID(), None))
        self.nodeFolders[node.GetID()] = work
        self.ui.outputSegmentationSelector.setCurrentNode(node)
        self.onOutputChanged(node)
        slicer.util.setSliceViewerLayers(background=volume)
        summary = mrml.engine_summary(node)
        if summary.get("slice"):
            index = summary["slice"]["index"]
            self.ui.sliceSpinBox.value = index
            slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, *mrml.slice_center_ras(volume, index))
            self.ui.statusLabel.text = f"Slice {index} ({summary['slice']['chosen_by']})"

    def onUseCurrentSlice(self):
        from MuscleQuantLib.slicer_bridge import mrml

        volume = mrml.source_volume(self.segmentation())
        if volume is None:
            return
        index = mrml.ras_to_slice_index(volume, mrml.slice_view_center(slicer.util.getNode("vtkMRMLSliceNodeRed")))
        self.ui.autoSliceCheckBox.checked = False
        self.ui.sliceSpinBox.value = index
        self.runOn(volume, index)

    def onDrawOutline(self):
        from MuscleQuantLib.slicer_bridge import widget_logic

        volume = self.ui.inputVolumeSelector.currentNode()
        if volume is None:
            slicer.util.errorDisplay("Select an input volume first.")
            return
        node = widget_logic.outline_segmentation(volume, self.segmentation(), self.currentPreset())
        self.ui.outputSegmentationSelector.setCurrentNode(node)
        self.onOutputChanged(node)
        self.ui.segmentEditorWidget.setActiveEffectByName("Paint")

    # ----- background work (slicer_bridge.runner: one task at a time) ---------------------------
    def enginePython(self):
        from MuscleQuantLib.slicer_bridge import process, settings

        return process.engine_python(settings.value(qt.QSettings(), settings.ENGINE_PYTHON))

    def startCommand(self, command, message, onDone, onFail=None):
        from MuscleQuantLib.slicer_bridge.process import EngineProcess

        self.startTask(lambda: EngineProcess(command(self.enginePython())).start(), message, onDone, onFail)

    def startTask(self, start, message, onDone, onFail=None):
        if self.runner.start(start, message, onDone, onFail):
            self.timer.start()

    def onPoll(self):
        if not self.runner.poll():
            self.timer.stop()

    def showProgress(self, message, percent, lines):
        from MuscleQuantLib.slicer_bridge.runner import show_progress

        show_progress(self.ui, message, percent, lines)

    def onSceneStartClose(self, caller, event):
        self.runner.cancel(wait=True, grace_s=1.0)
        self.onPoll()  # report the cancelled run now: nothing of it reaches the next scene
        self.ui.segmentEditorWidget.setSegmentationNode(None)
        self.ui.segmentEditorWidget.removeViewObservations()

    def onSceneEndClose(self, caller, event):
        self.workFolders.remove_all()
        self.nodeFolders.clear()
        self.selectEditorNode()
        self.onInputChanged(self.ui.inputVolumeSelector.currentNode())

    # ----- correction, approval, results --------------------------------------------------------
    def onApplyHuRange(self):
        from MuscleQuantLib.slicer_bridge import widget_logic

        try:
            window, removed = widget_logic.apply_hu_choice(self.segmentation(), self.ui.huRangeComboBox.currentText,
                                                           self.currentPreset())
        except Exception as exc:
            slicer.util.errorDisplay(f"HU range: {exc}")
            return
        self.ui.statusLabel.text = f"HU range {window} applied to muscle: {removed} voxels removed"

    def onExportCsv(self):
        version = self.approvalPanel.approvedVersion
        if version is None:
            slicer.util.errorDisplay("Approve a segmentation first.")
            return
        target = qt.QFileDialog.getSaveFileName(None, "Export measurements", "measurements.csv", "CSV (*.csv)")
        if target:
            shutil.copyfile(Path(version) / "measurements.csv", target)


class MuscleQuantLogic(ScriptedLoadableModuleLogic):
    """Dependency installation (needs Qt dialogs) and MRML helpers; the rest is in slicer_bridge."""

    def installer(self):
        from MuscleQuantLib.slicer_bridge import install

        return install.slicer_installer(
            slicer, lambda text: slicer.util.confirmOkCancelDisplay(text, "Install Python packages"))

    def ensureDependencies(self, askConfirmation=True, purpose="segment"):
        """Blocking install (self-tests, scripts): the outcome is falsy on failure, ``message`` says why."""
        from MuscleQuantLib.slicer_bridge import install

        return install.ensure(purpose, self.installer(), ask=askConfirmation)

    def whenInstalled(self, startTask, proceed, purpose="segment"):
        """The widgets' install: dialogs and PyTorchUtils here, pip as a background task, then ``proceed()``."""
        from MuscleQuantLib.slicer_bridge import dependencies

        dependencies.ensure_then(purpose, self.installer(), startTask, proceed, slicer.util.errorDisplay)

    def resultsTable(self):
        table = slicer.mrmlScene.GetFirstNodeByName("MuscleQuant results")
        return table or slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "MuscleQuant results")


class MuscleQuantTest(ScriptedLoadableModuleTest):
    """Runs the real engine on an L3 phantom: shipped starter models find the level and segment → approve twice."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SegmentAndApprove()

    def test_SegmentAndApprove(self):
        from MuscleQuantLib.slicer_bridge import selftest

        outcome = MuscleQuantLogic().ensureDependencies(askConfirmation=False)
        self.assertTrue(outcome, getattr(outcome, "message", ""))
        selftest.segment_and_approve(self.delayDisplay)
        self.delayDisplay("MuscleQuant self-test passed")
