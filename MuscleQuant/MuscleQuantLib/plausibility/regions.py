"""The label map as sided regions of known preset labels.

Segmentation output is already sided (``psoas_major_left``); phantom truth and many manual maps are not
(``psoas_major``): those are split at the body midline, the way ``segment`` and ``quantify`` split sides,
so both kinds are judged the same way. Labels that are not one of the preset's (organs, bone from
another tool) are left out and listed. Each region keeps only its bounding box, so a whole-thigh CT with
60 regions costs a few label-sized masks, not 60 volume-sized ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..quantify.labels import normalise_name, split_side
from .ranges import LabelRanges, PresetRanges


@dataclass
class Region:
    name: str  # e.g. psoas_major_left, or temporalis when the label is unpaired
    side: str | None
    spec: LabelRanges
    box: tuple[slice, ...]  # where ``mask`` sits in the slice or volume
    mask: np.ndarray  # bool, the bounding box's voxels

    def any(self) -> bool:
        return bool(self.mask.any())

    def indices(self) -> tuple[np.ndarray, ...]:
        """Voxel indices of the region in the whole slice or volume (like ``np.nonzero``)."""
        return tuple(i + s.start for i, s in zip(np.nonzero(self.mask), self.box, strict=True))

    def take(self, array: np.ndarray) -> np.ndarray:
        """The values of ``array`` (same shape as the label map) inside the region."""
        return array[self.box][self.mask]


def _union(boxes: list[tuple[slice, ...]]) -> tuple[slice, ...]:
    return tuple(slice(min(b[d].start for b in boxes), max(b[d].stop for b in boxes)) for d in range(len(boxes[0])))


def build_regions(labels: np.ndarray, names: dict[int, str], ranges: PresetRanges, midline_x: float
                  ) -> tuple[list[Region], list[str]]:
    """Regions of every declared preset label (empty masks for declared labels that are absent), and the
    names that are not the preset's labels."""
    boxes = ndimage.find_objects(labels) if labels.any() else []
    groups: dict[str, tuple[str | None, LabelRanges, list[int]]] = {}
    unknown: list[str] = []
    for value, raw in sorted(names.items()):
        name = normalise_name(raw)
        base, side = split_side(name)
        spec = ranges.label_for(base) or ranges.label_for(name)
        if spec is None:
            unknown.append(name)
            continue
        sides = [None] if not spec.paired else [side] if side else ["left", "right"]
        for part in sides:
            key = f"{spec.name}_{part}" if part else spec.name
            groups.setdefault(key, (part, spec, []))[2].append(value)
    regions = []
    for key, (side, spec, values) in groups.items():
        present = [boxes[v - 1] for v in values if 0 < v <= len(boxes) and boxes[v - 1] is not None]
        if not present:
            regions.append(Region(key, side, spec, (slice(0, 0),) * labels.ndim, np.zeros((0,) * labels.ndim, bool)))
            continue
        box = _union(present)
        mask = np.isin(labels[box], values)
        unsided = [v for v in values if split_side(normalise_name(names[v]))[1] is None]
        if side and spec.paired and unsided:  # split unsided labels at the midline (x grows to the patient's left)
            x = np.arange(box[-1].start, box[-1].stop)
            on_side = (x > midline_x) if side == "left" else (x <= midline_x)
            mask &= ~np.isin(labels[box], unsided) | on_side
        regions.append(Region(key, side, spec, box, mask))
    return regions, unknown
