"""Segmentation with a model that is already loaded, through the engine's own in-memory entry point
(``inference.segment.segment_loaded``: the card's preprocessing, the network, the same post-processing and
summary as ``musclequant segment``, writing nothing). Batch finds the level itself (falling back across
candidate series), so the slice is given and the finder's answer is put back into the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import SimpleITK as sitk


def segment_loaded(model: Any, image: sitk.Image, image_path: str, *, model_dir: Path, slice_index: int | None,
                   chosen_by: str, level: dict[str, Any] | None, hu_range: str | None, device: str
                   ) -> tuple[sitk.Image, dict[str, Any]]:
    """Label map on ``image``'s grid and the segmentation summary."""
    from ..inference.segment import SegmentRequest
    from ..inference.segment import segment_loaded as engine_segment

    request = SegmentRequest(image=Path(image_path), model=Path(model_dir), out=Path("."), slice_index=slice_index,
                             hu_range=hu_range, device=device)
    labels, summary = engine_segment(model, image, request)
    if summary.get("slice") is not None:
        summary["slice"]["chosen_by"] = chosen_by
        if level:
            summary["slice"]["level"] = level
    return labels, summary
