"""The Slicer side of the batch review loop (issue 15 item 8): open a ``musclequant batch`` output folder,
step through its measured cases flagged first (:func:`..batch.review.review_queue`), show each case's
image with its automatic label map as the output segmentation (flags included), and approve a correction
through :func:`..batch.review.merge_approved`, which measures it, writes ``review/vN`` and rebuilds
``measurements.csv`` with provenance. The automatic label map is only read, never written.

Split like :func:`.widget_logic.approval_task`: what touches MRML runs on the GUI thread and is cheap
(array copies); reading the source series (DICOM decoding), hashing and measuring run in the functions
returned here, which touch no MRML and run in a :class:`.background.ThreadTask`.

Slicer API used beyond :mod:`.mrml`'s (same signatures in Slicer v5.10/v5.12 and the slicer-core 5.12.4 wheel the
tests run on): ``slicer.util.addVolumeFromArray(narray, ijkToRAS, name)`` (Base/Python/slicer/util.py),
``vtkMRMLScene.IsNodePresent``/``RemoveNode``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from . import mrml

CASE_ATTRIBUTE = "MuscleQuant.BatchCase"  # {"out", "case_id"} on the nodes of a case under review
FLAG_LINES = 3  # flags named in the case line; the full list is in the highlighted flags panel


@dataclasses.dataclass
class ReviewSession:
    """A batch folder's review queue and the case shown (``index``)."""

    out: Path
    queue: list[dict[str, Any]]
    index: int = 0

    @classmethod
    def load(cls, folder: str | Path) -> ReviewSession:
        """Read the queue (flagged cases first); InputError for a folder that is no batch output or holds
        no measured case. No MRML: runs in a worker thread."""
        from ..batch.review import review_queue

        if not str(folder).strip():
            raise InputError("choose a batch output folder first", field="batch folder")
        out = Path(folder)
        if not (out / "cases").is_dir():
            raise InputError("not a 'musclequant batch' output folder (no cases/ folder)", path=out)
        queue = review_queue(out)
        if not queue:
            raise InputError("no measured case to review (every case failed or was excluded)", path=out)
        return cls(out, queue)

    def current(self) -> dict[str, Any]:
        return self.queue[self.index]

    def move(self, step: int) -> bool:
        """Previous (-1) / Next (+1); False at either end (the case stays)."""
        target = self.index + step
        if not 0 <= target < len(self.queue):
            return False
        self.index = target
        return True

    def approved(self, approval: dict[str, Any]) -> None:
        """Record an approval of the current case (its line then says which version)."""
        self.current().update(review_status="approved", review_version=approval["version"],
                              dice_auto_vs_approved=approval.get("dice_auto_vs_approved"))

    def case_line(self) -> tuple[str, bool]:
        """(the case label's text, whether the case is flagged: the label is highlighted then)."""
        item = self.current()
        flags = [f.strip() for f in str(item.get("flags") or "").split(";") if f.strip()]
        state = (f"approved v{item['review_version']}" if item.get("review_version")
                 else item.get("review_status", "automatic"))
        head = f"Case {self.index + 1} of {len(self.queue)}: {item.get('patient_id') or ''} ({item['case_id']}), {state}"
        if not item["flagged"]:
            return f"{head}\nNo plausibility flags", False
        named = "; ".join(flags[:FLAG_LINES]) + (f"; … {len(flags) - FLAG_LINES} more" if len(flags) > FLAG_LINES else "")
        return f"{head}\nFlagged, {len(flags)} flag{'s' if len(flags) != 1 else ''}: {named}", True


@dataclasses.dataclass
class CaseData:
    """What :func:`show_case` needs, read off the GUI thread."""

    out: Path
    item: dict[str, Any]
    voxels: np.ndarray  # (z, y, x) of the measured series, exactly as the batch read it
    ijk_to_ras: np.ndarray
    summary: dict[str, Any]  # the case's segmentation.json: labels, slice, plausibility flags
    labels: Path  # the automatic label map (read only)
    shown: Path  # what the reviewer starts from: the latest approved version, else the automatic map
    saved: np.ndarray  # its voxels (z, y, x): what "no unapproved correction" compares against


def read_case(out: str | Path, item: dict[str, Any]) -> CaseData:
    """Read a queued case's source series with the reader the batch used (so the voxels lie on the grid of
    its label map and of :func:`merge_approved`'s measurement) and its segmentation summary. No MRML."""
    import SimpleITK as sitk

    from ..batch.discover import SeriesInfo
    from ..batch.reader import read_series
    from ..batch.review import latest_approval
    from ..batch.store import CaseStore

    state = CaseStore(Path(out)).read(item["case_id"])
    if state is None or state.get("status") != "done":
        raise InputError("the case is no longer a measured case of the batch folder", path=out, field=item["case_id"])
    source = state["source_series"]
    image = read_series(SeriesInfo(key=source["key"], kind=source["kind"], patient_id="", study_uid="",
                                   files=source["files"], thickness_mm=source.get("thickness_mm"))).image
    folder = CaseStore(Path(out)).folder(item["case_id"])
    summary = json.loads((folder / state["outputs"]["segmentation"]).read_text(encoding="utf-8"))
    labels = folder / state["outputs"]["labels"]
    approval = latest_approval(folder)
    shown = folder / approval["labels"] if approval else labels
    return CaseData(Path(out), item, sitk.GetArrayFromImage(image), ijk_to_ras(image), summary, labels, shown,
                    sitk.GetArrayFromImage(sitk.ReadImage(str(shown))))


