"""The thigh phantom's anatomy as data: 27 muscles (Kim et al. 2024), bones and vessels.

Kept apart from the drawing code so that the muscle list, the groups and every muscle's extent can
be corrected in one place. Heights are fractions ``t`` of the knee-joint (0) to iliac-crest-top (1)
distance; in-plane positions are millimetres for a 1.70 m adult with mean muscle, mirrored for the
right side: ``x`` is lateral (away from the midline), ``y`` posterior.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# One key of a structure's path: (t, x, y, rx, ry, angle_deg), interpolated linearly between keys.
Key = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class MuscleSpec:
    """One labelled muscle: both sides share the id; ``ref`` says what x/y are measured from.

    ``ref="femur"``: offsets from the femoral shaft axis (follows the femur, and leg separation);
    ``ref="midline"``: distance from the body midline (pelvic and trunk muscles).
    """

    label: int
    name: str
    group: str
    t_range: tuple[float, float]
    ref: str
    keys: tuple[Key, ...]


MUSCLES: tuple[MuscleSpec, ...] = (
    # anterior
    MuscleSpec(1, "sartorius", "anterior", (0.06, 0.90), "femur", (
        (0.90, -12, -68, 7, 6, 0), (0.82, -20, -62, 12, 8, 20), (0.62, -24, -58, 15, 9, 25),
        (0.42, -48, -40, 14, 9, 50), (0.22, -58, -2, 13, 10, 85), (0.06, -44, 24, 7, 6, 90))),
    MuscleSpec(2, "rectus_femoris", "anterior", (0.14, 0.82), "femur", (
        (0.82, -22, -40, 8, 7, 0), (0.72, -8, -50, 16, 13, 0), (0.50, 0, -52, 22, 15, 0),
        (0.28, 0, -48, 16, 9, 0), (0.14, 0, -44, 8, 5, 0))),
    MuscleSpec(3, "vastus_lateralis", "anterior", (0.10, 0.74), "femur", (
        (0.74, 26, 4, 8, 20, 0), (0.62, 30, -2, 16, 32, -10), (0.45, 34, -4, 20, 34, -10),
        (0.25, 30, -6, 17, 28, -15), (0.10, 30, -12, 13, 16, 0))),
    MuscleSpec(4, "vastus_intermedius", "anterior", (0.12, 0.70), "femur", (
        (0.70, 8, -20, 16, 12, 0), (0.50, 8, -22, 24, 16, 0), (0.25, 4, -20, 22, 14, 0),
        (0.12, 0, -26, 18, 9, 0))),
    MuscleSpec(5, "vastus_medialis", "anterior", (0.05, 0.66), "femur", (
        (0.66, -16, -24, 8, 8, 0), (0.45, -26, -26, 16, 18, -30), (0.22, -30, -16, 24, 24, -30),
        (0.10, -32, -16, 24, 20, 0), (0.05, -40, -16, 13, 11, 0))),
    # medial
    MuscleSpec(6, "adductor_longus", "medial", (0.45, 0.77), "femur", (
        (0.77, -92, -40, 12, 9, 30), (0.68, -68, -30, 18, 14, 30), (0.56, -46, -20, 14, 13, 30),
        (0.45, -34, -12, 6, 6, 0))),
    MuscleSpec(7, "adductor_brevis", "medial", (0.55, 0.76), "femur", (
        (0.76, -86, -16, 12, 10, 30), (0.66, -58, -8, 17, 14, 30), (0.55, -34, 0, 8, 8, 0))),
    MuscleSpec(8, "adductor_magnus", "medial", (0.12, 0.73), "femur", (
        (0.73, -76, 34, 18, 16, 0), (0.60, -58, 22, 26, 24, 20), (0.40, -44, 16, 26, 22, 20),
        (0.22, -30, 14, 16, 14, 0), (0.12, -24, 12, 7, 7, 0))),
    MuscleSpec(9, "gracilis", "medial", (0.06, 0.76), "femur", (
        (0.76, -96, -20, 7, 9, 0), (0.60, -84, 0, 9, 15, 0), (0.40, -74, 10, 9, 14, 0),
        (0.20, -60, 22, 8, 10, 0), (0.06, -48, 30, 5, 5, 0))),
    MuscleSpec(10, "pectineus", "medial", (0.66, 0.79), "femur", (
        (0.79, -88, -40, 14, 8, 20), (0.73, -66, -28, 16, 11, 30), (0.66, -34, -10, 8, 8, 0))),
    # posterior
    MuscleSpec(11, "semitendinosus", "posterior", (0.06, 0.72), "femur", (
        (0.72, -52, 50, 9, 9, 0), (0.50, -30, 58, 17, 15, 0), (0.25, -38, 44, 12, 11, 0),
        (0.06, -42, 32, 5, 5, 0))),
    MuscleSpec(12, "semimembranosus", "posterior", (0.10, 0.71), "femur", (
        (0.71, -40, 42, 8, 7, 0), (0.45, -42, 40, 15, 13, 0), (0.22, -32, 32, 22, 19, 0),
        (0.10, -34, 32, 16, 14, 0))),
    MuscleSpec(13, "biceps_femoris", "posterior", (0.03, 0.72), "femur", (
        (0.72, -38, 52, 9, 9, 0), (0.50, 6, 48, 20, 17, 0), (0.25, 20, 38, 22, 19, 0),
        (0.12, 28, 36, 18, 15, 0), (0.05, 44, 28, 10, 9, 0), (0.03, 46, 28, 6, 6, 0))),
    # gluteal
    MuscleSpec(14, "gluteus_maximus", "gluteal", (0.60, 0.97), "midline", (
        (0.97, 50, 90, 16, 12, -30), (0.88, 78, 95, 42, 24, -35), (0.80, 112, 82, 54, 26, -40),
        (0.72, 126, 62, 40, 20, -50), (0.60, 132, 36, 14, 8, -60))),
    MuscleSpec(15, "gluteus_medius", "gluteal", (0.76, 0.99), "midline", (
        (0.99, 108, 30, 10, 20, -30), (0.92, 120, 36, 20, 40, -30), (0.84, 138, 30, 20, 34, -20),
        (0.76, 154, 18, 8, 10, 0))),
    MuscleSpec(16, "gluteus_minimus", "gluteal", (0.77, 0.93), "midline", (
        (0.93, 108, 6, 8, 22, -40), (0.85, 126, 0, 12, 26, -20), (0.77, 148, 0, 6, 8, 0))),
    MuscleSpec(17, "tensor_fasciae_latae", "gluteal", (0.62, 0.92), "midline", (
        (0.92, 124, -50, 7, 7, 0), (0.82, 142, -36, 13, 16, 30), (0.70, 152, -18, 10, 13, 20),
        (0.62, 150, -8, 5, 6, 0))),
    MuscleSpec(18, "piriformis", "gluteal", (0.80, 0.92), "midline", (
        (0.92, 40, 62, 10, 8, -20), (0.87, 68, 58, 24, 10, -20), (0.83, 100, 48, 28, 9, -25),
        (0.80, 124, 36, 10, 6, -25))),
    MuscleSpec(19, "obturator_internus", "gluteal", (0.73, 0.84), "midline", (
        (0.84, 62, 10, 6, 18, 0), (0.79, 56, 18, 9, 28, 0), (0.75, 54, 24, 9, 20, 0), (0.73, 60, 40, 5, 6, 0))),
    MuscleSpec(20, "obturator_externus", "gluteal", (0.72, 0.78), "midline", (
        (0.78, 74, -14, 10, 10, 0), (0.75, 74, -10, 16, 10, 20), (0.72, 96, 14, 8, 6, 40))),
    MuscleSpec(21, "quadratus_femoris", "gluteal", (0.70, 0.76), "midline", (
        (0.76, 92, 48, 18, 7, -10), (0.73, 94, 46, 24, 8, -15), (0.70, 100, 40, 12, 6, -20))),
    # other
    MuscleSpec(22, "iliacus", "other", (0.85, 0.99), "midline", (
        (0.99, 90, 10, 6, 18, 30), (0.93, 80, -8, 14, 30, 30), (0.87, 76, -22, 17, 24, 30),
        (0.85, 76, -26, 14, 16, 0))),
    MuscleSpec(23, "iliopsoas", "other", (0.68, 0.85), "midline", (
        (0.85, 70, -30, 24, 18, 20), (0.80, 82, -34, 20, 15, 0), (0.76, 92, -28, 15, 13, 0),
        (0.72, 104, -6, 10, 10, 0), (0.68, 108, 14, 6, 6, 0))),
    MuscleSpec(24, "psoas", "other", (0.86, 1.0), "midline", (
        (1.00, 40, 8, 17, 17, 0), (0.93, 52, -6, 19, 17, 0), (0.86, 60, -22, 16, 15, 0))),
    MuscleSpec(25, "abdominal_oblique", "other", (0.92, 1.0), "midline", (
        (1.00, 130, -30, 11, 50, 20), (0.96, 128, -45, 10, 40, 30), (0.92, 118, -62, 8, 18, 45))),
    MuscleSpec(26, "rectus_abdominis", "other", (0.80, 1.0), "midline", (
        (1.00, 32, -102, 26, 8, 0), (0.88, 22, -92, 18, 8, 0), (0.80, 12, -72, 8, 6, 0))),
    MuscleSpec(27, "multifidus", "other", (0.90, 1.0), "midline", (
        (1.00, 18, 62, 14, 20, 0), (0.94, 18, 68, 12, 12, 0), (0.90, 16, 72, 8, 7, 0))),
)

FEMUR_LABEL = 28
ILIAC_BONE_LABEL = 29
LABEL_NAMES: dict[int, str] = {m.label: m.name for m in MUSCLES} | {FEMUR_LABEL: "femur",
                                                                   ILIAC_BONE_LABEL: "iliac_bone"}
MUSCLE_BY_NAME: dict[str, MuscleSpec] = {m.name: m for m in MUSCLES}
GROUP_ORDER = ("anterior", "medial", "posterior", "gluteal", "other")
MUSCLE_GROUPS: dict[str, tuple[str, ...]] = {g: tuple(m.name for m in MUSCLES if m.group == g) for g in GROUP_ORDER}

# Landmark heights (t) shared by bones, levels and muscles.
T_FEMORAL_HEAD = 0.80
T_GREATER_TROCHANTER = 0.78
T_LESSER_TROCHANTER = 0.705
T_CROTCH = 0.72

# Femoral shaft axis (midline ref, mm): linear between these two keys, constant beyond.
FEMUR_AXIS: tuple[Key, ...] = ((0.10, 84, 2, 14, 14, 0), (0.74, 122, 10, 14, 14, 0))
FEMORAL_HEAD = (88.0, 4.0, 23.0)  # x, y, radius at T_FEMORAL_HEAD

# Deep fascia of the thigh (femur ref) and of the trunk (midline ref): muscles stay inside.
THIGH_FASCIA: tuple[Key, ...] = (
    (-0.10, -4, 6, 44, 40, 0), (0.06, -4, 6, 54, 46, 0), (0.25, -12, 6, 64, 58, 0),
    (0.50, -20, 4, 76, 70, 0), (0.70, -30, 4, 90, 76, 0), (0.80, -34, 4, 94, 76, 0))
TRUNK_FASCIA: tuple[Key, ...] = (
    (0.705, 0, 20, 2, 2, 0), (0.73, 0, 18, 110, 70, 0), (0.76, 0, 14, 172, 96, 0),
    (0.82, 0, 10, 182, 108, 0), (0.90, 0, 6, 166, 112, 0), (1.05, 0, 0, 156, 112, 0))

# Vessels: femoral artery path (the vein runs alongside); iliac part midline ref, thigh part femur ref.
ILIAC_ARTERY: tuple[Key, ...] = ((1.05, 36, -6, 5, 5, 0), (0.90, 52, -22, 5, 5, 0), (0.80, 78, -50, 5, 5, 0))
FEMORAL_ARTERY: tuple[Key, ...] = (
    (0.79, -46, -56, 5, 5, 0), (0.60, -40, -40, 5, 5, 0), (0.42, -40, -22, 4.5, 4.5, 0),
    (0.25, -24, 24, 4.5, 4.5, 0), (0.10, -4, 34, 4.5, 4.5, 0), (-0.10, 0, 34, 4, 4, 0))


@lru_cache(maxsize=256)
def _key_table(keys: tuple[Key, ...]) -> np.ndarray:
    return np.asarray(sorted(keys), dtype=float)


def at(keys: tuple[Key, ...], t: float) -> tuple[float, float, float, float, float]:
    """(x, y, rx, ry, angle) of a keyed path at height ``t``: linear between keys, clamped beyond."""
    table = _key_table(keys)
    x, y, rx, ry, angle = (float(np.interp(t, table[:, 0], table[:, i])) for i in range(1, 6))
    return x, y, rx, ry, angle
