"""Per-preset measurement defaults as small data (to move into the shared ``presets`` package later).

A preset says which modality it expects, at which level it measures, whether it is a 3D (volume)
preset, its default label names and HU range, and which label names count as psoas or as non-muscle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Muscle HU windows (SPEC 2.3): "alberta" is the range the published cutoffs (Prado, Martin) used;
# "kreher" is the L3 paper's post-processing range.
HU_RANGES: dict[str, tuple[float, float]] = {"alberta": (-29.0, 150.0), "kreher": (-20.0, 200.0)}
# Intermuscular/intramuscular adipose tissue inside the muscle outline (SPEC 3).
IMAT_RANGE: tuple[float, float] = (-190.0, -30.0)

THIGH_MUSCLES: tuple[str, ...] = (
    "sartorius", "rectus_femoris", "vastus_lateralis", "vastus_intermedius", "vastus_medialis",
    "adductor_longus", "adductor_brevis", "adductor_magnus", "gracilis", "pectineus",
    "semitendinosus", "semimembranosus", "biceps_femoris", "gluteus_maximus", "gluteus_medius",
    "gluteus_minimus", "tensor_fasciae_latae", "piriformis", "obturator_internus", "obturator_externus",
    "quadratus_femoris", "iliacus", "iliopsoas", "psoas", "abdominal_oblique", "rectus_abdominis",
    "multifidus",
)

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


PRESETS: dict[str, QuantifyPreset] = {
    "l3": QuantifyPreset("l3", "CT", "L3", False, "alberta", {
        1: "rectus_abdominis", 2: "abdominal_wall", 3: "psoas_major", 4: "quadratus_lumborum", 5: "erector_spinae"}),
    "c3": QuantifyPreset("c3", "CT", "C3", False, "alberta", {1: "paravertebral_muscles", 2: "sternocleidomastoid"}),
    "temporalis": QuantifyPreset("temporalis", "MR", "superior_orbital_quarter", False, None, {1: "temporalis"},
                                 thickness=True),
    "thigh": QuantifyPreset("thigh", "CT", "thigh", True, "alberta", {
        **{i + 1: name for i, name in enumerate(THIGH_MUSCLES)}, 28: "femur", 29: "iliac_bone"}),
    "custom": QuantifyPreset("custom", "CT", "custom", True, "alberta", {}),
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
