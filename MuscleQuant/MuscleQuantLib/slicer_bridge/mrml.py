"""MRML adapter: volume node → engine input, engine output → segmentation node, segmentation → label map.

Geometry is never approximated: the engine reads exactly what Slicer's own volume storage node writes
(the path the Slicer module uses), and results come back through ``slicer.util`` on the volume's own
grid (IJK→RAS), so non-standard and oblique orientations survive the round trip. Slicer is RAS, the
engine (ITK) is LPS; the only conversion is the sign flip of the first two axes.

Slicer APIs used (checked in Slicer v5.10.0 and v5.12.3 sources): ``vtkMRMLVolumeArchetypeStorageNode``
and ``vtkMRMLSegmentationStorageNode`` ``WriteData``/``ReadData`` (Libs/MRML/Core), ``vtkSegment``
``SetName``/``SetColor``/``SetTag``/``SetLabelValue`` (Libs/vtkSegmentationCore/vtkSegment.h),
``vtkMRMLSegmentationNode.SetReferenceImageGeometryParameterFromVolumeNode`` and
``vtkMRMLSubjectHierarchyNode`` ``GetItemByDataNode``/``CreateItem``/``SetItemParent``/``GetItemUID``
(Libs/MRML/Core), ``slicer.util.arrayFromVolume``/``updateSegmentBinaryLabelmapFromArray``/
``arrayFromSegmentBinaryLabelmap`` (Base/Python/slicer/util.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

TERMINOLOGY_TAG = "TerminologyEntry"  # vtkSegment tag read by Slicer's terminology widgets and DICOM SEG export
SUMMARY_ATTRIBUTE = "MuscleQuant.Summary"  # engine summary JSON kept on the segmentation node
AI_LABELS_ATTRIBUTE = "MuscleQuant.AILabelsFile"  # the engine's label map, for Dice at approval
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
TOLERANCE = 1e-4


def ijk_to_ras(volume_node: Any) -> np.ndarray:
    """The volume's 4×4 IJK→RAS matrix as numpy."""
    import slicer
    import vtk

    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return np.array(slicer.util.arrayFromVTKMatrix(matrix))


def volume_geometry(volume_node: Any) -> dict[str, Any]:
    """Size, spacing, LPS origin and LPS direction (row-major, ITK convention) of a volume node."""
    matrix = ijk_to_ras(volume_node)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    direction = RAS_TO_LPS @ (matrix[:3, :3] / spacing)
    dims = volume_node.GetImageData().GetDimensions()
    return {"size": [int(d) for d in dims], "spacing": spacing.tolist(),
            "origin": (RAS_TO_LPS @ matrix[:3, 3]).tolist(), "direction": direction.flatten().tolist()}


def volume_to_sitk(volume_node: Any) -> Any:
    """The volume as a SimpleITK image with its exact geometry (voxels copied)."""
    import SimpleITK as sitk
    import slicer

    geometry = volume_geometry(volume_node)
    image = sitk.GetImageFromArray(np.array(slicer.util.arrayFromVolume(volume_node)))
    image.SetSpacing(geometry["spacing"])
    image.SetOrigin(geometry["origin"])
    image.SetDirection(geometry["direction"])
    return image


def same_geometry(volume_node: Any, image: Any, tolerance: float = TOLERANCE) -> bool:
    """True when a SimpleITK image lies on exactly the volume node's grid."""
    geometry = volume_geometry(volume_node)
    return (list(image.GetSize()) == geometry["size"]
            and np.allclose(image.GetSpacing(), geometry["spacing"], atol=tolerance)
            and np.allclose(image.GetOrigin(), geometry["origin"], atol=tolerance)
            and np.allclose(image.GetDirection(), geometry["direction"], atol=tolerance))


def write_volume_for_engine(volume_node: Any, path: str | Path) -> Path:
    """Write the volume with Slicer's own NRRD writer: the engine's input, geometry as Slicer knows it."""
    import slicer

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    try:
        storage.SetFileName(str(path))
        storage.UseCompressionOff()  # speed: the file is temporary
        if not storage.WriteData(volume_node):
            raise InputError("Slicer could not write the volume for the engine", path=path)
    finally:
        slicer.mrmlScene.RemoveNode(storage)
    return path


def terminology_entry(label: dict[str, Any]) -> str | None:
    """The ``TerminologyEntry`` string of an engine label (the verified serializer; None when unknown)."""
    from ..presets.terminology import slicer_terminology_string

    try:
        return slicer_terminology_string(label["name"])
    except KeyError:
        return None


