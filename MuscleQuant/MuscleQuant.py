"""MuscleQuant Slicer module: segment, correct, approve and measure skeletal muscle.

Thin by design: all logic lives in ``MuscleQuantLib`` (engine, headless) and its MRML adapter
``MuscleQuantLib.slicer_bridge``; this file only wires Qt widgets to it. Inference runs in a background
``musclequant`` process polled by a QTimer, so the UI never blocks and Cancel kills the process tree.

Slicer/Qt/CTK API used, checked against Slicer v5.10.0 and v5.12.3 sources:
``slicer.util.loadUI``/``childWidgetVariables``/``VTKObservationMixin``/``confirmOkCancelDisplay``/
``errorDisplay``/``pip_install``/``setSliceViewerLayers``/``getNode``/``loadVolume``
(Base/Python/slicer/util.py); ``ScriptedLoadableModule*`` (Base/Python/slicer/ScriptedLoadableModule.py);
``qMRMLSegmentEditorWidget.setMRMLSegmentEditorNode/setSegmentationNode/setSourceVolumeNode``
(Modules/Loadable/Segmentations/Widgets/qMRMLSegmentEditorWidget.h, used the same way in
Modules/Scripted/SegmentEditor/SegmentEditor.py); ``qMRMLTableView.setMRMLTableNode``
(Libs/MRML/Widgets/qMRMLTableView.h); ``vtkMRMLSliceNode.JumpAllSlices`` and ``GetSliceToRAS``
(Libs/MRML/Core/vtkMRMLSliceNode.h); ``PyTorchUtils.PyTorchUtilsLogic.torchInstalled/installTorch``
(SlicerPyTorch: PyTorchUtils/PyTorchUtils.py).
"""

