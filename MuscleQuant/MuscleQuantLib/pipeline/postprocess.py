"""Post-processing shared by all presets: keep muscle inside a HU window (CT), drop small islands,
split paired muscles into left and right. Works on canonical (LPS) arrays: x grows to the left."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..presets.base import HU_RANGES, Preset


def resolve_hu_range(value: str | None) -> tuple[float, float] | None:
    """A named window ('alberta', 'kreher'), 'none', or a custom 'lo,hi' in HU."""
    if value is None or value.lower() == "none":
        return None
    if value.lower() in HU_RANGES:
        return HU_RANGES[value.lower()]
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise InputError(f"expected one of {', '.join(HU_RANGES)}, 'none' or 'lo,hi' (HU), not {value!r}",
                         field="--hu-range") from None
    if not -1024 <= lo < hi <= 3071:
        raise InputError(f"'{value}' is not an increasing HU range within −1024…3071", field="--hu-range")
    return lo, hi


def apply_hu_window(labels: np.ndarray, hu: np.ndarray, window: tuple[float, float] | None,
                    only: Collection[int] | None = None) -> np.ndarray:
    """Drop labelled voxels whose HU lies outside the muscle window (SPEC 2.3 post-processing).

    ``only``: the label values the window applies to (the muscles); other labels, such as bone, stay.
    """
    if window is None:
        return labels
    lo, hi = window
    out = labels.copy()
    outside = (hu < lo) | (hu > hi)
    if only is not None:
        outside &= np.isin(labels, list(only))
    out[outside] = 0
    return out


def remove_small_islands(labels: np.ndarray, voxel_size: float, min_size: float) -> np.ndarray:
    """Remove connected pieces of each label smaller than ``min_size`` (mm² for 2D, mm³ for 3D)."""
    if min_size <= 0:
        return labels
    out = labels.copy()
    min_voxels = min_size / voxel_size
    for value in np.unique(labels):
        if value == 0:
            continue
        pieces, count = ndimage.label(labels == value)
        if count <= 1:
            continue
        sizes = ndimage.sum(np.ones_like(pieces), pieces, index=np.arange(1, count + 1))
        for piece, size in enumerate(sizes, start=1):
            if size < min_voxels:
                out[pieces == piece] = 0
    return out


def midline_x(body_mask: np.ndarray) -> float:
    """x index (canonical array) of the body's mid-sagittal plane: the mask's centre of mass."""
    if not body_mask.any():
        return (body_mask.shape[-1] - 1) / 2
    return float(np.nonzero(body_mask)[-1].mean())


def split_sides(labels: np.ndarray, preset: Preset, midline: float) -> np.ndarray:
    """Training classes → sided output labels (patient left = larger canonical x)."""
    out = np.zeros(labels.shape, dtype=np.uint16)
    x = np.arange(labels.shape[-1])
    is_left = np.broadcast_to(x >= midline, labels.shape)
    for output in preset.output_labels():
        selected = labels == output.source_value
        if output.side == "left":
            selected &= is_left
        elif output.side == "right":
            selected &= ~is_left
        out[selected] = output.value
    return out


def merge_sides(output_labels: np.ndarray, preset: Preset) -> np.ndarray:
    """Sided output labels → training classes (to train on approved, sided segmentations)."""
    out = np.zeros(output_labels.shape, dtype=np.uint16)
    for output in preset.output_labels():
        out[output_labels == output.value] = output.source_value
    return out
