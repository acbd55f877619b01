"""Synthetic whole-thigh CT (iliac crest to knee joint) with 27 labelled muscles, femur and pelvis.

Muscles come from the table in :mod:`.thigh_anatomy`; in each slice every muscle is an ellipse and
overlapping ellipses share the space by normalised distance, so the thigh is packed with muscle
the way real compartments are, with one-voxel fat septa where two muscles meet. Bones, vessels and
bowel are painted over or under the muscles so that the label map only holds what is muscle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import RawCase
from .shapes import Canvas, Frame
from .subject import MEAN_SMI, Subject
from .thigh_anatomy import (
    FEMORAL_HEAD,
    FEMUR_AXIS,
    LABEL_NAMES,
    MUSCLE_GROUPS,
    MUSCLES,
    T_FEMORAL_HEAD,
    T_GREATER_TROCHANTER,
    T_LESSER_TROCHANTER,
    THIGH_FASCIA,
    TRUNK_FASCIA,
    Key,
    at,
)
from .thigh_bones import (
    SliceGeometry,
    normalized_distance,
    paint_bones,
    paint_unlabelled_muscle,
    paint_vessels,
    paint_viscera,
)
from .tissues import sample_ct_values

__all__ = ["LABEL_NAMES", "MUSCLES", "MUSCLE_GROUPS", "generate", "INDEX_CENTER", "INDEX_STEP"]

INDEX_NAME = "thigh_muscle_volume_index_cm3_m2"
# Mean (2452) and SD (409) of the index over 30 simulated subjects at standard resolution, rounded.
INDEX_CENTER = 2450.0
INDEX_STEP = 400.0
N_MUSCLES = len(MUSCLES)
MUSCLE_FILL = 1.3  # table radii are cores; the fascia and neighbours trim the excess
MAX_INPLANE_PX = (120, 170)  # (ny, nx) at standard resolution
MAX_SLICES = 168
CONTRAST_PHASES = ("none", "venous", "arterial")
CONTRAST_WEIGHTS = (0.4, 0.5, 0.1)


@dataclass(frozen=True)
class Body:
    """One subject's geometry: lengths and scale factors, with small left/right differences."""

    length_mm: float  # knee joint to top of the iliac crest
    bone_scale: float  # skeleton size (height)
    muscle_radius: tuple[float, float]  # per side (right, left): linear factor of muscle ellipses
    muscle_position: tuple[float, float]  # per side: factor of muscle offsets from the femur
    knee_gap_mm: tuple[float, float]  # per side: extra distance of the knee from the midline
    fat_mm: float  # subcutaneous fat thickness

    def t_of(self, z_mm: float) -> float:
        return z_mm / self.length_mm

    def femur_axis(self, t: float, side: int) -> tuple[float, float]:
        """Lateral distance and y (mm) of the femoral shaft axis; the knees move apart with the gap."""
        x, y, *_ = at(FEMUR_AXIS, t)
        spread = self.knee_gap_mm[0 if side < 0 else 1] * float(np.clip((0.76 - t) / 0.66, 0.0, 1.0))
        return x * self.bone_scale + spread, y * self.bone_scale

    def place(self, keys: tuple[Key, ...], ref: str, t: float, side: int,
              radius_scale: float | None = None) -> tuple[float, float, float, float, float]:
        """A structure's (lateral x, y, rx, ry, angle) in mm on this body at height ``t``."""
        x, y, rx, ry, angle = at(keys, t)
        s = 0 if side < 0 else 1
        radius = self.muscle_radius[s] if radius_scale is None else radius_scale
        if ref == "femur":
            fx, fy = self.femur_axis(t, side)
            pos = self.muscle_position[s]
            return fx + x * pos, fy + y * pos, rx * radius, ry * radius, angle
        pos = self.bone_scale * (0.8 + 0.2 * self.muscle_position[s])
        return x * pos, y * pos, rx * radius, ry * radius, angle


def _knee_gaps(rng: np.random.Generator) -> tuple[float, float]:
    """Leg separation: both knees apart by a shared amount, one a little more than the other."""
    shared = float(rng.uniform(0.0, 30.0))
    return shared + float(rng.uniform(0.0, 6.0)), shared + float(rng.uniform(0.0, 6.0))


