"""Measure one case: choose the slice, measure every label, derive indices, classify.

``quantify_images`` works on in-memory images (the Python API); ``quantify_files`` reads files
(NIfTI/NRRD label maps or Slicer ``.seg.nrrd``) and refuses label maps on another grid and slices
outside the image before anything is measured.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..errors import InputError
from ..imageio import check_intensities, geometry, read_image, require_same_grid
from ..segnrrd import is_seg_nrrd, read_seg_nrrd
from . import indices
from .definitions import classify_case
from .labelmaps import apply_label_mapping, load_label_mapping
from .labels import LabelInfo, label_infos, left_of_midline, midline_x, slice_lps_x
from .measures import (
    MM2_PER_CM2,
    MM3_PER_CM3,
    AreaMeasure,
    label_volumes,
    measure_area,
    muscle_area_per_slice,
)
from .patient import Patient
from .presets import HU_RANGES, IMAT_RANGE, PRESETS, QuantifyPreset
from .thickness import max_inscribed_thickness

DEFAULT = "default"


@dataclass
class QuantifyOptions:
    """Choices for one case; ``hu_range`` is 'default', a name in HU_RANGES, (low, high) or None."""

    preset: str = "l3"
    slice_index: int | None = None
    hu_range: str | tuple[float, float] | None = DEFAULT
    modality: str | None = None
    label_names: dict[int, str] | None = None
    patient_id: str | None = None
    metadata: dict[str, Any] | None = None  # a phantom/engine case JSON: label names, levels, subject
    model: dict[str, Any] | None = None  # {"id": ..., "sha256": ...}
    midline_mm: float | None = None
    per_slice: bool = False
    tmt_slice_index: int | None = None
    ignore_unknown_labels: bool = False  # measure only the preset's labels, warning about the others
    label_map_from: str | None = None  # built-in mapping name or mapping JSON for another tool's label map
    missing_muscles: tuple[str, ...] = ()  # preset muscles the (mapped) label map lacks: no total-based index
    model_notice: str | None = None  # e.g. the starter-model notice from the segmentation summary
    # the plausibility block its caller already computed for these labels (batch: with the finder's confidence),
    # used as it is instead of checking the same label map again
    plausibility: dict[str, Any] | None = None


@dataclass
class CaseResult:
    """Everything the reports and the QA figure need."""

    row: dict[str, Any]  # CSV columns -> value (None = not available)
    reasons: dict[str, str]  # column -> why it is not available
    record: dict[str, Any]  # the full JSON document
    slice_image: np.ndarray | None
    slice_labels: np.ndarray
    labels: list[LabelInfo]
    colors: dict[int, tuple[float, float, float]]
    tmt_centers: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # side -> (row, col, mm)
    per_slice: list[dict[str, Any]] = field(default_factory=list)


def resolve_hu_range(choice: str | tuple[float, float] | None, preset: QuantifyPreset,
                     modality: str) -> tuple[str | None, tuple[float, float] | None]:
    if modality != "CT" or choice is None or choice == "none":
        return None, None
    if choice == DEFAULT:
        choice = preset.hu_range or "alberta"
    if isinstance(choice, str):
        if choice not in HU_RANGES:
            raise InputError(f"unknown HU range {choice!r}; use {', '.join(HU_RANGES)}, LOW,HIGH or none",
                             field="--hu-range")
        return choice, HU_RANGES[choice]
    low, high = float(choice[0]), float(choice[1])
    if not low < high:
        raise InputError(f"HU range {low:g},{high:g} is empty; give LOW,HIGH with LOW < HIGH", field="--hu-range")
    return "custom", (low, high)


def _nearest(value: float) -> int:
    """Nearest stored slice; halves round up (Python's round() would alternate between even slices)."""
    return int(np.floor(value + 0.5))


def _metadata_slice(metadata: dict[str, Any] | None, nz: int) -> tuple[int | None, str]:
    """The metadata's level; a level the metadata places out of view is refused, never replaced by
    another slice that would then be reported as that level."""
    if not metadata:
        return None, ""
    level = metadata.get("target_level")
    if metadata.get("target_in_view") is False:
        raise InputError(f"the case metadata says level {level or '(target)'} is not in view in this image "
                         "(target_in_view false); nothing is measured — give --slice K to measure another slice",
                         field="metadata target_in_view")
    landmarks, levels = metadata.get("landmarks") or {}, metadata.get("levels") or {}
    # A reference landmark (e.g. C3_reference, the slab's middle slice) beats the vertebra's centre.
    for name, entry, what in ((f"{level}_reference", landmarks.get(f"{level}_reference"), "landmark"),
                              (level, landmarks.get(level), "landmark"), (level, levels.get(level), "level")):
        value = (entry or {}).get("center_slice", (entry or {}).get("slice"))
        if value is None:
            continue
        if not isinstance(value, int | float) or not np.isfinite(value):
            raise InputError(f"{what} {name} slice {value!r} is not a number", field="metadata")
        if not 0 <= _nearest(value) < nz:
            raise InputError(f"{what} {name} lies at slice {value:.4g}, outside the image (stored slices 0..{nz - 1}); "
                             "nothing is measured — give --slice K to measure another slice", field="metadata")
        return _nearest(value), f"metadata {what} {name} (slice {value:.4g})"
    return None, ""


def tmt_slice(options: QuantifyOptions, nz: int, measured: int) -> tuple[int, str]:
    """TMT is read at the orbital roof (Furtner): --tmt-slice, else that landmark, else the CSA slice."""
    if options.tmt_slice_index is not None:
        if not 0 <= options.tmt_slice_index < nz:
            raise InputError(f"slice {options.tmt_slice_index} is outside the image (stored slices 0..{nz - 1})",
                             field="--tmt-slice")
        return options.tmt_slice_index, "given (--tmt-slice)"
    roof = ((options.metadata or {}).get("landmarks") or {}).get("orbital_roof") or {}
    if roof.get("slice") is not None and 0 <= _nearest(roof["slice"]) < nz:
        return _nearest(roof["slice"]), f"metadata landmark orbital_roof (slice {roof['slice']:.4g})"
    return measured, "the CSA slice (no orbital roof level given)"


def choose_slice(options: QuantifyOptions, labels: np.ndarray, muscle_ids: list[int]) -> tuple[int, str]:
    """--slice, else the metadata level, else the slice with most labelled muscle."""
    nz = labels.shape[0]
    if options.slice_index is not None:
        if not 0 <= options.slice_index < nz:
            raise InputError(f"slice {options.slice_index} is outside the image (stored slices 0..{nz - 1})",
                             field="--slice")
        return options.slice_index, "given (--slice)"
    k, rule = _metadata_slice(options.metadata, nz)
    if k is not None:
        return k, rule
    areas = muscle_area_per_slice(labels, muscle_ids)
    if not areas.any():
        raise InputError("the label map holds no muscle label; nothing to measure", field="labels")
    return int(np.argmax(areas)), "slice with the most labelled muscle"


def _measure_slice(values2d, labels2d, infos, area_mm2, hu_range, left) -> dict[int, AreaMeasure]:
    return {i.label_id: measure_area(values2d, labels2d == i.label_id, area_mm2, hu_range, left, i.side)
            for i in infos}


def _union(values2d, labels2d, ids, area_mm2, hu_range, left) -> AreaMeasure:
    return measure_area(values2d, np.isin(labels2d, ids), area_mm2, hu_range, left)


def present_labels(labels: np.ndarray) -> list[int]:
    """The non-zero values of a label map, looking only at slices that hold any (``np.unique`` sorts every voxel:
    seconds for a 40-Mvoxel map that labels one slice)."""
    if labels.ndim != 3 or not labels.size:
        return [int(v) for v in np.unique(labels) if v != 0]
    occupied = np.flatnonzero(labels.reshape(labels.shape[0], -1).any(axis=1))
    part = labels if occupied.size == labels.shape[0] else labels[occupied]
    return [int(v) for v in np.unique(part) if v != 0]


def quantify_images(image: sitk.Image | None, labels_image: sitk.Image, options: QuantifyOptions, patient: Patient,
                    colors: dict[int, tuple[float, float, float]] | None = None, *,
                    intensities_checked: bool = False) -> CaseResult:
    """Measure a label map (on ``image``'s grid when an image is given). ``intensities_checked``: the image was
    read with :func:`..imageio.read_image` for this modality, which already refused non-HU and NaN values."""
    if options.preset not in PRESETS:
        raise InputError(f"unknown preset {options.preset!r}; use {', '.join(PRESETS)}", field="--preset")
    preset = PRESETS[options.preset]
    modality = (options.modality or (options.metadata or {}).get("modality") or preset.modality).upper()
    hu_name, hu_range = resolve_hu_range(options.hu_range, preset, modality)
    if options.midline_mm is not None and not np.isfinite(options.midline_mm):
        raise InputError(f"{options.midline_mm} is not a position in mm", field="--midline-mm")
    grid = image if image is not None else labels_image
    if image is not None and not intensities_checked:
        check_intensities(image, modality)
    labels = sitk.GetArrayViewFromImage(labels_image)  # read only; what the result keeps is copied
    values = sitk.GetArrayViewFromImage(image) if image is not None else None
    if labels.min(initial=0) < 0 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError("label map must hold non-negative integers", field="labels")
    names = dict(preset.label_names)
    meta_names = (options.metadata or {}).get("label_names") or {}
    try:
        names.update({int(k): str(v) for k, v in meta_names.items()})
    except (ValueError, AttributeError):
        raise InputError("label_names must map integer label values to names", field="metadata label_names") from None
    names.update(options.label_names or {})
    warnings: list[str] = []
    present = present_labels(labels)
    if options.label_names:  # explicit names select the labels to measure (others are organs etc.)
        unnamed = [v for v in present if v not in options.label_names]
        if unnamed:
            warnings.append(f"label values {', '.join(map(str, unnamed))} are not in --label-names and were ignored")
        present = [v for v in present if v in options.label_names]
    elif preset.label_names:  # a named preset: a value it does not know is never measured as muscle
        unknown = [v for v in present if v not in names]
        if unknown and not options.ignore_unknown_labels:
            raise InputError(f"label values {', '.join(map(str, unknown[:12]))}{' …' if len(unknown) > 12 else ''} "
                             f"are not labels of preset {preset.name} "
                             f"({', '.join(f'{v}={n}' for v, n in sorted(names.items()))}); map another tool's labels "
                             "with --label-map-from, or pass --ignore-unknown-labels to measure only the preset's",
                             field="labels")
        if unknown:
            warnings.append(f"label values {', '.join(map(str, unknown))} are not labels of preset {preset.name} "
                            "and were ignored (--ignore-unknown-labels)")
        present = [v for v in present if v in names]
    infos = label_infos(present, names)
    muscles = [i for i in infos if i.is_muscle]
    muscle_ids = [i.label_id for i in muscles]
    k, slice_rule = choose_slice(options, labels, muscle_ids)
    sx, sy, sz = grid.GetSpacing()
    area_mm2 = sx * sy
    labels2d = np.array(labels[k])  # copies: the result outlives the images' buffers
    values2d = np.array(values[k], dtype=np.float64) if values is not None else None
    lps_x = slice_lps_x(grid, k)
    midline, midline_rule = midline_x(lps_x, values2d, np.isin(labels2d, muscle_ids), modality, options.midline_mm)
    left = left_of_midline(lps_x, midline)
    per_label = _measure_slice(values2d, labels2d, infos, area_mm2, hu_range, left)
    total = _union(values2d, labels2d, muscle_ids, area_mm2, hu_range, left)
    if total.outline_mm2 == 0:
        warnings.append(f"no muscle labelled on slice {k} ({slice_rule}); areas are 0")
    for info in infos:
        m = per_label[info.label_id]
        if info.side and m.voxels and midline is not None:
            geometric = measure_area(values2d, labels2d == info.label_id, area_mm2, hu_range, left)
            share = (geometric.csa_left_mm2 if info.side == "left" else geometric.csa_right_mm2) / geometric.csa_mm2
            if share < 0.5:
                warnings.append(f"label {info.name}: named {info.side} but {100 * (1 - share):.0f}% of it lies on the "
                                "other side of the body midline (check orientation or naming)")
    psoas_ids = [i.label_id for i in muscles if i.is_psoas]
    psoas = _union(values2d, labels2d, psoas_ids, area_mm2, hu_range, left) if psoas_ids else None
    row: dict[str, Any] = {}
    reasons: dict[str, str] = {}

    def put(column: str, value: Any, reason: str | None = None) -> None:
        row[column] = value
        if value is None and reason:
            reasons[column] = reason

    no_hu = "no HU statistics: " + ("MR image" if modality != "CT" else "no HU range (--hu-range none)")
    center = grid.TransformContinuousIndexToPhysicalPoint(((grid.GetSize()[0] - 1) / 2, (grid.GetSize()[1] - 1) / 2, k))
    model = options.model or {}
    notice = model_notice(options)
    put("patient_id", options.patient_id or (options.metadata or {}).get("case_id") or "case")
    for column, value in (("preset", preset.name), ("level", preset.level), ("modality", modality),
                          ("slice_index", k), ("slice_rule", slice_rule), ("slice_position_mm", float(center[2])),
                          ("spacing_x_mm", sx), ("spacing_y_mm", sy), ("spacing_z_mm", sz),
                          ("hu_range_name", hu_name), ("hu_min", hu_range[0] if hu_range else None),
                          ("hu_max", hu_range[1] if hu_range else None),
                          ("model_id", model.get("id")), ("model_sha256", model.get("sha256")),
                          ("model_notice", notice),
                          ("sex", patient.sex), ("age_y", patient.age_y), ("height_m", patient.height_m),
                          ("weight_kg", patient.weight_kg), ("bmi_kg_m2", patient.bmi)):
        put(column, value)
    if patient.bmi is None:
        reasons["bmi_kg_m2"] = "needs height and weight"
    put("csa_total_mm2", total.csa_mm2)
    put("csa_total_cm2", total.csa_cm2)
    put("csa_left_cm2", total.csa_left_mm2 / MM2_PER_CM2)
    put("csa_right_cm2", total.csa_right_mm2 / MM2_PER_CM2)
    put("csa_side_mean_mm2", (total.csa_left_mm2 + total.csa_right_mm2) / 2)
    lacks = f"the label map lacks {', '.join(options.missing_muscles)}" if options.missing_muscles else None
    put("muscle_hu_mean", None if lacks else total.hu_mean,
        lacks or (no_hu if hu_range is None else "no muscle voxel in the HU range"))
    put("muscle_hu_sd", total.hu_sd, no_hu)
    put("imat_total_cm2", None if total.imat_mm2 is None else total.imat_mm2 / MM2_PER_CM2, no_hu)
    no_psoas = "no psoas label (psoas, psoas_major or iliopsoas) in this label map"
    put("psoas_area_mm2", psoas.csa_mm2 if psoas else None, no_psoas)
    put("psoas_area_cm2", psoas.csa_cm2 if psoas else None, no_psoas)
    put("psoas_hu_mean", psoas.hu_mean if psoas else None, no_psoas if not psoas else no_hu)
    smi, why = indices.per_height_squared(total.csa_cm2, patient.height_m, "muscle CSA")
    if lacks:  # a partial muscle total compared with a whole-muscle cutoff is a wrong status
        put("smi_cm2_m2", None, lacks)
    else:
        put("smi_cm2_m2", smi, why and patient.reason("height"))
    pmi, why = indices.per_height_squared(psoas.csa_cm2 if psoas else None, patient.height_m, "psoas area")
    put("psoas_index_cm2_m2", pmi, no_psoas if not psoas else (why and patient.reason("height")))
    if preset.name == "c3":
        l3, why = indices.l3_csa_from_c3(total.csa_cm2, patient.age_y, patient.weight_kg, patient.sex)
        put("l3_csa_from_c3_cm2", l3, why)
        l3_smi, why2 = indices.per_height_squared(l3, patient.height_m, "L3 CSA from C3")
        put("l3_smi_from_c3_cm2_m2", l3_smi, why if l3 is None else (why2 and patient.reason("height")))
    tmt_centers: dict[str, tuple[float, float, float]] = {}
    if preset.thickness:
        k_tmt, tmt_rule = tmt_slice(options, labels.shape[0], k)
        put("tmt_slice_index", k_tmt)
        put("tmt_slice_rule", tmt_rule)
        lps_tmt = slice_lps_x(grid, k_tmt)
        values_tmt = None if values is None else np.asarray(values[k_tmt], dtype=np.float64)
        mid_tmt, _ = midline_x(lps_tmt, values_tmt, np.isin(labels[k_tmt], muscle_ids), modality, options.midline_mm)
        centers = _thickness(labels[k_tmt], muscles, lps_tmt, mid_tmt, (sy, sx), put)
        tmt_centers = centers if k_tmt == k else {}
    for info in infos:
        m = per_label[info.label_id]
        put(f"csa_{info.name}_mm2", m.csa_mm2)
        put(f"csa_{info.name}_cm2", m.csa_cm2)
        if info.side is None:
            put(f"csa_{info.name}_left_cm2", m.csa_left_mm2 / MM2_PER_CM2)
            put(f"csa_{info.name}_right_cm2", m.csa_right_mm2 / MM2_PER_CM2)
        put(f"hu_mean_{info.name}", m.hu_mean, no_hu)
        put(f"imat_{info.name}_cm2", None if m.imat_mm2 is None else m.imat_mm2 / MM2_PER_CM2, no_hu)
    volumes: dict[int, dict[str, float]] = {}
    if preset.volumetric:
        volumes = label_volumes(labels, values, [i.label_id for i in infos], sx * sy * sz, hu_range)
        total_volume = sum(volumes[i]["volume_mm3"] for i in muscle_ids) / MM3_PER_CM3
        put("volume_total_cm3", total_volume)
        index, why = indices.per_height_squared(total_volume, patient.height_m, "volume")
        put("volume_index_total_cm3_m2", index, why and patient.reason("height"))
        for info in infos:
            volume = volumes[info.label_id]["volume_mm3"] / MM3_PER_CM3
            put(f"volume_{info.name}_cm3", volume)
            index, why = indices.per_height_squared(volume, patient.height_m, "volume")
            put(f"volume_index_{info.name}_cm3_m2", index, why and patient.reason("height"))
    classes = classify_case(row, reasons, preset.name, patient.sex, patient.bmi)
    for key, result in classes.items():
        put(f"sarcopenia_{key}", result.status)
    warnings += [f"{name}: {message}" for name, message in patient.problems.items()]
    warnings += [f"{name}: not given" for name in ("age", "sex", "height", "weight")
                 if getattr(patient, {"age": "age_y", "height": "height_m", "weight": "weight_kg"}.get(name, name)) is None
                 and name not in patient.problems]
    record = {
        "schema": "musclequant.quantify/1", "software": {"musclequant": __version__},
        "patient_id": row["patient_id"], "preset": preset.name, "level": preset.level, "modality": modality,
        "image": geometry(grid),
        "slice": {"index": k, "rule": slice_rule, "center_point_lps_mm": [float(v) for v in center],
                  "position_mm": float(center[2]), "spacing_mm": [sx, sy, sz], "pixel_area_mm2": area_mm2},
        "hu_range": None if hu_range is None else {"name": hu_name, "min": hu_range[0], "max": hu_range[1],
                                                   "imat_min": IMAT_RANGE[0], "imat_max": IMAT_RANGE[1]},
        "model": {"id": model.get("id"), "sha256": model.get("sha256"), "source": model.get("source"),
                  **({"notice": notice} if notice else {})},
        **({"notice": notice} if notice else {}),
        "midline": {"lps_x_mm": midline, "rule": midline_rule},
        "patient": patient.to_dict(),
        "labels": {i.name: {"label_id": i.label_id, "base": i.base, "side_from_name": i.side, "muscle": i.is_muscle,
                            "psoas": i.is_psoas, "slice": per_label[i.label_id].to_dict(),
                            **({"volume": volumes[i.label_id]} if volumes else {})} for i in infos},
        "total_muscle_slice": total.to_dict(),
        "sarcopenia": {key: {"status": c.status, "reason": c.reason, "cutoff": c.cutoff} for key, c in classes.items()},
        "not_available": reasons, "warnings": warnings,
    }
    _add_plausibility(image, labels_image, preset.name, options, k, infos, modality, row, record)
    result = CaseResult(row, reasons, record, values2d, labels2d, infos, colors or {}, tmt_centers)
    if options.per_slice:
        result.per_slice = per_slice_table(grid, labels, values, infos, hu_range)
    return result


def model_notice(options: QuantifyOptions) -> str | None:
    """What every output must say about the model that made the labels: the notice given, else a starter model's
    (from its card, via ``options.model``, or a segmentation summary passed as metadata); None for other models."""
    from ..models.starter import STARTER_NOTICE

    for notice in (options.model_notice, (options.model or {}).get("notice"), (options.metadata or {}).get("notice")):
        if isinstance(notice, str) and notice.strip():
            return notice.strip()
    return STARTER_NOTICE if (options.model or {}).get("starter") else None


def _add_plausibility(image, labels_image, preset, options, k, infos, modality, row, record) -> None:
    """Plausibility flags (issue 14) into the JSON and the CSV row: a flagged case is needs_review, so cohort
    statistics can leave it out instead of counting it as a measurement. Declared labels: --label-names
    (an absent one is flagged), else the labels present."""
    from ..plausibility import row_columns, run_checks  # imported here: plausibility uses .labels

    if options.plausibility is not None:
        block = options.plausibility
    else:
        declared = dict(options.label_names) if options.label_names else {i.label_id: i.name for i in infos}
        block = run_checks(image, labels_image, preset, options.metadata, slice_index=k, label_names=declared,
                           modality=modality).block()
    record["plausibility"] = block
    row.update(row_columns(block))
    if block["flags"]:
        record["warnings"].append(f"plausibility: needs review ({row['plausibility_flags']})")


def _thickness(labels2d, muscles, lps_x, midline, spacing_rc, put) -> dict[str, tuple[float, float, float]]:
    """TMT per side (mm) and the patient value (mean of the sides present)."""
    mask = np.isin(labels2d, [i.label_id for i in muscles])
    left = left_of_midline(lps_x, midline)
    centers, values = {}, {}
    for side, side_mask in (("left", mask & left), ("right", mask & ~left)):
        t = max_inscribed_thickness(side_mask, spacing_rc)
        put(f"tmt_{side}_mm", t.thickness_mm if t else None, f"no temporalis on the {side} side")
        if t:
            values[side] = t.thickness_mm
            centers[side] = (*t.center_rc, t.thickness_mm)
    put("tmt_mm", float(np.mean(list(values.values()))) if values else None, "no temporalis on this slice")
    return centers


def per_slice_table(grid: sitk.Image, labels: np.ndarray, values, infos: list[LabelInfo],
                    hu_range: tuple[float, float] | None) -> list[dict[str, Any]]:
    """Area of every label on every slice that holds one (mm²): outline and CSA."""
    sx, sy, _ = grid.GetSpacing()
    rows = []
    ids = [i.label_id for i in infos]
    size = grid.GetSize()
    for k in np.nonzero(np.isin(labels, ids).reshape(labels.shape[0], -1).any(axis=1))[0]:
        values2d = None if values is None else np.asarray(values[k])
        point = grid.TransformContinuousIndexToPhysicalPoint(((size[0] - 1) / 2, (size[1] - 1) / 2, int(k)))
        row: dict[str, Any] = {"slice_index": int(k), "slice_position_mm": float(point[2])}
        no_side = np.zeros(labels[k].shape, bool)
        for info in infos:
            m = measure_area(values2d, labels[k] == info.label_id, sx * sy, hu_range, no_side)
            row[f"outline_{info.name}_mm2"] = m.outline_mm2
            row[f"csa_{info.name}_mm2"] = m.csa_mm2
        rows.append(row)
    return rows


def read_labels(labels_path: str | Path, image: sitk.Image) -> tuple[sitk.Image, dict[int, str], dict]:
    """A label map (NIfTI/NRRD on the image grid) or a Slicer .seg.nrrd, with names and colours if stored."""
    if is_seg_nrrd(labels_path):
        seg = read_seg_nrrd(labels_path, image)
        labels_image = sitk.GetImageFromArray(seg.labels)
        labels_image.CopyInformation(image)
        return labels_image, seg.names, {"colors": seg.colors, "overlaps": seg.overlaps, "empty": seg.empty}
    labels_image = read_image(labels_path, allow_single_slice=True)
    require_same_grid(image, labels_image, labels_path)
    array = sitk.GetArrayViewFromImage(labels_image)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.mod(array, 1) == 0):
            raise InputError("label map holds non-integer values (an image, not labels?)", path=labels_path)
        labels_image = sitk.Cast(labels_image, sitk.sitkUInt16)
    return labels_image, {}, {"colors": {}, "overlaps": {}}


