"""Plausibility of one segmentation: every check of the preset's ranges on the engine's in-memory images.

``check_segmentation`` is the public entry point; ``run_checks`` also says which checks ran and which
were skipped (and why), which is what the JSON outputs carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..pipeline.geometry import canonical_geometry, canonical_slice_index, grid_proxy, to_canonical
from .bone import bone_position
from .context import Context
from .flags import Flag, flag_if, plausibility_block
from .geometry import body_mask, slice_frame
from .ranges import PresetRanges, load_ranges
from .regions import build_regions
from .shape import components, position
from .signal import intensity
from .size import label_sizes, symmetry, total_muscle

CHECKS: dict[str, Callable[[Context], list[Flag | None]]] = {
    "size": label_sizes, "total": total_muscle, "symmetry": symmetry, "components": components,
    "position": position, "bone_position": bone_position, "intensity": intensity,
}


@dataclass
class PlausibilityResult:
    flags: list[Flag]
    checks: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    ranges_file: str | None = None

    def block(self) -> dict[str, Any]:
        return plausibility_block(self.flags, self.checks, self.skipped, self.ranges_file)


def check_segmentation(image: sitk.Image | None, labels: sitk.Image, preset: str,
                       summary: dict[str, Any] | None = None, **options: Any) -> list[Flag]:
    """Flags for one segmentation (empty: nothing implausible found). See ``run_checks``."""
    return run_checks(image, labels, preset, summary, **options).flags


def default_label_names(preset: str, summary: dict[str, Any] | None) -> dict[int, str]:
    """The names a segmentation summary lists, else the preset's sided output labels (what ``segment`` writes)."""
    if summary and summary.get("labels"):
        return {int(entry["value"]): entry["name"] for entry in summary["labels"]}
    from ..presets import get_preset

    return {out.value: out.name for out in get_preset(preset).output_labels()}