def _sample_body(rng: np.random.Generator, subject: Subject) -> Body:
    bone = subject.height_m / 1.70
    length = float(np.clip(430.0 * bone * rng.uniform(0.95, 1.05), 380.0, 480.0))
    # Within a sex muscle follows muscle_scale; men's thighs are larger in proportion to their mean SMI.
    muscle_area = subject.muscle_scale * MEAN_SMI[subject.sex] / float(np.mean(list(MEAN_SMI.values())))
    radius, position = [], []
    for _ in range(2):
        side_factor = float(np.sqrt(muscle_area) * rng.normal(1.0, 0.02))
        radius.append(MUSCLE_FILL * side_factor * np.sqrt(bone))
        position.append(bone * (0.55 + 0.45 * side_factor))
    fat = 3.0 + 1.5 * (subject.bmi - 16.0) + (5.0 if subject.sex == "F" else 0.0)
    fat = float(np.clip(fat * rng.uniform(0.85, 1.15) * subject.body_scale ** 0.5, 4.0, 55.0))
    return Body(length_mm=length, bone_scale=bone, muscle_radius=(radius[0], radius[1]),
                muscle_position=(position[0], position[1]), knee_gap_mm=_knee_gaps(rng),
                fat_mm=fat)


def _deep_and_outer(geo: SliceGeometry, body: Body, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Inside the deep fascia (where muscle may be) and inside the skin, for one slice."""
    deep = np.zeros((geo.ny, geo.nx), dtype=bool)
    outer = np.zeros_like(deep)
    fat = body.fat_mm
    if t >= TRUNK_FASCIA[0][0]:
        _, cy, rx, ry, _ = at(TRUNK_FASCIA, t)
        rx, ry, cy = rx * body.bone_scale, ry * body.bone_scale, cy * body.bone_scale
        deep |= normalized_distance(geo.x, geo.y, 0.0, cy, rx, ry, 0.0) < 1.0
        if rx > 5:
            outer |= normalized_distance(geo.x, geo.y, 0.0, cy + 0.15 * fat, rx + fat * 1.1, ry + fat * 1.3, 0.0) < 1.0
    if t <= THIGH_FASCIA[-1][0]:
        for side in (-1, 1):
            cx, cy, rx, ry, _ = body.place(THIGH_FASCIA, "femur", t, side, radius_scale=1.0)
            pos = body.muscle_position[0 if side < 0 else 1]
            rx, ry = rx * pos, ry * pos
            deep |= normalized_distance(geo.x, geo.y, side * cx, cy, rx, ry, 0.0) < 1.0
            outer |= normalized_distance(geo.x, geo.y, side * cx, cy, rx + fat, ry + fat, 0.0) < 1.0
    return deep, outer | deep


def _assign_muscles(canvas: Canvas, geo: SliceGeometry, body: Body, k: int, t: float, deep: np.ndarray) -> None:
    """Label one slice: each pixel goes to the nearest (normalised) muscle ellipse covering it."""
    active = [m for m in MUSCLES if m.t_range[0] <= t <= m.t_range[1]]
    if not active:
        return
    for side in (-1, 1):
        shapes = [(m.label, *body.place(m.keys, m.ref, t, side)) for m in active]
        reach = np.array([[s[1] - max(s[3], s[4]), s[1] + max(s[3], s[4]), s[2] - max(s[3], s[4]),
                           s[2] + max(s[3], s[4])] for s in shapes])
        win = geo.window((reach[:, 0].min(), reach[:, 1].max(), reach[:, 2].min(), reach[:, 3].max()), side)
        xs, ys = geo.lateral(win, side)
        if xs.size == 0:
            continue
        distances = np.stack([normalized_distance(xs, ys, *s[1:]) for s in shapes])
        nearest = distances.argmin(axis=0)
        inside = (distances.min(axis=0) < 1.0) & deep[win] & (canvas.labels[k][win] == 0)
        ids = np.array([s[0] for s in shapes], dtype=np.uint16)
        canvas.labels[k][win][inside] = ids[nearest[inside]]


def _paint_muscle_image(canvas: Canvas, rng: np.random.Generator, muscle_hu: float) -> None:
    """Muscle attenuation per label (small differences between muscles), then septa and IMAT."""
    labels = canvas.labels
    lut = np.zeros(N_MUSCLES + 3, dtype=np.float32)
    lut[1:N_MUSCLES + 1] = muscle_hu + rng.normal(0.0, 2.5, N_MUSCLES)
    is_muscle = (labels >= 1) & (labels <= N_MUSCLES)
    canvas.image[is_muscle] = lut[labels[is_muscle]]


def _septa_and_imat(canvas: Canvas, rng: np.random.Generator, fat_hu: float, muscle_hu: float) -> None:
    """Fat lines where two different muscles touch, and small fat islands inside muscle (IMAT)."""
    labels = canvas.labels
    is_muscle = (labels >= 1) & (labels <= N_MUSCLES)
    septum = np.zeros_like(is_muscle)
    for axis in (1, 2):
        a = np.swapaxes(labels, 0, axis)
        m = np.swapaxes(is_muscle, 0, axis)
        differ = (a[1:] != a[:-1]) & m[1:] & m[:-1]
        np.swapaxes(septum, 0, axis)[1:] |= differ
    nz, ny, nx = labels.shape
    imat_fraction = float(np.clip(0.012 + 0.0015 * (45.0 - muscle_hu), 0.004, 0.06))
    coarse = rng.random((nz, (ny + 1) // 2, (nx + 1) // 2)) < imat_fraction
    imat = np.repeat(np.repeat(coarse, 2, axis=1), 2, axis=2)[:, :ny, :nx] & is_muscle
    fat_mask = septum | imat
    canvas.image[fat_mask] = fat_hu + rng.normal(0.0, 8.0, int(fat_mask.sum()))
    labels[fat_mask] = 0


def _sample_frame(rng: np.random.Generator, body: Body, in_view: bool, resolution: str) -> tuple[Frame, str]:
    """Grid, patient placement and the scanned z range (which may miss part of the thigh)."""
    thickness = float(rng.choice((3.0, 5.0)))
    half_width = 185.0 * body.bone_scale + 1.2 * body.fat_mm + 15.0
    half_height = 125.0 * body.bone_scale + 1.4 * body.fat_mm + 15.0
    shift = (float(rng.uniform(-15, 15)), float(rng.uniform(-12, 12)))
    spacing_xy = max(float(rng.uniform(2.6, 3.6)), 2 * (half_width + abs(shift[0])) / (MAX_INPLANE_PX[1] - 1),
                     2 * (half_height + abs(shift[1])) / (MAX_INPLANE_PX[0] - 1))
    nx = int(np.ceil(2 * (half_width + abs(shift[0])) / spacing_xy))
    ny = int(np.ceil(2 * (half_height + abs(shift[1])) / spacing_xy))
    if resolution == "low":
        spacing_xy *= 2
        nx, ny = (nx + 1) // 2, (ny + 1) // 2
    length = body.length_mm
    coverage = "full" if in_view else str(rng.choice(["pelvis_to_mid_thigh", "mid_thigh_to_knee", "pelvis_only"]))
    top, bottom = {
        "full": (length + rng.uniform(3, 20), -rng.uniform(5, 25)),
        "pelvis_to_mid_thigh": (length + rng.uniform(3, 20), length * rng.uniform(0.40, 0.60)),
        "mid_thigh_to_knee": (length * rng.uniform(0.45, 0.70), -rng.uniform(5, 25)),
        "pelvis_only": (length + rng.uniform(3, 20), length * rng.uniform(0.66, 0.74)),
    }[coverage]
    nz = int(np.floor((top - bottom) / thickness)) + 1
    if nz > MAX_SLICES:  # trim the margins, never the thigh itself
        nz = max(MAX_SLICES, int(np.ceil(length / thickness)) + 3)
        bottom = max(bottom, length - (nz - 2) * thickness)  # the top slice stays above the crest
    frame = Frame(shape=(nz, ny, nx), spacing=(spacing_xy, spacing_xy, thickness), z_start_mm=float(bottom),
                  rotation_deg=float(rng.uniform(-6, 6)), shift_mm=shift)
    return frame, coverage


def _levels(frame: Frame, body: Body) -> dict[str, tuple[int, int]]:
    """Named slice ranges that lie inside the scan; 'thigh' only when the whole range does."""
    length = body.length_mm
    head_z, head_r = T_FEMORAL_HEAD * length, FEMORAL_HEAD[2] * body.bone_scale
    wanted = {
        "iliac_crest": (length, length),
        "femoral_head": (head_z - head_r, head_z + head_r),
        "greater_trochanter": (T_GREATER_TROCHANTER * length,) * 2,
        "lesser_trochanter": (T_LESSER_TROCHANTER * length,) * 2,
        "mid_thigh": (0.39 * length,) * 2,
        "knee_joint": (0.0, 0.0),
        "thigh": (0.0, length),
    }
    levels = {}
    for name, (z0, z1) in wanted.items():
        k0, k1 = round(frame.slice_of(z0)), round(frame.slice_of(z1))
        if 0 <= k0 <= k1 < frame.nz:
            levels[name] = (int(k0), int(k1))
    return levels


def _truth(labels: np.ndarray, frame: Frame, subject: Subject, in_view: bool) -> dict:
    """Index and per-muscle, per-side volumes measured from the label map itself."""
    sx, sy, sz = frame.spacing
    voxel_cm3 = sx * sy * sz / 1000.0
    left_half = frame.xy()[0] > 0  # body-frame x: the patient's left
    n = N_MUSCLES + 3
    left = np.bincount(labels[:, left_half].ravel(), minlength=n)[:n] * voxel_cm3
    right = np.bincount(labels[:, ~left_half].ravel(), minlength=n)[:n] * voxel_cm3
    total = left + right
    per_muscle = {m.name: round(float(total[m.label]), 3) for m in MUSCLES}
    total_volume = float(total[1:N_MUSCLES + 1].sum())
    return {
        "index": {
            "name": INDEX_NAME,
            "value": round(total_volume / subject.height_m**2, 3) if in_view else None,
            "unit": "cm3/m2",
            "center": INDEX_CENTER,
            "step": INDEX_STEP,
            "definition": "total volume of the 27 labelled thigh/hip muscles (labels 1-27, both sides) from "
                          "the iliac crest to the knee joint, in cm3, divided by height in m squared",
        },
        "muscle_volumes_cm3": per_muscle,
        "muscle_volumes_cm3_left": {m.name: round(float(left[m.label]), 3) for m in MUSCLES},
        "muscle_volumes_cm3_right": {m.name: round(float(right[m.label]), 3) for m in MUSCLES},
        "group_volumes_cm3": {g: round(sum(per_muscle[name] for name in names), 3)
                              for g, names in MUSCLE_GROUPS.items()},
        "total_muscle_volume_cm3": round(total_volume, 3),
    }


def generate(rng: np.random.Generator, subject: Subject, in_view: bool, resolution: str) -> RawCase:
    """One whole-thigh CT in canonical (z, y, x) order; ``in_view=False`` misses part of the thigh."""
    body = _sample_body(rng, subject)
    frame, coverage = _sample_frame(rng, body, in_view, resolution)
    phase = str(rng.choice(CONTRAST_PHASES, p=CONTRAST_WEIGHTS))
    hu = sample_ct_values(rng, phase, subject.muscle_hu)
    canvas = Canvas(frame.shape, background=hu["air"])
    geo = SliceGeometry(frame)
    deep_masks = []
    for k in range(frame.nz):
        t = body.t_of(frame.z_mm(k))
        deep, outer = _deep_and_outer(geo, body, t)
        canvas.image[k][outer] = hu["skin"]
        canvas.image[k][_shrunk(outer)] = hu["fat"]
        deep_masks.append(deep)
    paint_viscera(canvas, geo, body, hu, rng, deep_masks)
    for k in range(frame.nz):
        _assign_muscles(canvas, geo, body, k, body.t_of(frame.z_mm(k)), deep_masks[k])
    _paint_muscle_image(canvas, rng, hu["muscle"])
    paint_unlabelled_muscle(canvas, geo, body, hu["muscle"], deep_masks)
    paint_vessels(canvas, geo, body, hu)
    paint_bones(canvas, geo, body, hu)
    _septa_and_imat(canvas, rng, hu["fat"], hu["muscle"])
    levels = _levels(frame, body)
    if in_view != ("thigh" in levels):
        raise RuntimeError(f"thigh phantom: scan coverage {coverage!r} does not match in_view={in_view}")
    truth = _truth(canvas.labels, frame, subject, in_view)
    truth.update(coverage=coverage, contrast_phase=phase, thigh_length_mm=round(body.length_mm, 1),
                 subcutaneous_fat_mm=round(body.fat_mm, 1))
    landmarks = {name: float(frame.slice_of(t * body.length_mm)) for name, t in
                 (("femoral_head_center", T_FEMORAL_HEAD), ("lesser_trochanter", T_LESSER_TROCHANTER))
                 if 0 <= frame.slice_of(t * body.length_mm) <= frame.nz - 1}
    return RawCase(modality="CT", image=canvas.image, labels=canvas.labels, label_names=dict(LABEL_NAMES),
                   spacing=frame.spacing, target_level="thigh", levels=levels, landmarks=landmarks, truth=truth)


def _shrunk(mask: np.ndarray) -> np.ndarray:
    """The mask less its one-pixel rim: the rim is skin."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner

