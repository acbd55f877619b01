"""The MuscleQuant widget's "Batch review" section: its slots, kept out of the module file. Open folder,
Previous/Next, Approve case; all work goes through the widget's one-task runner (a worker thread for
reading the queue, the case's series and the approval's merge), so the GUI never blocks and no second
task starts while one runs. The decisions are in :mod:`.batch_review`.

Signals connect to slots taking exactly the signal's arguments (PythonQt fills defaulted parameters too):
``clicked(bool)`` goes to a lambda that drops it.
"""

from __future__ import annotations

from typing import Any

from . import batch_review, mrml
from .background import ThreadTask


class BatchReviewPanel:
    """``widget``: the MuscleQuantWidget (``ui``, ``startTask``, ``onOutputChanged``, ``updateButtons``)."""

    def __init__(self, widget: Any):
        self.widget, self.ui = widget, widget.ui
        self.session: batch_review.ReviewSession | None = None
        self.nodes: tuple[Any, ...] = ()
        self.saved = self.pending = None  # the case's label map as saved (automatic or approved last)
        for button, slot in ((self.ui.openBatchButton, self.onOpen),
                             (self.ui.previousCaseButton, lambda: self.onStep(-1)),
                             (self.ui.nextCaseButton, lambda: self.onStep(+1)),
                             (self.ui.approveBatchCaseButton, self.onApprove)):
            button.clicked.connect(lambda checked, slot=slot: slot())

    def updateButtons(self, busy: bool) -> None:
        for name, enabled in batch_review.enabled_widgets(busy, self.session).items():
            getattr(self.ui, name).enabled = enabled

    def leave(self) -> bool:
        """Whether the shown case may be left: yes when its segmentation is as saved, else the user decides."""
        import slicer

        if not batch_review.unapproved_edits(self.nodes[1] if self.nodes else None, self.saved):
            return True
        return bool(slicer.util.confirmOkCancelDisplay(
            "This case has corrections that are not approved yet. Leave it and lose them? (Cancel stays on the "
            "case; Approve case saves them.)"))

    def onOpen(self) -> None:
        if not self.leave():
            return
        folder = self.ui.batchFolderPathLineEdit.currentPath
        self.widget.startTask(lambda: ThreadTask(lambda: batch_review.ReviewSession.load(folder)).start(),
                              "Opening the batch folder…", self.onOpened)

    def onOpened(self, session: batch_review.ReviewSession) -> None:
        self.session = session
        self.show()

    def onStep(self, step: int) -> None:
        """Previous (-1) / Next (+1), after asking when the shown case has unapproved corrections."""
        if self.session is not None and 0 <= self.session.index + step < len(self.session.queue) and self.leave():
            self.session.move(step)
            self.show()

    def show(self) -> None:
        out, item = self.session.out, self.session.current()
        self.showLine()
        self.widget.startTask(lambda: ThreadTask(lambda: batch_review.read_case(out, item)).start(),
                              "Loading the case…", self.onCaseRead)

    def onCaseRead(self, data: batch_review.CaseData) -> None:
        import slicer

        previous, ui = self.nodes, self.ui
        volume, segmentation = self.nodes = batch_review.show_case(data)
        self.saved = data.saved
        ui.inputVolumeSelector.setCurrentNode(volume)
        ui.outputSegmentationSelector.setCurrentNode(segmentation)
        self.widget.onOutputChanged(segmentation)  # the case's flags in the highlighted flags panel
        batch_review.remove_nodes(previous)
        slicer.util.setSliceViewerLayers(background=volume)
        index = data.item.get("slice_index")
        if index is not None and index == index:  # NaN for 3D presets
            slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, *mrml.slice_center_ras(volume, int(index)))
        self.showLine()

    def showLine(self) -> None:
        text, flagged = self.session.case_line()
        self.ui.batchCaseLabel.text = text
        self.ui.batchCaseLabel.styleSheet = "background-color: #fff3b0; color: #7a4a00; padding: 4px;" if flagged else ""
        self.widget.updateButtons()

    def onApprove(self) -> None:
        import slicer

        try:
            job = batch_review.approval_task(self.nodes[1] if self.nodes else None, self.ui.approverLineEdit.text)
        except Exception as exc:
            slicer.util.errorDisplay(f"Approval failed: {exc}")
            return
        self.pending = job.labels
        self.widget.startTask(lambda: ThreadTask(job).start(), "Approving the batch case…", self.onApproved)

    def onApproved(self, approval: dict[str, Any]) -> None:
        self.session.approved(approval)
        self.saved = self.pending
        self.showLine()
        dice = approval.get("dice_auto_vs_approved")
        self.ui.statusLabel.text = (f"Approved as version {approval['version']} (Dice automatic vs approved "
                                    f"{dice if dice is not None else 'n/a'}); measurements.csv updated")