import os
import shutil
import tempfile
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
        self.logic = None
        self.process = None
        self.segmentationNode = None
        self.modelRows = []
        self.pendingModel = None
        self.importCommand = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from MuscleQuantLib.slicer_bridge import widget_logic

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MuscleQuant.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = MuscleQuantLogic()
        for name, title in widget_logic.preset_choices():
            self.ui.presetComboBox.addItem(title, name)
        self.ui.deviceComboBox.addItems(list(widget_logic.DEVICES))
        self.ui.huRangeComboBox.addItems(list(widget_logic.HU_CHOICES))
        self.ui.caseStorePathLineEdit.currentPath = str(Path.home() / "MuscleQuantCases")
        editorNode = slicer.mrmlScene.GetSingletonNode("MuscleQuant", "vtkMRMLSegmentEditorNode")
        if editorNode is None:
            editorNode = slicer.mrmlScene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
            editorNode.UnRegister(None)
            editorNode.SetSingletonTag("MuscleQuant")
            editorNode = slicer.mrmlScene.AddNode(editorNode)
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(editorNode)
        self.timer = qt.QTimer()
        self.timer.setInterval(200)
        self.timer.timeout.connect(self.onPoll)
        self.ui.runButton.clicked.connect(self.onRun)
        self.ui.cancelButton.clicked.connect(self.onCancel)
        self.ui.useCurrentSliceButton.clicked.connect(self.onUseCurrentSlice)
        self.ui.refreshModelsButton.clicked.connect(self.onRefreshModels)
        self.ui.presetComboBox.currentIndexChanged.connect(lambda _: self.updateModelCombo())
        self.ui.applyHuRangeButton.clicked.connect(self.onApplyHuRange)
        self.ui.approveButton.clicked.connect(self.onApprove)
        self.ui.exportCsvButton.clicked.connect(self.onExportCsv)
        self.ui.trainApprovedButton.clicked.connect(self.onTrainOnApproved)
        self.ui.inputVolumeSelector.currentNodeChanged.connect(self.onInputChanged)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, lambda *a: self.onCancel())
        self.setRunning(False)

    def cleanup(self):
        self.onCancel()
        self.removeObservers()

    # ----- state --------------------------------------------------------------------------------
    def setRunning(self, running, message=""):
        self.ui.runButton.enabled = not running
        self.ui.trainApprovedButton.enabled = not running
        self.ui.useCurrentSliceButton.enabled = not running and self.segmentationNode is not None
        self.ui.cancelButton.enabled = running
        self.ui.statusLabel.text = message
        if not running:
            self.ui.progressBar.value = 0

    def onInputChanged(self, node):
        from MuscleQuantLib.slicer_bridge import widget_logic

        if node is not None:
            self.ui.caseIdLineEdit.text = widget_logic.suggested_case_id(node)
            self.ui.sliceSpinBox.maximum = max(0, node.GetImageData().GetDimensions()[2] - 1)

    def currentPreset(self):
        return self.ui.presetComboBox.currentData

    # ----- models -------------------------------------------------------------------------------
    def onRefreshModels(self):
        from MuscleQuantLib.slicer_bridge import widget_logic

        self.startProcess(widget_logic.list_models_command(), "Listing models…", self.onModelsListed)

    def onModelsListed(self, result):
        self.modelRows = result.get("models", [])
        self.updateModelCombo()

    def updateModelCombo(self):
        from MuscleQuantLib.slicer_bridge import widget_logic

        self.ui.modelComboBox.clear()
        for row in widget_logic.model_choices(self.modelRows, self.currentPreset()):
            self.ui.modelComboBox.addItem(row["label"], row)

    # ----- segmentation -------------------------------------------------------------------------
    def onRun(self, sliceIndex=None):
        from MuscleQuantLib.slicer_bridge import widget_logic

        volume = self.ui.inputVolumeSelector.currentNode()
        if volume is None:
            slicer.util.errorDisplay("Select an input volume first.")
            return
        if not self.logic.ensureDependencies():
            return
        row = self.ui.modelComboBox.currentData
        localFolder = self.ui.modelPathLineEdit.currentPath
        if not localFolder and row and not row.get("path"):  # registry model not downloaded yet: fetch first
            self.pendingModel = (volume, sliceIndex)
            self.startProcess(widget_logic.fetch_model_command(row["id"], row["version"]), "Downloading model…",
                              self.onModelFetched)
            return
        model = localFolder or (row or {}).get("path")
        self.segment(volume, model, sliceIndex)

    def onModelFetched(self, result):
        volume, sliceIndex = self.pendingModel
        self.segment(volume, result.get("path") or result.get("model_dir"), sliceIndex)

    def segment(self, volume, model, sliceIndex):
        from MuscleQuantLib.slicer_bridge import widget_logic

        if sliceIndex is None and not self.ui.autoSliceCheckBox.checked:
            sliceIndex = self.ui.sliceSpinBox.value
        run = widget_logic.SegmentRun(model=Path(model or ""), preset=self.currentPreset(), slice_index=sliceIndex,
                                      hu_range=widget_logic.hu_argument(self.ui.huRangeComboBox.currentText),
                                      device=self.ui.deviceComboBox.currentText)
        try:
            process, _ = widget_logic.start_segmentation(volume, run, tempfile.mkdtemp(prefix="musclequant-"))
        except Exception as exc:
            slicer.util.errorDisplay(f"Cannot start segmentation: {exc}")
            return
        self.watch(process, "Segmenting…", lambda result: self.onSegmented(volume))

    def onSegmented(self, volume):
        from MuscleQuantLib.slicer_bridge import mrml, widget_logic

        self.segmentationNode = widget_logic.finish_segmentation(self.process, volume, self.segmentationNode)
        summary = mrml.engine_summary(self.segmentationNode)
        slicer.util.setSliceViewerLayers(background=volume)
        if summary.get("slice"):
            index = summary["slice"]["index"]
            self.ui.sliceSpinBox.value = index
            r, a, s = mrml.slice_center_ras(volume, index)
            slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, r, a, s)
            self.ui.statusLabel.text = f"Slice {index} ({summary['slice']['chosen_by']})"
        self.ui.segmentEditorWidget.setSegmentationNode(self.segmentationNode)
        self.ui.segmentEditorWidget.setSourceVolumeNode(volume)
        self.ui.useCurrentSliceButton.enabled = True

    def onUseCurrentSlice(self):
        from MuscleQuantLib.slicer_bridge import mrml

        volume = self.ui.inputVolumeSelector.currentNode()
        sliceToRas = slicer.util.getNode("vtkMRMLSliceNodeRed").GetSliceToRAS()
        ras = [sliceToRas.GetElement(i, 3) for i in range(3)]
        self.ui.autoSliceCheckBox.checked = False
        self.onRun(sliceIndex=mrml.ras_to_slice_index(volume, ras))

    # ----- background process -------------------------------------------------------------------
    def startProcess(self, command, message, onDone):
        from MuscleQuantLib.slicer_bridge.process import EngineProcess

        self.watch(EngineProcess(command).start(), message, onDone)

    def watch(self, process, message, onDone):
        self.process, self.onDone = process, onDone
        self.setRunning(True, message)
        self.timer.start()

    def onPoll(self):
        from MuscleQuantLib.slicer_bridge.process import EngineError

        percent, message = self.process.poll_status()
        if percent is not None:
            self.ui.progressBar.value = percent
        if message:
            self.ui.statusLabel.text = message
        if not self.process.finished():
            return
        self.timer.stop()
        self.setRunning(False, self.ui.statusLabel.text)
        try:
            result = self.process.outcome()
            self.onDone(result)
        except EngineError as exc:
            if str(exc) != "cancelled":
                slicer.util.errorDisplay(f"MuscleQuant failed: {exc}")

    def onCancel(self):
        if self.process is not None and not self.process.finished():
            self.process.cancel()
            self.ui.statusLabel.text = "Cancelled"

    # ----- correction, approval, results --------------------------------------------------------
    def onApplyHuRange(self):
        from MuscleQuantLib.pipeline.postprocess import resolve_hu_range
        from MuscleQuantLib.slicer_bridge import mrml

        if self.segmentationNode is None:
            return
        choice = self.ui.huRangeComboBox.currentText
        summary = mrml.engine_summary(self.segmentationNode) or {}
        name = (summary.get("hu_range") or {}).get("name") if choice == "preset default" else choice
        removed = mrml.apply_hu_range(self.segmentationNode, self.ui.inputVolumeSelector.currentNode(),
                                      resolve_hu_range(name or "alberta"))
        self.ui.statusLabel.text = f"HU range applied: {sum(removed.values())} voxels removed"

    def onApprove(self):
        from MuscleQuantLib.slicer_bridge import mrml, widget_logic
        from MuscleQuantLib.slicer_bridge.casestore import CaseStore

        if self.segmentationNode is None:
            slicer.util.errorDisplay("Segment first.")
            return
        patient = {"age": self.ui.ageSpinBox.value or None, "sex": self.ui.sexComboBox.currentText or None,
                   "height": self.ui.heightSpinBox.value or None, "weight": self.ui.weightSpinBox.value or None}
        try:
            version = widget_logic.approve(CaseStore(self.ui.caseStorePathLineEdit.currentPath),
                                           self.ui.caseIdLineEdit.text, self.ui.approverLineEdit.text,
                                           self.segmentationNode, self.ui.inputVolumeSelector.currentNode(), patient)
        except Exception as exc:
            slicer.util.errorDisplay(f"Approval failed: {exc}")
            return
        self.approvedVersion = version
        table = self.logic.resultsTable()
        mrml.fill_table(table, widget_logic.measurement_rows(version))
        self.ui.resultsTableView.setMRMLTableNode(table)
        self.ui.statusLabel.text = f"Approved as {version}"

    def onExportCsv(self):
        source = getattr(self, "approvedVersion", None)
        if source is None:
            slicer.util.errorDisplay("Approve a segmentation first.")
            return
        target = qt.QFileDialog.getSaveFileName(None, "Export measurements", "measurements.csv", "CSV (*.csv)")
        if target:
            shutil.copyfile(Path(source) / "measurements.csv", target)


    # ----- training on approved cases ----------------------------------------------------------
    def onTrainOnApproved(self):
        from MuscleQuantLib.slicer_bridge import widget_logic

        if not self.logic.ensureDependencies():
            return
        job = widget_logic.ApprovedTraining(store=Path(self.ui.caseStorePathLineEdit.currentPath),
                                            preset=self.currentPreset(), minutes=self.ui.trainMinutesSpinBox.value,
                                            device=self.ui.deviceComboBox.currentText)
        train, self.importCommand, _ = widget_logic.approved_training_commands(job)
        self.startProcess(train, "Training on approved cases…", self.onTrainedOnApproved)

    def onTrainedOnApproved(self, result):
        self.startProcess(self.importCommand, "Adding the new model…", lambda _: self.onRefreshModels())


