"""Segmentation with a model that is already loaded: a batch worker loads it once and streams cases.

``inference.segment.segment`` loads its model from disk and writes files on every call; this runs the same
public pipeline steps (the card's preprocessing, the network, HU window, small islands, body midline and
sides) on an image in memory and writes nothing. Only the measured slice of a 2D preset is labelled."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..imageio import geometry
from ..pipeline.geometry import canonical_slice_index, from_canonical, slice_position_mm, to_canonical
from ..pipeline.intensity import body_mask_ct, foreground_mask
from ..pipeline.postprocess import (
    apply_hu_window,
    midline_x,
    remove_small_islands,
    resolve_hu_range,
    split_sides,
)
from ..pipeline.predict import predict_labels
from ..pipeline.prepare import (
    prepare_slice,
    prepare_volume,
    slice_prediction_to_native,
    volume_prediction_to_native,
)
from ..presets import get_preset
from ..presets.base import Intensity, Preset


def segment_loaded(model: Any, image: sitk.Image, image_path: str, *, slice_index: int | None,
                   chosen_by: str, level: dict[str, Any] | None, hu_range: str | None, device: Any
                   ) -> tuple[sitk.Image, dict[str, Any]]:
    """Label map on ``image``'s grid and a segmentation summary (the fields ``musclequant segment`` writes)."""
    started = time.monotonic()
    card = model.card
    preset = get_preset(card["preset"])
    hu_window = resolve_hu_range(hu_range or preset.hu_range) if preset.modality == "CT" else None
    canonical = to_canonical(image)
    prep = card["preprocessing"]
    spacing, roi = tuple(prep["spacing_mm"]), tuple(prep["roi"])
    if "intensity" in prep:  # the card, not today's preset, says how the model was trained
        preset = dataclasses.replace(preset, intensity=Intensity(**{k: tuple(v) if isinstance(v, list) else v
                                                                    for k, v in prep["intensity"].items()}))
    classes_count = len(card["labels"])
    slice_info = None
    if preset.spatial_dims == 2:
        k = canonical_slice_index(image, canonical, slice_index, image_path)
        prepared = prepare_slice(canonical, preset, spacing, k)
        predicted = predict_labels(model, prepared.image, roi, device, card["output_activation"], classes_count)
        hu = sitk.GetArrayFromImage(canonical[:, :, k]).astype(np.float32)
        sided, midline = _postprocess(slice_prediction_to_native(predicted, prepared), hu, canonical[:, :, k],
                                      preset, hu_window)
        volume = np.zeros(tuple(reversed(canonical.GetSize())), dtype=np.uint16)
        volume[k] = sided
        slice_info = {"index": slice_index, "canonical_index": k, "position_mm": slice_position_mm(image, slice_index),
                      "chosen_by": chosen_by, **({"level": level} if level else {})}
    else:
        prepared = prepare_volume(canonical, preset, spacing)
        predicted = predict_labels(model, prepared.image, roi, device, card["output_activation"], classes_count)
        hu = sitk.GetArrayFromImage(canonical).astype(np.float32)
        volume, midline = _postprocess(volume_prediction_to_native(predicted, prepared), hu, canonical, preset,
                                       hu_window)
    result = sitk.GetImageFromArray(volume.astype(np.uint16))
    result.CopyInformation(canonical)
    output = from_canonical(result, image)
    return output, _summary(image_path, image, preset, card, output, hu_window, slice_info, midline, device,
                            time.monotonic() - started)


def _postprocess(classes: np.ndarray, hu: np.ndarray, canonical: sitk.Image, preset: Preset,
                 hu_window: tuple[float, float] | None) -> tuple[np.ndarray, float]:
    """HU window (muscle labels only), small islands, body midline and sides; one slice or the volume."""
    classes = apply_hu_window(classes, hu, hu_window, only=preset.muscle_values())
    sx, sy, *sz = canonical.GetSpacing()
    if classes.ndim == 2:
        classes = remove_small_islands(classes, sx * sy, preset.min_island_mm2)
    else:
        classes = remove_small_islands(classes, sx * sy * sz[0], preset.min_island_mm3)
    body = body_mask_ct(hu) if preset.modality == "CT" else sitk.GetArrayFromImage(foreground_mask(canonical)) > 0
    midline = midline_x(body)
    return split_sides(classes, preset, midline), midline


def _summary(image_path: str, image: sitk.Image, preset: Preset, card: dict[str, Any], output: sitk.Image,
             hu_window: tuple[float, float] | None, slice_info: dict[str, Any] | None, midline: float, device: Any,
             seconds: float) -> dict[str, Any]:
    from ..presets.terminology import terminology_for

    array = sitk.GetArrayViewFromImage(output)
    sx, sy, sz = image.GetSpacing()
    labels = []
    for out in preset.output_labels():
        voxels = int(np.count_nonzero(array == out.value))
        term = terminology_for(out.name)
        entry = {"value": out.value, "name": out.name, "side": out.side, "voxels": voxels,
                 "color": list(term.color), "terminology": term.card_dict()}
        entry["area_mm2" if preset.spatial_dims == 2 else "volume_mm3"] = round(
            voxels * sx * sy * (1 if preset.spatial_dims == 2 else sz), 2)
        labels.append(entry)
    return {"image": image_path, "geometry": geometry(image), "preset": preset.name,
            "model": {"model_id": card["model_id"], "version": card["version"], "card_sha256": card["card_sha256"],
                      "members": len(card["members"]), "ensemble": card["ensemble"]},
            "slice": slice_info, "hu_range": {"window": list(hu_window) if hu_window else None},
            "postprocessing": {"min_island_mm2": preset.min_island_mm2, "min_island_mm3": preset.min_island_mm3,
                               "midline_canonical_x": round(midline, 2), "sides": "patient left = +x (LPS)"},
            "labels": labels, "device": str(device), "seconds": round(seconds, 2)}
