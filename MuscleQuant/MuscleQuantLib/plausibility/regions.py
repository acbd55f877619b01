"""The label map as sided regions of known preset labels.

Segmentation output is already sided (``psoas_major_left``); phantom truth and many manual maps are not
(``psoas_major``): those are split at the body midline, the way ``segment`` and ``quantify`` split sides,
so both kinds are judged the same way. Labels that are not one of the preset's (organs, bone from
another tool) are left out and listed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..quantify.labels import normalise_name, split_side
from .ranges import LabelRanges, PresetRanges


@dataclass
class Region:
    name: str  # e.g. psoas_major_left, or temporalis when the label is unpaired
    side: str | None
    spec: LabelRanges
    mask: np.ndarray  # bool, canonical (slice or volume)


def build_regions(labels: np.ndarray, names: dict[int, str], ranges: PresetRanges, midline_x: float
                  ) -> tuple[list[Region], list[str]]:
    """Regions of every declared preset label (empty masks for declared labels that are absent), and the
    names that are not the preset's labels."""
    x = np.arange(labels.shape[-1])
    left = np.broadcast_to(x > midline_x, labels.shape)  # canonical x points to the patient's left
    merged: dict[str, Region] = {}
    unknown: list[str] = []
    for value, raw in sorted(names.items()):
        name = normalise_name(raw)
        base, side = split_side(name)
        spec = ranges.label_for(base) or ranges.label_for(name)
        if spec is None:
            unknown.append(name)
            continue
        mask = labels == value
        if not spec.paired:
            parts = [(None, mask)]
        elif side is not None:
            parts = [(side, mask)]
        else:
            parts = [("left", mask & left), ("right", mask & ~left)]
        for part_side, part in parts:
            key = f"{spec.name}_{part_side}" if part_side else spec.name
            if key in merged:
                merged[key].mask |= part
            else:
                merged[key] = Region(key, part_side, spec, part.copy())
    return list(merged.values()), unknown