class MuscleQuantLogic(ScriptedLoadableModuleLogic):
    """Dependency installation (needs Qt dialogs) and MRML helpers; the rest is in slicer_bridge."""

    def ensureDependencies(self, askConfirmation=True):
        from MuscleQuantLib.slicer_bridge import install

        plan = install.plan()
        if not plan.needed:
            return True
        if askConfirmation and not slicer.util.confirmOkCancelDisplay(plan.describe(), "Install Python packages"):
            return False
        if plan.torch:
            import PyTorchUtils  # from the PyTorch extension (EXTENSION_DEPENDS PyTorch)

            if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False,
                                                             torchVersionRequirement=plan.torch) is None:
                return False
        if plan.pip:
            constraints = Path(tempfile.mkdtemp(prefix="musclequant-pip-")) / "constraints.txt"
            constraints.write_text(install.constraints_text(), encoding="utf-8")
            if plan.pip:
                slicer.util.pip_install(install.pip_arguments(plan, constraints))
            for arguments in install.source_build_arguments(plan, constraints):
                slicer.util.pip_install(arguments)
        return not install.plan().needed

    def resultsTable(self):
        table = slicer.mrmlScene.GetFirstNodeByName("MuscleQuant results")
        return table or slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "MuscleQuant results")


class MuscleQuantTest(ScriptedLoadableModuleTest):
    """Runs the real engine on a phantom inside Slicer: phantom → tiny model → segment → approve twice."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SegmentAndApprove()

    def test_SegmentAndApprove(self):
        import numpy as np
        import SimpleITK as sitk

        from MuscleQuantLib.slicer_bridge import mrml, widget_logic
        from MuscleQuantLib.slicer_bridge.casestore import CaseStore
        from MuscleQuantLib.slicer_bridge.process import EngineProcess, musclequant_command

        self.assertTrue(MuscleQuantLogic().ensureDependencies(askConfirmation=False))
        work = Path(tempfile.mkdtemp(prefix="MuscleQuantTest-"))
        self.delayDisplay("Generating a C3 phantom and training a tiny model (about 2 minutes)")
        EngineProcess(musclequant_command("phantom", "--anatomy", "c3", "--n", "4", "--seed", "1", "--in-view",
                                          "always", "--out", work / "phantoms")).start().wait(timeout=600)
        EngineProcess(musclequant_command("train", "--preset", "c3", "--profile", "tiny", "--data",
                                          work / "phantoms", "--out", work / "run", "--max-epochs", "1",
                                          "--device", "cpu")).start().wait(timeout=900)
        image = sorted((work / "phantoms").glob("*_image.nii.gz"))[0]
        volume = slicer.util.loadVolume(str(image))
        k = volume.GetImageData().GetDimensions()[2] // 2
        self.delayDisplay("Segmenting through the widget's code path")
        run = widget_logic.SegmentRun(model=work / "run" / "model", slice_index=k, device="cpu")
        segmentation = widget_logic.segment_blocking(volume, run, work / "segment", timeout=600)
        summary = mrml.engine_summary(segmentation)
        engine = sitk.GetArrayFromImage(sitk.ReadImage(summary["files"]["labels"]))
        merged, _ = mrml.segmentation_to_labelmap(segmentation, volume,
                                                  {lb["name"]: lb["value"] for lb in summary["labels"]})
        self.assertTrue(np.array_equal(merged, engine))
        store = CaseStore(work / "store")
        first = widget_logic.approve(store, "selftest", "Self test", segmentation, volume)
        second = widget_logic.approve(store, "selftest", "Self test", segmentation, volume)
        self.assertEqual([first.name, second.name], ["v001", "v002"])
        self.assertIsNotNone(store.read_provenance(second)["model"]["card_sha256"])
        mrml.read_segmentation(second / "segmentation.seg.nrrd")
        if os.environ.get("MUSCLEQUANT_KEEP_TEST_FILES") is None:
            shutil.rmtree(work, ignore_errors=True)
        self.delayDisplay("MuscleQuant self-test passed")
