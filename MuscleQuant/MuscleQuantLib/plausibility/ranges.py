"""The expected ranges of one preset, read from ``ranges_<preset>.json`` beside this file.

Each file is data with its sources: published ranges from SPEC.md and the papers it cites where they
exist, otherwise physiological reasoning stated next to the number (and, for positions, the spread
measured on the phantoms and on the real CT reference, widened). Adding a preset means adding a file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .flags import Range

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Zone:
    """Where a label belongs in the slice frame (geometry.SliceFrame): lateral and posterior bounds, and how
    much of the label may lie outside them."""

    lateral: tuple[float, float]
    posterior: tuple[float, float]
    outside: Range  # fraction of the label's area outside the zone
    where: str  # in words, for the reason


@dataclass(frozen=True)
class BoneRule:
    """3D presets: muscles are judged against this bone of the same side (``bone.py``)."""

    bone: str
    margin_mm: float
    outside: Range  # share of shared slices where the muscle is on the wrong side


@dataclass(frozen=True)
class LabelRanges:
    name: str
    aliases: tuple[str, ...]
    paired: bool
    size: Range | None  # area (mm²) or volume (mm³) per side
    fraction: Range | None  # of the body cross-section (2D) or of all muscle (3D), per side
    zone: Zone | None
    max_components: Range | None
    muscle: bool = True
    relative_to_bone: tuple[str, ...] = ()  # 3D: anterior/posterior/medial/lateral of the side's bone


@dataclass(frozen=True)
class PresetRanges:
    preset: str
    file: str
    modality: str
    spatial_dims: int
    frame: str  # "spine" or "body"
    labels: dict[str, LabelRanges]
    total_size: Range | None
    total_fraction: Range | None
    symmetry: Range | None  # smaller side / larger side
    symmetry_min_difference: float  # mm² / mm³: sides closer than this are not judged (edge voxels of small labels)
    intensity: Range | None  # CT: mean HU; MR: median signal relative to background..bright body tissue
    min_component: float  # mm² (2D) or mm³ (3D): smaller pieces are not counted as components
    min_component_share: float  # ... nor pieces smaller than this share of the label
    level_confidence: Range | None
    bone_position: BoneRule | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def label_for(self, base: str) -> LabelRanges | None:
        for ranges in self.labels.values():
            if base == ranges.name or base in ranges.aliases:
                return ranges
        return None


def _range(data: dict[str, Any] | None) -> Range | None:
    return Range.from_json(data) if data else None


def _zone(data: dict[str, Any] | None) -> Zone | None:
    if not data:
        return None
    return Zone(tuple(data["lateral"]), tuple(data["posterior"]), Range.from_json(data["outside"]), data["where"])


def _bone(data: dict[str, Any] | None) -> BoneRule | None:
    if not data:
        return None
    return BoneRule(data["bone"], float(data["margin_mm"]), Range.from_json(data["outside"]))


def available_presets() -> tuple[str, ...]:
    return tuple(sorted(p.stem.removeprefix("ranges_") for p in HERE.glob("ranges_*.json")))


@cache
def load_ranges(preset: str) -> PresetRanges | None:
    """The preset's ranges, or None when it has none (custom label maps are not judged)."""
    path = HERE / f"ranges_{preset}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    labels = {
        name: LabelRanges(name, tuple(entry.get("aliases", ())), entry.get("paired", True), _range(entry.get("size")),
                          _range(entry.get("fraction")), _zone(entry.get("zone")), _range(entry.get("components")),
                          entry.get("muscle", True), tuple(entry.get("relative_to_bone", ())))
        for name, entry in data["labels"].items()
    }
    return PresetRanges(
        preset=data["preset"], file=path.name, modality=data["modality"], spatial_dims=data["spatial_dims"],
        frame=data.get("frame", "body"), labels=labels, total_size=_range(data.get("total_size")),
        total_fraction=_range(data.get("total_fraction")), symmetry=_range(data.get("symmetry")),
        symmetry_min_difference=float(data.get("symmetry_min_difference", 0.0)),
        intensity=_range(data.get("intensity")), min_component=float(data.get("min_component", 0.0)),
        min_component_share=float(data.get("min_component_share", 0.0)),
        level_confidence=_range(data.get("level_confidence")), bone_position=_bone(data.get("bone_position")),
        sources=data.get("sources", {}))