def import_engine_result(labels_path: str | Path, summary: dict[str, Any], volume_node: Any,
                         segmentation_node: Any = None, name: str | None = None) -> Any:
    """Engine label map + summary → segmentation node on the volume's geometry, one segment per label
    (empty ones too, so they can be painted), with name, colour, label value and terminology.

    The label map is imported in one call (``ImportLabelmapToSegmentationNode`` with the segment IDs,
    label value v → ID v-1): one temporary labelmap node and one shared labelmap layer, instead of a
    full-size temporary labelmap per label (29 for the thigh)."""
    import SimpleITK as sitk
    import slicer
    import vtk

    labels_image = sitk.ReadImage(str(labels_path))
    if not same_geometry(volume_node, labels_image):
        raise InputError("engine label map is not on the volume's grid", path=labels_path)
    labels = sitk.GetArrayFromImage(labels_image)
    scene = slicer.mrmlScene
    if segmentation_node is None:
        segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                                    name or f"{volume_node.GetName()} muscle")
        segmentation_node.CreateDefaultDisplayNodes()
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    segmentation = segmentation_node.GetSegmentation()
    segmentation.RemoveAllSegments()
    by_value = {int(label["value"]): label for label in summary["labels"]}
    ids = vtk.vtkStringArray()
    for value in range(1, max(by_value, default=0) + 1):
        label = by_value.get(value)
        if label is None:
            ids.InsertNextValue("")
            continue
        segment = slicer.vtkSegment()
        segment.SetName(label["name"])
        segment.SetColor(*(c / 255.0 for c in label["color"]))
        segment.SetLabelValue(value)
        entry = terminology_entry(label)
        if entry:
            segment.SetTag(TERMINOLOGY_TAG, entry)
        segmentation.AddSegment(segment, label["name"])
        ids.InsertNextValue(label["name"])
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    try:
        slicer.util.updateVolumeFromArray(labelmap, np.where(np.isin(labels, list(by_value)), labels, 0)
                                          .astype(np.uint16))
        labelmap.SetIJKToRASMatrix(_vtk_matrix(ijk_to_ras(volume_node)))
        if not slicer.modules.segmentations.logic().ImportLabelmapToSegmentationNode(labelmap, segmentation_node, ids):
            raise InputError("Slicer could not import the engine label map", path=labels_path)
    finally:
        scene.RemoveNode(labelmap)
    segmentation_node.SetAttribute(SUMMARY_ATTRIBUTE, json.dumps(summary, default=str))
    segmentation_node.SetAttribute(AI_LABELS_ATTRIBUTE, str(labels_path))
    set_source_volume(segmentation_node, volume_node)
    segmentation_node.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())
    place_beside(segmentation_node, volume_node)
    return segmentation_node


def _vtk_matrix(array: np.ndarray) -> Any:
    import vtk

    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def segment_editor_node(tag: str) -> Any:
    """The module's own singleton segment editor parameter node (as Segment Editor makes its own)."""
    import slicer

    node = slicer.mrmlScene.GetSingletonNode(tag, "vtkMRMLSegmentEditorNode")
    if node is None:
        node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
        node.UnRegister(None)
        node.SetSingletonTag(tag)
        node = slicer.mrmlScene.AddNode(node)
    return node


SOURCE_VOLUME_ROLE = "MuscleQuantSourceVolume"  # node reference: the volume a segmentation was made on


def set_source_volume(segmentation_node: Any, volume_node: Any) -> None:
    """Remember which volume the segmentation belongs to (Apply HU range, Approve and "Use current slice"
    use it, whatever volume is selected later)."""
    segmentation_node.SetNodeReferenceID(SOURCE_VOLUME_ROLE, volume_node.GetID() if volume_node else None)


def source_volume(segmentation_node: Any) -> Any:
    """The volume a segmentation was made on (None when unknown or removed from the scene)."""
    return segmentation_node.GetNodeReference(SOURCE_VOLUME_ROLE) if segmentation_node is not None else None


