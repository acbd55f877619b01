"""Segmentation with a model that is already loaded: a batch worker loads it once and streams cases.

``inference.segment.segment`` loads the model from disk and writes files on every call; this runs the
same steps (the card's preprocessing, the network, the same post-processing and summary) on an image in
memory and writes nothing."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..inference import segment as engine
from ..pipeline.geometry import canonical_slice_index, from_canonical, slice_position_mm, to_canonical
from ..pipeline.postprocess import resolve_hu_range
from ..pipeline.predict import predict_labels
from ..pipeline.prepare import (
    prepare_slice,
    prepare_volume,
    slice_prediction_to_native,
    volume_prediction_to_native,
)
from ..presets import get_preset
from ..presets.base import Intensity


def segment_loaded(model: Any, image: sitk.Image, image_path: str, *, slice_index: int | None,
                   chosen_by: str, level: dict[str, Any] | None, hu_range: str | None, device: Any
                   ) -> tuple[sitk.Image, dict[str, Any]]:
    """Label map on ``image``'s grid and the segmentation summary (as ``musclequant segment`` writes it)."""
    started = time.monotonic()
    card = model.card
    preset = get_preset(card["preset"])
    hu_window = resolve_hu_range(hu_range or preset.hu_range) if preset.modality == "CT" else None
    canonical = to_canonical(image)
    hu = sitk.GetArrayFromImage(canonical).astype(np.float32)
    prep = card["preprocessing"]
    spacing, roi = tuple(prep["spacing_mm"]), tuple(prep["roi"])
    if "intensity" in prep:
        preset = dataclasses.replace(preset, intensity=Intensity(**{k: tuple(v) if isinstance(v, list) else v
                                                                    for k, v in prep["intensity"].items()}))
    classes = np.zeros(hu.shape, dtype=np.uint16)
    slice_info = None
    if preset.spatial_dims == 2:
        k = canonical_slice_index(image, canonical, slice_index, image_path)
        prepared = prepare_slice(canonical, preset, spacing, k)
        predicted = predict_labels(model, prepared.image, roi, device, card["output_activation"], len(card["labels"]))
        classes[k] = slice_prediction_to_native(predicted, prepared)
        slice_info = {"index": slice_index, "canonical_index": k, "position_mm": slice_position_mm(image, slice_index),
                      "chosen_by": chosen_by, **({"level": level} if level else {})}
    else:
        prepared = prepare_volume(canonical, preset, spacing)
        predicted = predict_labels(model, prepared.image, roi, device, card["output_activation"], len(card["labels"]))
        classes = volume_prediction_to_native(predicted, prepared)
    sided, midline = engine._postprocess(classes, hu, canonical, preset, hu_window, slice_info)
    output = from_canonical(_like(sided.astype(np.uint16), canonical), image)
    request = engine.SegmentRequest(image=Path(image_path), model=Path(str(getattr(model, "source", card["model_id"]))),
                                    out=Path("."), hu_range=hu_range, device=str(device))
    summary = engine._summary(request, image, preset, card, output, hu_window, slice_info, midline, str(device),
                              time.monotonic() - started)
    return output, summary


def _like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image
