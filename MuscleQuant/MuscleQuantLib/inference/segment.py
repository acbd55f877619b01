"""Segment one image: preprocessing per preset, the model (or fold ensemble), post-processing, and a
label map on the exact input grid plus a JSON summary that says how every number was made."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..fileio import Commit, json_text
from ..imageio import geometry, labelmap_image, read_image, write_image_to
from ..pipeline.geometry import (
    canonical_geometry,
    canonical_slice_index,
    from_canonical,
    grid_proxy,
    slice_position_mm,
    slice_to_original,
    to_canonical,
)
from ..pipeline.intensity import body_mask_ct, foreground_mask
from ..pipeline.postprocess import (
    apply_hu_window,
    grow_to_fat_edge,
    keep_main_pieces,
    midline_x,
    peel_at_organs,
    remove_small_islands,
    resolve_hu_range,
    split_sides,
)
from ..pipeline.predict import device_name, is_onnx, predict_labels, select_device
from ..pipeline.prepare import (
    prepare_slice,
    prepare_volume,
    slice_prediction_to_native,
    volume_prediction_to_native,
)
from ..plausibility import run_checks
from ..presets import get_preset
from ..presets.base import Intensity, Preset
from ..progress import NULL_PROGRESS, Progress


@dataclasses.dataclass(frozen=True)
class SegmentRequest:
    image: Path
    model: Path
    out: Path
    preset: str | None = None  # must match the model's card when given
    slice_index: int | None = None  # stored slice (2D presets)
    level_model: Path | None = None  # slab model for the level finder (default: newest installed)
    protocol: str | None = None  # which finder level to measure at (temporalis: superior_orbital_quarter/mid_orbit)
    hu_range: str | None = None  # None: the preset's default
    device: str = "auto"
    output_format: str = ".nii.gz"
    overwrite: bool = False


def output_paths(request: SegmentRequest) -> tuple[Path, Path]:
    stem = request.image.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return request.out / f"{stem}_labels{request.output_format}", request.out / f"{stem}_segmentation.json"


def segment(request: SegmentRequest, progress: Progress = NULL_PROGRESS) -> dict[str, Any]:
    """Run the whole segmentation; nothing is written unless every step succeeded."""
    from .runtime import load_inference_model

    started = time.monotonic()
    labels_path, summary_path = output_paths(request)
    if not request.overwrite and (labels_path.exists() or summary_path.exists()):
        raise InputError("output already exists; pass --overwrite to replace it", path=labels_path)
    progress.update("segment", 0.05, f"loading model {request.model}")
    model = load_inference_model(request.model, request.device)  # ONNX Runtime on a CPU, else PyTorch
    preset = get_preset(model.card["preset"])
    if request.preset and request.preset != preset.name:
        raise InputError(f"model is for preset {preset.name!r}, not {request.preset!r}", path=request.model,
                         field="--preset")
    progress.update("segment", 0.15, f"reading {request.image}")
    image = read_image(request.image, allow_single_slice=preset.spatial_dims == 2, modality=preset.modality)
    output, summary = segment_loaded(model, image, request, progress, started)
    # Plausibility flags (issue 14): a result outside what real anatomy allows is marked needs_review.
    summary["plausibility"] = run_checks(image, output, preset.name, summary).block()
    with Commit(request.out) as commit:  # label map and summary appear together; the old pair stays until then
        write_image_to(labelmap_image(output, image), commit.file(labels_path))
        commit.file(summary_path).write_text(json_text(summary), encoding="utf-8")
    summary["files"] = {"labels": str(labels_path), "summary": str(summary_path)}
    return summary


def segment_loaded(model: Any, image: sitk.Image, request: SegmentRequest, progress: Progress = NULL_PROGRESS,
                   started: float | None = None) -> tuple[sitk.Image, dict[str, Any]]:
    """Segment an image already read with a model already loaded (:func:`.runtime.load_inference_model`);
    writes nothing. ``request`` gives the slice / level finder / HU range choices and the names the summary
    records (its ``out`` and ``overwrite`` are not used). Returns the label map on ``image``'s grid and the
    summary without its plausibility block: what a batch worker calls with its one loaded model."""
    started = time.monotonic() if started is None else started
    device = None if is_onnx(model) else select_device(request.device)
    card = model.card
    preset = get_preset(card["preset"])
    hu_window = resolve_hu_range(request.hu_range or preset.hu_range) if preset.modality == "CT" else None
    # The card, not today's preset, says how this model was trained: old models stay reproducible.
    prep = card["preprocessing"]
    spacing, roi = tuple(prep["spacing_mm"]), tuple(prep["roi"])
    if "intensity" in prep:
        preset = dataclasses.replace(preset, intensity=Intensity(**{k: tuple(v) if isinstance(v, list) else v
                                                                    for k, v in prep["intensity"].items()}))
    slice_info: dict[str, Any] | None = None
    progress.update("segment", 0.3, "running the network")
    if preset.spatial_dims == 2:
        stored, chosen_by, level = _choose_slice(request, preset, image)
        # Only the measured slice is read, labelled and post-processed: reorienting a 40-Mvoxel CT to find
        # one slice cost more than the network. ``k`` is its index in the canonical volume's grid.
        k = canonical_slice_index(image, grid_proxy(canonical_geometry(image)), stored, str(request.image))
        canonical = to_canonical(image[:, :, stored:stored + 1])  # the slice as a one-slice canonical volume
        prepared = prepare_slice(canonical, preset, spacing, 0)
        predicted = predict_labels(model, prepared.image, roi, device, card["output_activation"],
                                   len(card["labels"]))
        slice_info = {"index": stored, "canonical_index": k, "position_mm": slice_position_mm(image, stored),
                      "chosen_by": chosen_by, **({"level": level} if level else {})}
        progress.update("segment", 0.8, "post-processing")
        # Only the measured slice is labelled: post-process it alone, then place it in an empty volume.
        classes = slice_prediction_to_native(predicted, prepared)
        hu = _hu_values(sitk.GetArrayViewFromImage(canonical)[0])
        sided, body_midline = _postprocess(classes, hu, canonical[:, :, 0], preset, hu_window)
        output = slice_to_original(sided, canonical, 0, image, stored)
    else:
        canonical = to_canonical(image)
        prepared = prepare_volume(canonical, preset, spacing)
        predicted = predict_labels(model, prepared.image, roi, device, card["output_activation"],
                                   len(card["labels"]))
        prepared.image = None  # free the network input before the native-resolution arrays
        classes = volume_prediction_to_native(predicted, prepared)
        progress.update("segment", 0.8, "post-processing")
        hu = _hu_values(sitk.GetArrayViewFromImage(canonical))
        sided, body_midline = _postprocess(classes, hu, canonical, preset, hu_window)
        del classes
        output = from_canonical(_like(sided, canonical), image)
    summary = _summary(request, image, preset, card, output, hu_window, slice_info, body_midline,
                       device_name(model), time.monotonic() - started)
    return output, summary


def _choose_slice(request: SegmentRequest, preset: Preset, image: sitk.Image
                  ) -> tuple[int, str, dict[str, Any] | None]:
    """The user's slice, else the preset's level finder (with its result); a 2D preset never guesses."""
    if request.slice_index is not None:
        if not 0 <= request.slice_index < image.GetSize()[2]:
            raise InputError(f"slice {request.slice_index} is outside the image (0…{image.GetSize()[2] - 1})",
                             path=request.image, field="--slice")
        return request.slice_index, "user", None
    try:
        from ..levels.find import find_level
    except ImportError:
        raise InputError(f"preset {preset.name!r} measures one slice: give it with --slice K "
                         "(automatic level finding is not installed)", field="--slice") from None
    found = find_level(preset, image, request.image, model_dir=request.level_model, protocol=request.protocol,
                       device=request.device)
    if not found.found:
        raise InputError(f"{found.message()}; give the slice with --slice K", path=request.image, field="--slice")
    return found.slice_index, f"finder ({found.method}, confidence {found.confidence:.2f})", found.to_dict()


def _hu_values(array: np.ndarray) -> np.ndarray:
    """Voxel values as the post-processing compares them: float32 (as always), without a copy for 8/16-bit
    integer images, whose values float32 holds exactly."""
    return array if array.dtype.kind in "iu" and array.dtype.itemsize <= 2 else array.astype(np.float32)


def _postprocess(classes: np.ndarray, hu: np.ndarray, canonical: sitk.Image, preset: Preset,
                 hu_window: tuple[float, float] | None) -> tuple[np.ndarray, float]:
    """HU window, small islands, body midline and sides on the canonical labels: one axial slice (2D presets,
    ``canonical`` is that slice) or the volume."""
    body = body_mask_ct(hu) if preset.modality == "CT" else sitk.GetArrayFromImage(foreground_mask(canonical)) > 0
    midline = midline_x(body)
    one_piece = classes.ndim == 2
    if one_piece and preset.one_piece_before_window:
        raw = split_sides(classes, preset, midline)
        kept = keep_main_pieces(raw, preset, preset.one_piece_before_window, join=False)
        if kept is not raw:
            classes = np.where(kept != raw, 0, classes).astype(classes.dtype, copy=False)
    if preset.grow_to_fat:
        grown = {spec.value for name, spec in preset.label_by_name().items() if name in preset.grow_to_fat}
        classes = grow_to_fat_edge(classes, hu, hu_window, sorted(grown))
    classes = apply_hu_window(classes, hu, hu_window, only=preset.muscle_values())
    sx, sy, *sz = canonical.GetSpacing()
    voxel = sx * sy if classes.ndim == 2 else sx * sy * sz[0]
    if one_piece and preset.peel_at_organs_mm:
        depth = {preset.label_by_name()[name].value: max(1, round(mm / ((sx + sy) / 2)))
                 for name, mm in preset.peel_at_organs_mm.items()}
        classes = peel_at_organs(classes, hu, hu_window, depth, int(np.ceil(preset.organ_min_mm2 / voxel)))
    classes = remove_small_islands(classes, voxel, preset.min_island_mm2 if classes.ndim == 2 else preset.min_island_mm3)
    sided = split_sides(classes, preset, midline)
    if one_piece and preset.one_piece:
        sided = keep_main_pieces(sided, preset, preset.one_piece)
    return sided, midline


def _like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def label_counts(array: np.ndarray, minlength: int, chunk: int = 1 << 22) -> np.ndarray:
    """Voxels per label value, counted in chunks (``bincount`` casts to int64: a whole 58-Mvoxel volume
    at once would need 460 MB more)."""
    flat = array.reshape(-1)
    counts = np.zeros(minlength, dtype=np.int64)
    for start in range(0, flat.size, chunk):
        part = np.bincount(flat[start:start + chunk], minlength=minlength)
        if part.size > counts.size:
            counts = np.concatenate([counts, np.zeros(part.size - counts.size, np.int64)])
        counts[:part.size] += part
    return counts


def _summary(request: SegmentRequest, image: sitk.Image, preset: Preset, card: dict[str, Any], output: sitk.Image,
             hu_window: tuple[float, float] | None, slice_info: dict[str, Any] | None, midline: float, device: str,
             seconds: float) -> dict[str, Any]:
    from ..models.starter import STARTER_NOTICE, is_starter
    from ..presets.terminology import terminology_for

    array = sitk.GetArrayViewFromImage(output)
    if slice_info is not None:  # a 2D preset labels one stored slice
        array = array[slice_info["index"]]
    counts = label_counts(array, len(preset.output_labels()) + 1)
    sx, sy, sz = image.GetSpacing()
    labels = []
    for out in preset.output_labels():
        voxels = int(counts[out.value])
        term = terminology_for(out.name)
        entry = {"value": out.value, "name": out.name, "side": out.side, "voxels": voxels,
                 "color": list(term.color), "terminology": term.card_dict()}
        if preset.spatial_dims == 2:
            entry["area_mm2"] = round(voxels * sx * sy, 2)
        else:
            entry["volume_mm3"] = round(voxels * sx * sy * sz, 1)
        labels.append(entry)
    return {
        "image": str(request.image), "geometry": geometry(image), "preset": preset.name,
        "model": {"model_id": card["model_id"], "version": card["version"], "card_sha256": card["card_sha256"],
                  "members": len(card["members"]), "ensemble": card["ensemble"], "path": str(request.model)},
        "slice": slice_info,
        "hu_range": {"name": request.hu_range or preset.hu_range, "window": list(hu_window) if hu_window else None},
        "postprocessing": {"min_island_mm2": preset.min_island_mm2, "min_island_mm3": preset.min_island_mm3,
                           "midline_canonical_x": round(midline, 2), "sides": "patient left = +x (LPS)",
                           **({"one_piece_per_side": {"before_hu_window": list(preset.one_piece_before_window),
                                                      "after_hu_window": list(preset.one_piece),
                                                      "further_piece_share": preset.piece_share}}
                              if preset.spatial_dims == 2 and (preset.one_piece or preset.one_piece_before_window)
                              else {}),
                           **({"grown_to_fat_edge": list(preset.grow_to_fat)} if preset.grow_to_fat and hu_window
                              else {}),
                           **({"peeled_at_organs": {"depth_mm": preset.peel_at_organs_mm,
                                                    "organ_min_mm2": preset.organ_min_mm2}}
                              if preset.peel_at_organs_mm and hu_window and preset.spatial_dims == 2 else {})},
        "labels": labels, "device": device, "seconds": round(seconds, 2),
        **({"notice": card["training"].get("notice") or STARTER_NOTICE} if is_starter(card) else {}),
    }
