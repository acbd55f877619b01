"""Read a 3D Slicer segmentation file (``.seg.nrrd``) into a label map on the image's grid.

Slicer's format (vtkMRMLSegmentationStorageNode): a NRRD whose voxels cover only the segments'
bounding box (so its origin differs from the image's), either 3D (one layer) or 4D with a first
axis of kind ``list`` (one layer per component; overlapping segments go to different layers).
Per segment ``N`` the header holds ``SegmentN_Name``, ``SegmentN_LabelValue`` (its value in its
layer), ``SegmentN_Layer``, ``SegmentN_Extent`` (within the stored box) and ``SegmentN_Color``.
The box is placed on the image grid by its physical origin: spacing and direction must match the
image and the offset must be a whole number of voxels, otherwise the file is refused (resampling
would change areas). Segments are numbered 1..n in file order in the returned label map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .imageio import GEOMETRY_TOLERANCE

SEG_SUFFIX = ".seg.nrrd"


@dataclass
class Segmentation:
    """A label map (z, y, x on the image grid) with segment names, colours and any overlap found."""

    labels: np.ndarray
    names: dict[int, str]
    colors: dict[int, tuple[float, float, float]]
    overlaps: dict[tuple[str, str], int] = field(default_factory=dict)  # voxels claimed by both
    empty: list[str] = field(default_factory=list)  # segments whose value matches no voxel (reported)


def is_seg_nrrd(path: str | Path) -> bool:
    return str(path).lower().endswith(SEG_SUFFIX)


def _segment_fields(image: sitk.Image) -> dict[int, dict[str, str]]:
    segments: dict[int, dict[str, str]] = {}
    for key in image.GetMetaDataKeys():
        if key.startswith("Segment") and "_" in key and not key.startswith("Segmentation_"):
            head, _, name = key.partition("_")
            index = head[len("Segment"):]
            if index.isdigit():
                segments.setdefault(int(index), {})[name] = image.GetMetaData(key)
    return segments


def _box_offset(seg: sitk.Image, reference: sitk.Image, path: Path) -> np.ndarray:
    """Integer (i, j, k) index in ``reference`` of the stored box's first voxel; refuse other grids."""
    for what, a, b in (("spacing", seg.GetSpacing(), reference.GetSpacing()),
                       ("direction", seg.GetDirection(), reference.GetDirection())):
        if not np.allclose(a, b, atol=GEOMETRY_TOLERANCE, rtol=0):
            raise InputError(f"segmentation {what} {tuple(round(v, 4) for v in a)} differs from the image's "
                             f"{tuple(round(v, 4) for v in b)}; resample it onto the image in Slicer first", path=path)
    index = np.array(reference.TransformPhysicalPointToContinuousIndex(seg.GetOrigin()))
    rounded = np.rint(index)
    if not np.allclose(index, rounded, atol=1e-3):
        raise InputError(f"segmentation origin lies between image voxels (index {tuple(np.round(index, 3))}); "
                         "it is not on the image grid", path=path)
    return rounded.astype(int)


def read_seg_nrrd(path: str | Path, reference: sitk.Image) -> Segmentation:
    """Merge every segment of a ``.seg.nrrd`` into one label map on ``reference``'s grid."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    try:
        seg = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError("not a readable NRRD segmentation", path=path) from None
    if seg.GetDimension() != 3:
        raise InputError(f"{seg.GetDimension()}D segmentation; expected a 3D or layered (4D list) .seg.nrrd", path=path)
    segments = _segment_fields(seg)
    if not segments:
        raise InputError("no Segment<N>_ metadata: not a Slicer segmentation file", path=path)
    layers = sitk.GetArrayFromImage(seg)  # (z, y, x) or (z, y, x, layer)
    if layers.ndim == 3:
        layers = layers[..., None]
    offset = _box_offset(seg, reference, path)
    box_size = np.array(seg.GetSize())
    grid_size = np.array(reference.GetSize())
    if np.any(offset < 0) or np.any(offset + box_size > grid_size):
        raise InputError(f"segmentation box (index {tuple(offset)}, size {tuple(box_size)}) extends outside the "
                         f"image grid {tuple(grid_size)}", path=path)
    labels = np.zeros(tuple(reversed(reference.GetSize())), dtype=np.uint16)
    box = (slice(offset[2], offset[2] + box_size[2]), slice(offset[1], offset[1] + box_size[1]),
           slice(offset[0], offset[0] + box_size[0]))
    target = labels[box]
    names: dict[int, str] = {}
    colors: dict[int, tuple[float, float, float]] = {}
    overlaps: dict[tuple[str, str], int] = {}
    empty: list[str] = []
    for new_value, index in enumerate(sorted(segments), start=1):
        fields = segments[index]
        try:
            layer = int(fields.get("Layer", "0"))
            label_value = int(fields.get("LabelValue", "1"))
        except ValueError:
            raise InputError(f"Segment{index}: Layer/LabelValue is not an integer", path=path) from None
        if not 0 <= layer < layers.shape[-1]:
            raise InputError(f"Segment{index}: layer {layer} but the file has {layers.shape[-1]} layer(s)", path=path)
        if label_value <= 0:  # 0 is the background of every layer: the segment would claim all of it
            raise InputError(f"LabelValue {label_value}: a segment's value must be positive (0 is the background "
                             "of its layer)", path=path, field=f"Segment{index}_LabelValue")
        mask = layers[..., layer] == label_value
        names[new_value] = fields.get("Name", f"segment_{index}")
        if not mask.any():
            empty.append(names[new_value])
        colors[new_value] = _color(fields.get("Color"))
        for earlier in np.unique(target[mask]):
            if earlier:
                overlaps[(names[int(earlier)], names[new_value])] = int(np.count_nonzero(target[mask] == earlier))
        target[mask] = new_value
    labels = labels.astype(np.uint8) if len(names) <= 255 else labels
    return Segmentation(labels, names, colors, overlaps, empty)


def _color(text: str | None) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in (text or "").split()[:3])
    except ValueError:
        values = ()
    return values if len(values) == 3 else (0.5, 0.5, 0.5)  # type: ignore[return-value]