def segmentations_of(volume_node: Any) -> list[Any]:
    """Segmentation nodes of the scene made on ``volume_node``, oldest first."""
    import slicer

    scene = slicer.mrmlScene
    nodes = [scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
             for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"))]
    return [n for n in nodes if volume_node is not None and source_volume(n) is not None
            and source_volume(n).GetID() == volume_node.GetID()]


def add_empty_segments(segmentation_node: Any, volume_node: Any, labels: list[dict[str, Any]]) -> list[str]:
    """Empty segments named, coloured and tagged like the engine's labels (``{"name", "value", "color"}``),
    for drawing an outline by hand; existing segments of the same name are kept. Returns the added IDs."""
    import slicer

    if segmentation_node.GetSegmentation().GetNumberOfSegments() == 0:
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    set_source_volume(segmentation_node, volume_node)
    segmentation = segmentation_node.GetSegmentation()
    added = []
    for label in labels:
        if segmentation.GetSegment(label["name"]) is not None:
            continue
        segment = slicer.vtkSegment()
        segment.SetName(label["name"])
        segment.SetColor(*(c / 255.0 for c in label["color"]))
        segment.SetLabelValue(int(label["value"]))
        entry = terminology_entry(label)
        if entry:
            segment.SetTag(TERMINOLOGY_TAG, entry)
        segmentation.AddSegment(segment, label["name"])
        added.append(label["name"])
    return added


def engine_summary(segmentation_node: Any) -> dict[str, Any] | None:
    """The engine summary stored on a segmentation node by :func:`import_engine_result`."""
    text = segmentation_node.GetAttribute(SUMMARY_ATTRIBUTE)
    return json.loads(text) if text else None


def segment_ids(segmentation_node: Any) -> list[str]:
    segmentation = segmentation_node.GetSegmentation()
    return [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]


def segmentation_to_labelmap(segmentation_node: Any, volume_node: Any,
                             value_by_name: dict[str, int] | None = None) -> tuple[np.ndarray, dict[int, str]]:
    """Every segment merged into one label map on the volume's grid (z, y, x); names keep the engine's
    values, new segments get the next free ones; where segments overlap the later one wins."""
    import slicer

    dims = volume_node.GetImageData().GetDimensions()
    labels = np.zeros(tuple(reversed(dims)), dtype=np.uint16)
    values = dict(value_by_name or {})
    names: dict[int, str] = {}
    for segment_id in segment_ids(segmentation_node):
        name = segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
        value = values.get(name) or max([0, *values.values(), *names]) + 1
        values[name] = value
        names[value] = name
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation_node, segment_id, volume_node)
        labels[mask > 0] = value
    return labels, names


def apply_hu_range(segmentation_node: Any, volume_node: Any, window: tuple[float, float] | None,
                   only: Collection[str] | None = None) -> dict[str, int]:
    """Refine segments to the HU window (the engine's own rule); returns voxels removed per segment.

    ``only``: the segment names the window applies to (the muscles); bone segments such as the thigh's
    femur keep every voxel. None refines every segment."""
    import slicer

    from ..pipeline.postprocess import apply_hu_window

    if window is None:
        return {}
    hu = slicer.util.arrayFromVolume(volume_node)
    removed: dict[str, int] = {}
    for segment_id in segment_ids(segmentation_node):
        name = segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
        if only is not None and name not in only:
            continue
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation_node, segment_id, volume_node)
        refined = apply_hu_window(mask, hu, window)
        removed[segment_id] = int(np.count_nonzero(mask) - np.count_nonzero(refined))
        if removed[segment_id]:
            slicer.util.updateSegmentBinaryLabelmapFromArray(refined.astype(np.uint8), segmentation_node,
                                                              segment_id, volume_node)
    return removed


def slice_center_ras(volume_node: Any, slice_index: int) -> tuple[float, float, float]:
    """RAS point at the centre of stored slice ``slice_index`` (where the slice views should jump)."""
    dims = volume_node.GetImageData().GetDimensions()
    point = ijk_to_ras(volume_node) @ np.array([(dims[0] - 1) / 2, (dims[1] - 1) / 2, slice_index, 1.0])
    return float(point[0]), float(point[1]), float(point[2])


def slice_view_center(slice_node: Any) -> list[float]:
    """The RAS point at the centre of a slice view (where "Use current slice" measures)."""
    matrix = slice_node.GetSliceToRAS()
    return [matrix.GetElement(i, 3) for i in range(3)]


def ras_to_slice_index(volume_node: Any, ras: tuple[float, float, float]) -> int:
    """The stored slice index nearest to a RAS point (for "use current slice")."""
    ijk = np.linalg.inv(ijk_to_ras(volume_node)) @ np.array([*ras, 1.0])
    return int(round(float(ijk[2])))


