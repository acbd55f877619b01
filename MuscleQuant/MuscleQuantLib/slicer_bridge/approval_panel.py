"""The MuscleQuant widget's approval and training slots, kept out of the module file: Approve (the MRML
part on the GUI thread, hashing and measuring in a worker thread), the measurements table, and Train on
approved cases (first-use install, then ``train`` and ``models import`` as background processes). All work
goes through the widget's one-task runner, so no second task starts while one runs.

Signals connect to slots taking exactly the signal's arguments (PythonQt fills defaulted parameters too):
``clicked(bool)`` goes to a lambda that drops it.
"""

from __future__ import annotations

from typing import Any

from . import mrml, widget_logic
from .background import ThreadTask
from .casestore import CaseStore


class ApprovalPanel:
    """``widget``: the MuscleQuantWidget (``ui``, ``logic``, ``segmentation``, ``currentPreset``, ``startTask``,
    ``startCommand``, ``onRefreshModels``, ``updateModelCombo``); ``settings`` is a ``qt.QSettings`` factory
    (this package never imports Qt)."""

    def __init__(self, widget: Any, settings: Any):
        self.widget, self.ui, self.settings = widget, widget.ui, settings
        self.approvedVersion: Any = None
        for button, slot in ((self.ui.approveButton, self.onApprove), (self.ui.trainApprovedButton, self.onTrain)):
            button.clicked.connect(lambda checked, slot=slot: slot())

    def onApprove(self) -> None:
        import slicer

        widget, ui = self.widget, self.ui
        node = widget.segmentation()
        volume = mrml.source_volume(node) or ui.inputVolumeSelector.currentNode()
        patient = {"age": ui.ageSpinBox.value, "sex": ui.sexComboBox.currentText, "height": ui.heightSpinBox.value,
                   "weight": ui.weightSpinBox.value}
        try:
            finish = widget_logic.approval_task(CaseStore(ui.caseStorePathLineEdit.currentPath), ui.caseIdLineEdit.text,
                                                ui.approverLineEdit.text, node, volume, patient,
                                                preset=widget.currentPreset())
        except Exception as exc:
            slicer.util.errorDisplay(f"Approval failed: {exc}")
            return
        widget.startTask(lambda: ThreadTask(finish, "Approving…").start(), "Approving…", self.onApproved)

    def onApproved(self, version: Any) -> None:
        self.approvedVersion = version
        table = mrml.fill_table(self.widget.logic.resultsTable(), widget_logic.measurement_rows(version))
        self.ui.resultsTableView.setMRMLTableNode(table)
        self.ui.statusLabel.text = f"Approved as {version}"
        self.widget.updateModelCombo()

    def onTrain(self) -> None:
        """Install what training needs first (in the background when anything is missing), then train."""
        self.widget.logic.whenInstalled(self.widget.startTask, self.train)

    def train(self) -> None:
        widget, ui = self.widget, self.ui
        job = widget_logic.approved_training_job(ui.caseStorePathLineEdit.currentPath, widget.currentPreset(),
                                                 ui.trainMinutesSpinBox.value, ui.deviceComboBox.currentText,
                                                 self.settings())
        widget.startCommand(lambda python: widget_logic.approved_training_commands(job, python)[0],
                            "Training on approved cases…", lambda result: widget.startCommand(
                                lambda python: widget_logic.approved_training_commands(job, python)[1],
                                "Adding the new model…", lambda _: widget.onRefreshModels()))