def ijk_to_ras(image: Any) -> np.ndarray:
    """A SimpleITK image's 4×4 IJK→RAS matrix (ITK is LPS: the first two axes flip sign)."""
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = mrml.RAS_TO_LPS @ direction @ np.diag(image.GetSpacing())
    matrix[:3, 3] = mrml.RAS_TO_LPS @ np.array(image.GetOrigin(), dtype=float)
    return matrix


def show_case(data: CaseData) -> tuple[Any, Any]:
    """GUI thread: the case's volume and its result as a segmentation node (the latest approved version,
    else the automatic one; one segment per label, the summary with its plausibility flags on the node);
    returns (volume, segmentation). The node's AI label map stays the automatic one (Dice is against it)."""
    import slicer

    item = data.item
    name = str(item.get("patient_id") or item["case_id"])
    volume = slicer.util.addVolumeFromArray(data.voxels, data.ijk_to_ras, name)
    segmentation = mrml.import_engine_result(data.shown, data.summary, volume, name=f"{name} muscle (batch)")
    segmentation.SetAttribute(mrml.AI_LABELS_ATTRIBUTE, str(data.labels))
    tag = json.dumps({"out": str(data.out), "case_id": item["case_id"]})
    for node in (volume, segmentation):
        node.SetAttribute(CASE_ATTRIBUTE, tag)
    return volume, segmentation


def case_of(segmentation_node: Any) -> dict[str, str] | None:
    """{"out", "case_id"} of a segmentation shown by :func:`show_case` (None for any other)."""
    text = segmentation_node.GetAttribute(CASE_ATTRIBUTE) if segmentation_node is not None else None
    return json.loads(text) if text else None


def remove_nodes(nodes: tuple[Any, ...]) -> None:
    """Take a reviewed case's nodes out of the scene (one case in memory at a time)."""
    import slicer

    for node in nodes:
        if node is not None and slicer.mrmlScene.IsNodePresent(node):
            slicer.mrmlScene.RemoveNode(node)


def labels_of(segmentation_node: Any) -> np.ndarray:
    """GUI thread: the segmentation as the engine's label map (its label values) on its volume's grid."""
    volume = mrml.source_volume(segmentation_node)
    if volume is None:
        raise InputError("the case's volume was removed from the scene", field="volume")
    summary = mrml.engine_summary(segmentation_node) or {}
    value_by_name = {label["name"]: int(label["value"]) for label in summary.get("labels", [])}
    return mrml.segmentation_to_labelmap(segmentation_node, volume, value_by_name)[0]


@dataclasses.dataclass
class ApprovalJob:
    """An approval split for a worker thread: ``labels`` (taken from MRML already) and ``finish``, which
    touches no MRML and returns the approval of :func:`merge_approved`."""

    labels: np.ndarray
    finish: Callable[[], dict[str, Any]]

    def __call__(self) -> dict[str, Any]:
        return self.finish()


def unapproved_edits(segmentation_node: Any, saved: np.ndarray | None) -> bool:
    """Whether the case's segmentation differs from what is saved (the automatic map, or the version
    approved last): leaving the case then asks first. False once the nodes left the scene."""
    import slicer

    if segmentation_node is None or saved is None or not slicer.mrmlScene.IsNodePresent(segmentation_node) \
            or mrml.source_volume(segmentation_node) is None:
        return False
    return not np.array_equal(labels_of(segmentation_node), saved)


def approval_task(segmentation_node: Any, approver: str, note: str = "") -> ApprovalJob:
    """Approve the reviewed segmentation of a batch case. Now, on the GUI thread: the checks and the label
    map (segments → engine label values). The job touches no MRML: it writes the label map on the
    automatic map's grid to a staging file and calls :func:`merge_approved` (measure, ``review/vN``, table
    with provenance); it returns the approval."""
    case = case_of(segmentation_node)
    if case is None:
        raise InputError("the selected segmentation is not a batch case under review", field="segmentation")
    if not approver.strip():
        raise InputError("an approval needs the approver's name (Approved by)", field="approver")
    approved = labels_of(segmentation_node)
    automatic = segmentation_node.GetAttribute(mrml.AI_LABELS_ATTRIBUTE)

    def finish() -> dict[str, Any]:
        import SimpleITK as sitk

        from ..batch.review import merge_approved
        from ..imageio import write_labelmap

        staging = Path(tempfile.mkdtemp(prefix="musclequant-batch-approval-"))
        try:
            reference = sitk.ReadImage(automatic)  # the grid the batch measured on; only read
            path = write_labelmap(approved, reference, staging / "approved.nii.gz")
            return merge_approved(Path(case["out"]), case["case_id"], path, approver, note)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return ApprovalJob(approved, finish)


def enabled_widgets(busy: bool, session: ReviewSession | None) -> dict[str, bool]:
    """The Batch review buttons: nothing that starts work while a task runs; stepping within the queue."""
    idle, open_ = not busy, session is not None
    return {"openBatchButton": idle, "previousCaseButton": idle and open_ and session.index > 0,
            "nextCaseButton": idle and open_ and session.index < len(session.queue) - 1,
            "approveBatchCaseButton": idle and open_}
