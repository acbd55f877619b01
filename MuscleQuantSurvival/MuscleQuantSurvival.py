"""MuscleQuantSurvival Slicer module: cohort survival analysis of approved muscle measurements.

Thin by design: statistics live in ``MuscleQuantSurvivalLib`` and run through ``musclequant cohort``
in a background process (``MuscleQuantLib.slicer_bridge.process``), as does the first-use pip install
(``slicer_bridge.dependencies``); this file collects the choices and shows the PNG figures and CSV tables
the command writes (a QLabel and a table node).

Slicer/Qt/CTK API used, checked against Slicer v5.10.0 and v5.12.3 sources: ``slicer.util.loadUI``/
``childWidgetVariables``/``errorDisplay`` (Base/Python/slicer/util.py); ``qMRMLTableView.setMRMLTableNode``
(Libs/MRML/Widgets/qMRMLTableView.h); ``ctkPathLineEdit.currentPath`` (used by
Applications/SlicerApp/Testing/Python/ScenePerformance.py); ``qt.QPixmap``, ``qt.QTimer``,
``qt.QDesktopServices.openUrl`` and ``qt.QUrl.fromLocalFile`` (Qt 5, as wrapped by PythonQt).
"""

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


class MuscleQuantSurvival(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "MuscleQuant Survival"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["MuscleQuant developers"]
        self.parent.helpText = (
            "Join approved muscle measurements with clinical data and run Kaplan–Meier, log-rank and Cox "
            "analyses, sarcopenia definitions side by side, and export a report."
        )
        self.parent.acknowledgementText = "Statistics by lifelines."


class MuscleQuantSurvivalWidget(ScriptedLoadableModuleWidget):
    """The cohort tab: choices → ``musclequant cohort ...`` → figures and tables. One background run at a
    time (``slicer_bridge.runner``); every signal goes to a slot taking exactly its arguments (PythonQt)."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        self.outDir = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from MuscleQuantLib.slicer_bridge import cohort, settings
        from MuscleQuantLib.slicer_bridge.runner import TaskRunner
        from MuscleQuantLib.slicer_bridge.workfolders import WorkFolders

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MuscleQuantSurvival.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = MuscleQuantSurvivalLogic()
        self.workFolders = WorkFolders(prefix="musclequant-cohort-")
        self.runner = TaskRunner(self.showProgress, slicer.util.errorDisplay, self.updateButtons)
        self.ui.actionComboBox.addItems([a for a in cohort.ACTIONS if a != "validate"])
        self.ui.groupingComboBox.addItems(["", "median:smi_cm2_m2", "tertiles:smi_cm2_m2", "definition:prado_smi"])
        self.ui.clinicalPathLineEdit.currentPathChanged.connect(self.onClinicalChanged)
        settings.restore(self.ui, qt.QSettings(), settings.SURVIVAL)
        self.timer = qt.QTimer()
        self.timer.setInterval(200)
        self.timer.timeout.connect(self.onPoll)
        self.ui.runButton.clicked.connect(lambda checked: self.onRun(self.ui.actionComboBox.currentText))
        self.ui.validateButton.clicked.connect(lambda checked: self.onRun("validate"))
        for button, slot in ((self.ui.cancelButton, self.runner.cancel), (self.ui.useApprovedButton, self.onUseApproved),
                             (self.ui.openReportButton, self.onOpenReport), (self.ui.exportButton, self.onExport)):
            button.clicked.connect(lambda checked, slot=slot: slot())
        for line in (self.ui.clinicalPathLineEdit, self.ui.measurementsPathLineEdit, self.ui.caseStorePathLineEdit,
                     self.ui.outputPathLineEdit):
            line.currentPathChanged.connect(lambda path: settings.save(self.ui, qt.QSettings(), settings.SURVIVAL))
        self.ui.figureComboBox.currentIndexChanged.connect(lambda index: self.showFigure())
        self.ui.tableComboBox.currentIndexChanged.connect(lambda index: self.showTable())
        self.updateButtons()

    def cleanup(self):
        self.timer.stop()
        self.runner.cancel(wait=True, grace_s=1.0)
        self.workFolders.remove_all()

    def updateButtons(self):
        idle = not self.runner.busy
        for button in (self.ui.runButton, self.ui.validateButton, self.ui.useApprovedButton):
            button.enabled = idle  # a second run would orphan the first
        self.ui.cancelButton.enabled = not idle
        self.ui.exportButton.enabled = self.ui.openReportButton.enabled = idle and self.outDir is not None

    def showProgress(self, message, percent, lines):
        from MuscleQuantLib.slicer_bridge.runner import show_progress

        show_progress(self.ui, message, percent, lines)

    def onClinicalChanged(self, path):
        from MuscleQuantLib.slicer_bridge import cohort

        self.ui.endpointComboBox.clear()
        self.ui.endpointComboBox.addItems(["", *cohort.endpoints_from_columns(cohort.csv_columns(path))])

    def onUseApproved(self):
        from MuscleQuantLib.slicer_bridge.casestore import CaseStore

        target = self.workFolders.make() / "approved_measurements.csv"
        try:
            CaseStore(self.ui.caseStorePathLineEdit.currentPath).export_measurements(target)
        except Exception as exc:
            slicer.util.errorDisplay(f"No approved measurements: {exc}")
            return
        self.ui.measurementsPathLineEdit.currentPath = str(target)

    def currentRun(self):
        from MuscleQuantLib.slicer_bridge import cohort

        def items(text):
            return tuple(t.strip() for t in text.split(",") if t.strip())

        out = self.ui.outputPathLineEdit.currentPath or self.workFolders.make()
        measurements = self.ui.measurementsPathLineEdit.currentPath
        return cohort.CohortRun(
            clinical=Path(self.ui.clinicalPathLineEdit.currentPath), measurements=Path(measurements) if measurements else None,
            out=Path(out), endpoint=self.ui.endpointComboBox.currentText, group=self.ui.groupingComboBox.currentText,
            within=self.ui.withinLineEdit.text, covariates=items(self.ui.covariatesLineEdit.text),
            definitions=items(self.ui.definitionsLineEdit.text), exclude_invalid=self.ui.excludeInvalidCheckBox.checked)

    def onRun(self, action):
        if not self.ui.clinicalPathLineEdit.currentPath:
            slicer.util.errorDisplay("Choose the clinical table first.")
            return
        # first use: lifelines & co. install in the background (Run disabled, log shown), then the run starts
        self.logic.whenInstalled(self.startTask, lambda: self.startRun(action))

    def startRun(self, action):
        from MuscleQuantLib.slicer_bridge import cohort, process, settings

        run = self.currentRun()

        def command():
            python = process.engine_python(settings.value(qt.QSettings(), settings.ENGINE_PYTHON))
            return cohort.cohort_command(action, run, python)

        self.startTask(lambda: process.EngineProcess(command()).start(), f"Running {action}…",
                       lambda result: self.onDone(run.out))

    def startTask(self, start, message, onDone, onFail=None):
        if self.runner.start(start, message, onDone, onFail):
            self.timer.start()

    def onPoll(self):
        if not self.runner.poll():
            self.timer.stop()

    def onDone(self, out):
        self.outDir = out
        self.ui.statusLabel.text = f"Done: results in {out}"
        self.updateButtons()
        self.showResults()

    def showResults(self):
        from MuscleQuantLib.slicer_bridge import cohort

        self.ui.figureComboBox.clear()
        for path in cohort.figures(self.outDir):
            self.ui.figureComboBox.addItem(path.name, str(path))
        self.ui.tableComboBox.clear()
        for path in cohort.tables(self.outDir):
            self.ui.tableComboBox.addItem(path.name, str(path))

    def showFigure(self):
        path = self.ui.figureComboBox.currentData
        if path:
            pixmap = qt.QPixmap(path)
            self.ui.figureLabel.setPixmap(pixmap.scaledToWidth(max(200, self.ui.figureLabel.width)))

    def showTable(self):
        path = self.ui.tableComboBox.currentData
        if path:
            self.ui.resultsTableView.setMRMLTableNode(self.logic.tableFromCsv(path))

    def onOpenReport(self):
        from MuscleQuantLib.slicer_bridge import cohort

        report = cohort.report_file(self.outDir) if self.outDir else None
        if report is None:
            slicer.util.errorDisplay("Run the 'report' analysis first.")
            return
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(report)))

    def onExport(self):
        from MuscleQuantLib.slicer_bridge import cohort

        target = qt.QFileDialog.getExistingDirectory(None, "Export cohort results")
        if target:
            try:
                copied = cohort.export_results(self.outDir, target)
            except Exception as exc:
                slicer.util.errorDisplay(f"Export failed: {exc}")
                return
            self.ui.statusLabel.text = f"Exported {len(copied)} files to {target}"


class MuscleQuantSurvivalLogic(ScriptedLoadableModuleLogic):
    """Runs cohort actions to completion (self-test, scripts) and turns their CSVs into table nodes."""

    def installer(self):
        from MuscleQuantLib.slicer_bridge import install

        return install.slicer_installer(
            slicer, lambda text: slicer.util.confirmOkCancelDisplay(text, "Install Python packages"),
            requester="MuscleQuant Survival")

    def ensureDependencies(self, askConfirmation=True):
        """Blocking install of what the cohort statistics lack (lifelines…; no torch), for self-tests and
        scripts: falsy on failure, with the reason in ``message``."""
        from MuscleQuantLib.slicer_bridge import install

        return install.ensure("cohort", self.installer(), ask=askConfirmation)

    def whenInstalled(self, startTask, proceed):
        """The widget's install: the dialog here, pip as a background task (``startTask``), then ``proceed()``."""
        from MuscleQuantLib.slicer_bridge import dependencies

        dependencies.ensure_then("cohort", self.installer(), startTask, proceed, slicer.util.errorDisplay)

    def run(self, action, cohortRun, timeout=600):
        from MuscleQuantLib.slicer_bridge import cohort
        from MuscleQuantLib.slicer_bridge.process import EngineProcess

        return EngineProcess(cohort.cohort_command(action, cohortRun)).start().wait(timeout=timeout)

    def tableFromCsv(self, path):
        from MuscleQuantLib.slicer_bridge import cohort, mrml

        name = f"MuscleQuant {Path(path).stem}"
        table = slicer.mrmlScene.GetFirstNodeByName(name) or slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", name)
        return mrml.fill_table(table, cohort.read_table(path))


class MuscleQuantSurvivalTest(ScriptedLoadableModuleTest):
    """Simulated cohort with a known hazard ratio → Kaplan–Meier and Cox through the real CLI."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_CohortKmAndCox()

    def test_CohortKmAndCox(self):
        from MuscleQuantLib.slicer_bridge import cohort
        from MuscleQuantLib.slicer_bridge.process import EngineProcess, musclequant_command

        outcome = MuscleQuantSurvivalLogic().ensureDependencies(askConfirmation=False)
        self.assertTrue(outcome, outcome.message)
        work = Path(tempfile.mkdtemp(prefix="MuscleQuantSurvivalTest-"))
        try:
            self.delayDisplay("Simulating a cohort")
            EngineProcess(musclequant_command("phantom", "--anatomy", "l3", "--cohort", "120", "--no-images", "--seed", "1",
                                              "--out", work / "cohort")).start().wait(timeout=300)
            logic = MuscleQuantSurvivalLogic()
            run = cohort.CohortRun(clinical=work / "cohort" / "clinical.csv",
                                   measurements=work / "cohort" / "measurements.csv", out=work / "km",
                                   endpoint="OS", group="median:smi_cm2_m2")
            self.delayDisplay("Kaplan–Meier")
            logic.run("km", run)
            self.assertTrue(cohort.figures(work / "km"))
            cox = cohort.CohortRun(clinical=run.clinical, measurements=run.measurements, out=work / "cox", endpoint="OS",
                                   covariates=("smi_cm2_m2", "age"))
            logic.run("cox", cox)
            table = logic.tableFromCsv(cohort.tables(work / "cox")[0])
            self.assertGreater(table.GetNumberOfRows(), 0)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.delayDisplay("MuscleQuantSurvival self-test passed")
