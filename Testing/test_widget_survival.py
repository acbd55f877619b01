"""The MuscleQuantSurvival module's widget under PythonQt's rules (Testing/slicer_harness): load the
tables → run → figures and table shown → export, with the real ``musclequant cohort`` in the background."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from slicer_harness import Harness, qtcore
from slicer_wiring import REPO, engine_python

pytestmark = pytest.mark.slicer


@pytest.fixture(scope="module")
def cohort_tables(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    subprocess.run([engine_python(), "-m", "MuscleQuantLib", "phantom", "--anatomy", "l3", "--cohort", "120",
                    "--no-images", "--seed", "1", "--out", str(out), "--progress", "none"],
                   check=True, cwd=REPO, timeout=300)
    return out


@pytest.fixture
def harness(monkeypatch, tmp_path):
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    h = Harness(monkeypatch)
    yield h
    h.close()


def test_story_tables_run_figures_table_export(harness, cohort_tables, tmp_path):
    widget = harness.open_module("MuscleQuantSurvival")
    ui = widget.ui
    ui.clinicalPathLineEdit.currentPath = str(cohort_tables / "clinical.csv")
    ui.measurementsPathLineEdit.currentPath = str(cohort_tables / "measurements.csv")
    assert ui.endpointComboBox.findText("OS") >= 0  # endpoints read from the clinical table's columns
    ui.endpointComboBox.choose("OS")
    ui.groupingComboBox.choose("median:smi_cm2_m2")
    ui.actionComboBox.choose("km")
    assert not ui.exportButton.enabled
    ui.runButton.click()
    assert not ui.validateButton.enabled and not ui.runButton.enabled  # D6: no second run meanwhile
    harness.pump(timeout=300)
    assert harness.dialogs_of("errorDisplay") == []
    assert ui.figureComboBox.count > 0 and ui.tableComboBox.count > 0
    assert not ui.figureLabel.pixmap().isNull()
    table = ui.resultsTableView.mrmlTableNode()
    assert table is not None and table.GetNumberOfRows() > 0
    assert ui.logTextEdit.toPlainText()  # D18: the engine's log lines are shown
    qtcore.QFileDialog.answers.append(str(tmp_path / "export"))
    ui.exportButton.click()
    exported = sorted(p.name for p in (tmp_path / "export").rglob("*.png"))
    assert exported == sorted(Path(ui.figureComboBox.itemData(i)).name for i in range(ui.figureComboBox.count))
    qtcore.QFileDialog.answers.append(str(tmp_path / "export"))
    ui.exportButton.click()  # a second export into the same folder replaces nothing
    assert any("already in the export folder" in text for text in harness.dialogs_of("errorDisplay"))


def test_validate_cannot_orphan_a_running_analysis(harness, cohort_tables):
    """D6: Validate stays disabled while an analysis runs (it used to replace the running process)."""
    widget = harness.open_module("MuscleQuantSurvival")
    ui = widget.ui
    ui.clinicalPathLineEdit.currentPath = str(cohort_tables / "clinical.csv")
    ui.measurementsPathLineEdit.currentPath = str(cohort_tables / "measurements.csv")
    ui.endpointComboBox.choose("OS")
    ui.actionComboBox.choose("cox")
    ui.covariatesLineEdit.text = "smi_cm2_m2,age"
    ui.runButton.click()
    task = widget.runner.task if hasattr(widget, "runner") else widget.process
    ui.validateButton.click()
    assert (widget.runner.task if hasattr(widget, "runner") else widget.process) is task
    harness.pump(timeout=300)
    assert harness.dialogs_of("errorDisplay") == [] and ui.tableComboBox.count > 0


def test_temp_folders_removed_at_unload_and_settings_kept(monkeypatch, tmp_path, cohort_tables):
    """D16: the run's temporary output folder goes at unload; D18: the chosen tables are remembered."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    stored: dict = {}
    harness = Harness(monkeypatch, settings=stored)
    widget = harness.open_module("MuscleQuantSurvival")
    widget.ui.clinicalPathLineEdit.currentPath = str(cohort_tables / "clinical.csv")
    widget.ui.measurementsPathLineEdit.currentPath = str(cohort_tables / "measurements.csv")
    widget.ui.runButton.click()  # its output goes to a temporary folder (no output folder chosen)
    harness.pump(timeout=300)
    assert [p for p in root.iterdir() if p.name.startswith("musclequant")]
    harness.close()
    assert not [p for p in root.iterdir() if p.name.startswith("musclequant")]
    again = Harness(monkeypatch, settings=stored)
    widget = again.open_module("MuscleQuantSurvival")
    assert widget.ui.clinicalPathLineEdit.currentPath == str(cohort_tables / "clinical.csv")
    assert widget.ui.endpointComboBox.findText("OS") >= 0
    again.close()


def test_first_use_install_runs_in_the_background_then_the_analysis(harness, cohort_tables, tmp_path):
    """D12/D15: lifelines missing → one confirmation, then pip as a background process: Run and Validate stay
    disabled and the event loop keeps running (pip's lines reach the log); after pip the analysis runs by
    itself and its figures are shown."""
    from slicer_harness import FakePip

    pip = FakePip(harness.monkeypatch, tmp_path / "pip")
    widget = harness.open_module("MuscleQuantSurvival")
    ui = widget.ui
    ui.clinicalPathLineEdit.currentPath = str(cohort_tables / "clinical.csv")
    ui.measurementsPathLineEdit.currentPath = str(cohort_tables / "measurements.csv")
    ui.endpointComboBox.choose("OS")
    ui.groupingComboBox.choose("median:smi_cm2_m2")
    ui.actionComboBox.choose("km")
    ui.runButton.click()
    assert widget.runner.busy, "the install must not run (and finish) inside the click handler"
    assert not ui.runButton.enabled and not ui.validateButton.enabled and ui.cancelButton.enabled
    harness.pump(until=lambda: "Collecting lifelines" in ui.logTextEdit.toPlainText(), timeout=60)
    assert widget.runner.busy and ui.figureComboBox.count == 0
    pip.release()
    harness.pump(timeout=300)
    assert harness.dialogs_of("errorDisplay") == [] and len(harness.dialogs_of("confirmOkCancelDisplay")) == 1
    assert ui.figureComboBox.count > 0 and ui.runButton.enabled
    (command, constraints), = pip.commands
    assert any(r.startswith("lifelines") for r in command) and "numpy==" in constraints
