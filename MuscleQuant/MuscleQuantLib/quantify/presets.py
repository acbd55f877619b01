"""Per-preset measurement defaults, derived from the shared ``presets`` package.

A preset says which modality it expects, at which level it measures, whether it is a 3D (volume)
preset, its default label names and HU range, and which label names count as psoas or as non-muscle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# HU windows, the IMAT range and the thigh muscle list are the presets' own data (defined once).
from ..presets.base import HU_RANGES, IMAT_RANGE
from ..presets.thigh import MUSCLES as THIGH_MUSCLES

__all__ = ["HU_RANGES", "IMAT_RANGE", "NON_MUSCLE_NAMES", "PRESETS", "PRESET_NAMES", "PSOAS_NAMES", "THIGH_MUSCLES",
           "QuantifyPreset"]

# Base names (side suffix removed) that are psoas for the psoas definitions (Golse, Hamaguchi, Yoo).
PSOAS_NAMES: frozenset[str] = frozenset({"psoas", "psoas_major", "iliopsoas"})
# Structures that may share a label map with muscles but are never muscle.
NON_MUSCLE_NAMES: frozenset[str] = frozenset({"background", "femur", "iliac_bone", "bone", "fat", "body"})


@dataclass(frozen=True)
class QuantifyPreset:
    """What ``quantify`` assumes for one anatomy unless the user overrides it."""

    name: str
    modality: str  # "CT" or "MR"
    level: str  # the level it measures; definitions say which presets they apply to
    volumetric: bool  # 3D preset: report volumes per label
    hu_range: str | None  # default key of HU_RANGES (None for MR)
    label_names: dict[int, str] = field(default_factory=dict)
    thickness: bool = False  # report temporal muscle thickness


def _from_segmentation_presets() -> dict[str, QuantifyPreset]:
    """Measurement defaults derived from the segmentation presets, so labels, levels and HU windows
    are defined once; "custom" measures any label map."""
    from ..presets import all_presets

    derived = {
        preset.name: QuantifyPreset(
            preset.name, preset.modality, preset.target_level or preset.name, preset.spatial_dims == 3,
            preset.hu_range if preset.modality == "CT" else None,
            {label.value: label.name for label in preset.labels}, thickness=preset.name == "temporalis")
        for preset in all_presets().values() if preset.role == "muscle"
    }
    derived["custom"] = QuantifyPreset("custom", "CT", "custom", True, "alberta", {})
    return derived


PRESETS: dict[str, QuantifyPreset] = _from_segmentation_presets()
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