def run_checks(image: sitk.Image | None, labels: sitk.Image, preset: str, summary: dict[str, Any] | None = None, *,
               slice_index: int | None = None, label_names: dict[int, str] | None = None,
               modality: str | None = None) -> PlausibilityResult:
    """Judge a label map (on ``image``'s grid) against the preset's ranges.

    ``label_names`` (value -> name) declares the labels; a declared preset label that is absent is flagged.
    Default: the summary's labels, else the preset's output labels. 2D presets are judged on
    ``slice_index`` (stored index), else the summary's slice, else the slice with most labelled voxels.
    ``summary`` is a segmentation JSON summary: its finder confidence is judged too."""
    ranges = load_ranges(preset)
    if ranges is None:
        return PlausibilityResult([], skipped={"all": f"no plausibility ranges for preset {preset!r}"})
    names = label_names if label_names is not None else default_label_names(preset, summary)
    modality = (modality or ranges.modality).upper()
    skipped: dict[str, str] = {}
    frame = None
    stored = _stored_slice(labels, slice_index, summary) if ranges.spatial_dims == 2 else None
    if stored is not None:  # one known slice: reorient that slice alone, never the volume
        sx, sy, sz = canonical_geometry(labels).spacing
        label_array = sitk.GetArrayFromImage(to_canonical(labels[:, :, stored:stored + 1]))[0]
        values = (sitk.GetArrayFromImage(to_canonical(image[:, :, stored:stored + 1]))[0].astype(np.float32)
                  if image is not None else None)
    elif ranges.spatial_dims == 2:  # the slice with most labels: the whole label map is searched
        canonical_labels = to_canonical(labels)
        label_array = sitk.GetArrayViewFromImage(canonical_labels)
        sx, sy, sz = canonical_labels.GetSpacing()
        counts = np.isin(label_array, list(names)).reshape(label_array.shape[0], -1).sum(axis=1)
        k = int(np.argmax(counts))
        label_array = np.array(label_array[k])
        values = (sitk.GetArrayFromImage(to_canonical(image)[:, :, k]).astype(np.float32)
                  if image is not None else None)
    else:
        canonical_labels = to_canonical(labels)
        label_array = sitk.GetArrayViewFromImage(canonical_labels)
        sx, sy, sz = canonical_labels.GetSpacing()
    if ranges.spatial_dims == 2:
        frame = slice_frame(values, label_array, modality, (sx, sy), ranges.frame == "spine")
        body, voxel, midline = frame.body, sx * sy, frame.midline_x
    else:
        canonical_image = to_canonical(image) if image is not None else None  # outlives the view below
        values = sitk.GetArrayViewFromImage(canonical_image) if canonical_image is not None else None
        body = body_mask(values, modality) if values is not None else label_array > 0
        voxel = sx * sy * sz
        profile = body.sum(axis=(0, 1))  # body voxels per canonical x: its centre without listing voxels
        midline = (float(np.average(np.arange(profile.size), weights=profile)) if profile.any()
                   else (label_array.shape[2] - 1) / 2)
    if values is None:
        ranges, frame = _without_image(ranges), None
        skipped.update({"position": "no image: no body outline", "intensity": "no image",
                        "area_fraction": "no image: body size unknown"})
    regions, unknown = build_regions(label_array, names, ranges, midline)
    if unknown:
        skipped["labels"] = "not labels of this preset: " + ", ".join(unknown)
    ctx = Context(ranges, regions, values, body, voxel, modality, frame, midline, (sy, sx))
    missing = sorted({n for n, r in ranges.labels.items() if r.muscle} - {r.spec.name for r in ctx.muscle_regions()})
    if missing:  # a map of psoas alone has no total to judge
        skipped["total"] = "the label map does not declare " + ", ".join(missing)
    if frame is not None and ranges.frame == "spine" and frame.origin != "spine":
        skipped["spine"] = "no vertebra found on the slice: positions are measured from the body centre"
    flags: list[Flag | None] = []
    checks: list[str] = []
    not_for = {"position": ranges.spatial_dims != 2, "bone_position": ranges.bone_position is None}
    for name, check in CHECKS.items():
        if name in skipped or not_for.get(name):
            continue
        checks.append(name)
        flags += check(ctx)
    level = _level_confidence(ranges, summary)
    if level is not None:
        checks.append("level_confidence")
        flags.append(level)
    return PlausibilityResult([f for f in flags if f is not None], checks, skipped, ranges.file)


def _stored_slice(labels: sitk.Image, slice_index: int | None, summary: dict[str, Any] | None) -> int | None:
    """The stored slice a 2D preset is judged on, when it is known without searching the label map (given,
    the summary's, or the only one); an acquisition whose slices are not axial is refused, as before."""
    if labels.GetSize()[2] == 1:
        return 0 if canonical_geometry(labels).size[2] == 1 else None  # one axial slice
    stored = slice_index if slice_index is not None else ((summary or {}).get("slice") or {}).get("index")
    if stored is None:
        return None
    canonical_slice_index(labels, grid_proxy(canonical_geometry(labels)), int(stored))  # range and axial checks
    return int(stored)


def _without_image(ranges: PresetRanges) -> PresetRanges:
    """Label-only judging: sizes in mm², symmetry and pieces still apply; body shares do not."""
    import dataclasses

    labels = {n: dataclasses.replace(r, fraction=r.fraction if ranges.spatial_dims == 3 else None, zone=None)
              for n, r in ranges.labels.items()}
    return dataclasses.replace(ranges, labels=labels, total_fraction=None, intensity=None)


def _level_confidence(ranges: PresetRanges, summary: dict[str, Any] | None) -> Flag | None:
    """The level finder's confidence, when it chose the slice (a user's choice is not judged)."""
    level = ((summary or {}).get("slice") or {}).get("level") or {}
    if ranges.level_confidence is None or level.get("confidence") is None:
        return None
    confidence = float(level["confidence"])
    return flag_if("level_confidence", None, confidence, ranges.level_confidence,
                   f"the level finder chose slice {level.get('slice_index')} with low confidence {confidence:.2f}; "
                   "check the level before using the measurement", "confidence")