def segmentation_summary_names(labels_path: str | Path, preset: str) -> tuple[dict[int, str], Path | None]:
    """Label names of a ``segment`` output from its summary beside it (``<stem>_segmentation.json``).

    ``segment`` writes sided labels (l3: 5 = psoas_major_left) that differ from the preset's training
    classes (3 = psoas_major): read with the preset's names they would be measured as other muscles."""
    names, path, _ = segmentation_summary(labels_path, preset)
    return names, path


def segmentation_summary(labels_path: str | Path, preset: str) -> tuple[dict[int, str], Path | None, dict[str, Any]]:
    """(label names, path, the whole summary) of the ``segment`` summary beside a label map; see
    :func:`segmentation_summary_names`. Its ``notice`` (a starter model's) must reach every measurement."""
    path = Path(labels_path)
    match = re.fullmatch(r"(.+)_labels(\.nii\.gz|\.nii|\.nrrd|\.mha)", path.name)
    summary_path = path.with_name(f"{match[1]}_segmentation.json") if match else None
    if summary_path is None or not summary_path.is_file():
        return {}, None, {}
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        names = {int(entry["value"]): str(entry["name"]) for entry in summary["labels"]}
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError("segmentation summary beside the label map is unreadable; give --label-names",
                         path=summary_path) from None
    if summary.get("preset") not in (None, preset):
        raise InputError(f"the label map was segmented with preset {summary.get('preset')!r}, not {preset!r} "
                         f"(see {summary_path.name})", path=labels_path, field="--preset")
    return names, summary_path, summary