def _sh_item(sh_node: Any, data_node: Any) -> int:
    """The node's subject-hierarchy item, created if the application has not made one yet."""
    item = sh_node.GetItemByDataNode(data_node)
    return item or sh_node.CreateItem(sh_node.GetSceneItemID(), data_node)


def place_beside(node: Any, volume_node: Any) -> int:
    """Put ``node`` under the volume's parent item (its study), so DICOM SEG export finds the study."""
    import slicer

    sh_node = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    parent = sh_node.GetItemParent(_sh_item(sh_node, volume_node))
    item = _sh_item(sh_node, node)
    sh_node.SetItemParent(item, parent)
    return parent


def dicom_uids(volume_node: Any) -> dict[str, str]:
    """Series and study instance UIDs when the volume came from DICOM (empty otherwise)."""
    import slicer

    sh_node = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    item = sh_node.GetItemByDataNode(volume_node)
    if not item:
        return {}
    uids = {"series_instance_uid": sh_node.GetItemUID(item, "DICOM"),
            "study_instance_uid": sh_node.GetItemUID(sh_node.GetItemParent(item), "DICOM"),
            "patient_id": sh_node.GetItemAttribute(sh_node.GetItemParent(sh_node.GetItemParent(item)),
                                                   "DICOM.PatientID")}
    return {key: value for key, value in uids.items() if value}


def input_identity(volume_node: Any) -> dict[str, Any]:
    """What identifies the input image in provenance: node name, source file with SHA-256 when it is
    one file, DICOM UIDs when it came from DICOM, and always a SHA-256 of voxels plus geometry."""
    storage = volume_node.GetStorageNode()
    source = storage.GetFileName() if storage is not None and storage.GetFileName() else None
    return input_identity_from(volume_to_sitk(volume_node), volume_geometry(volume_node),
                               {"name": volume_node.GetName(), **dicom_uids(volume_node)}, source)


def input_identity_from(image: Any, geometry: dict[str, Any], base: dict[str, Any],
                        source_file: str | None) -> dict[str, Any]:
    """:func:`input_identity` from a copy of the voxels (no MRML: the hashing runs in a worker thread)."""
    import SimpleITK as sitk

    voxels = np.ascontiguousarray(sitk.GetArrayViewFromImage(image))
    digest = hashlib.sha256(voxels.tobytes())
    digest.update(json.dumps({**geometry, "dtype": str(voxels.dtype)}, sort_keys=True).encode())
    identity: dict[str, Any] = {**base, "voxel_sha256": digest.hexdigest(), "geometry": geometry}
    source = Path(source_file) if source_file else None
    if source is not None and source.is_file():
        from ..models.modelfile import sha256_file

        identity.update(file=str(source), file_sha256=sha256_file(source))
    return identity


def write_segmentation(segmentation_node: Any, path: str | Path) -> Path:
    """Write a ``.seg.nrrd`` with Slicer's segmentation storage node (names, colours, terminology kept)."""
    import slicer

    path = Path(path)
    storage = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    try:
        storage.SetFileName(str(path))
        if not storage.WriteData(segmentation_node):
            raise InputError("Slicer could not write the segmentation", path=path)
    finally:
        slicer.mrmlScene.RemoveNode(storage)
    return path


def read_segmentation(path: str | Path, name: str | None = None) -> Any:
    """Load a ``.seg.nrrd`` into a new segmentation node with Slicer's storage node."""
    import slicer

    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or Path(path).name)
    storage = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    if not storage.ReadData(node):
        slicer.mrmlScene.RemoveNode(storage)
        slicer.mrmlScene.RemoveNode(node)
        raise InputError("Slicer could not read the segmentation", path=path)
    node.SetAndObserveStorageNodeID(storage.GetID())
    return node


def fill_table(table_node: Any, rows: list[dict[str, Any]]) -> Any:
    """Replace a table node's content with ``rows`` (numbers as numeric columns, the rest as text)."""
    import vtk

    columns = list(dict.fromkeys(key for row in rows for key in row))
    table_node.RemoveAllColumns()
    for column in columns:
        values = [row.get(column) for row in rows]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) or v is None for v in values)
        array = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
        array.SetName(column)
        for value in values:
            if numeric:
                array.InsertNextValue(float("nan") if value is None else float(value))
            else:
                array.InsertNextValue("" if value is None else str(value))
        table_node.AddColumn(array)
    table_node.Modified()
    return table_node