def quantify_files(image_path: str | Path, labels_path: str | Path, options: QuantifyOptions,
                   patient: Patient) -> CaseResult:
    """Read image and labels (refusing mismatched grids and values that are not CT HU / finite MR), then
    measure; another tool's label map goes through ``options.label_map_from``."""
    if options.preset not in PRESETS:
        raise InputError(f"unknown preset {options.preset!r}; use {', '.join(PRESETS)}", field="--preset")
    modality = (options.modality or (options.metadata or {}).get("modality") or PRESETS[options.preset].modality)
    image = read_image(image_path, allow_single_slice=True, modality=str(modality).upper())
    labels_image, seg_names, extra = read_labels(labels_path, image)
    mapping_warnings: list[str] = []
    if options.label_map_from:
        preset_names = PRESETS[options.preset].label_names
        mapped, mapping_warnings = apply_label_mapping(sitk.GetArrayViewFromImage(labels_image),
                                                       load_label_mapping(options.label_map_from, options.preset),
                                                       preset_names)
        labels_image = sitk.GetImageFromArray(mapped)
        labels_image.CopyInformation(image)
        missing = tuple(n for v, n in sorted(preset_names.items()) if not np.any(mapped == v))
        options = QuantifyOptions(**{**options.__dict__, "label_names": None, "missing_muscles": missing})
        seg_names = {}
    if seg_names and not options.label_names:
        options = QuantifyOptions(**{**options.__dict__, "label_names": seg_names})
    summary_names, summary_path, summary = segmentation_summary(labels_path, options.preset)
    notice = summary.get("notice")
    if isinstance(notice, str) and notice.strip() and not options.model_notice:  # a starter model's labels
        options = QuantifyOptions(**{**options.__dict__, "model_notice": notice.strip()})
    if summary_names and not options.label_names and not options.label_map_from \
            and not (options.metadata or {}).get("label_names"):
        options = QuantifyOptions(**{**options.__dict__, "label_names": summary_names})
    # read_image checked the values for the modality quantify_images derives the same way
    result = quantify_images(image, labels_image, options, patient, colors=extra["colors"], intensities_checked=True)
    if summary_names and options.label_names == summary_names:
        result.record["label_names_from"] = str(summary_path)
    result.record["warnings"] = mapping_warnings + result.record["warnings"]
    if options.label_map_from:
        result.record["label_map_from"] = options.label_map_from
    for name in extra.get("empty", []):
        result.record["warnings"].append(f"segment {name} holds no voxel (its LabelValue matches nothing in its layer)")
    for (a, b), n in extra["overlaps"].items():
        result.record["warnings"].append(f"segments {a} and {b} overlap in {n} voxels; counted for {b}")
    result.record["inputs"] = {"image": str(image_path), "labels": str(labels_path),
                               "labels_format": "seg.nrrd" if is_seg_nrrd(labels_path) else "label map"}
    return result
