"""One subject's head-and-neck geometry: the spine (heights, discs, curvature, flexion) and the
tables that place every other structure along it.

Structures are placed by *level* ``u`` rather than by millimetres: u = 0 at the skull base
(basion), 1 at mid-C1, 2 at mid-C2 body, 3 at mid-C3, ..., 8 at mid-T1. A structure said to sit
"at C4-C5" then moves with the vertebrae when heights, discs and neck length vary, so finding C3
in the phantom means counting levels, as in a real scan. In-plane positions (mm) are relative to
the vertebral-body axis at that height, with x towards the patient's left and y posterior.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .subject import MEAN_SMI, Subject

SPINE = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3", "T4", "T5", "T6")
HEAD_MM_PER_LEVEL = 12.0  # how fast u runs above the skull base (u < 0)
CHEST_MM_PER_LEVEL = 24.0  # and below the lowest modelled vertebra

Row = tuple[float, float, float, float, float, float]  # (u, cx, cy, rx, ry, angle_deg)


class Track:
    """A structure's cross-section along the neck: rows (u, cx, cy, rx, ry, angle) linearly
    interpolated in u; absent outside the first and last row (taper the radii there)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = np.asarray(rows, dtype=float)
        self.u_first, self.u_last = float(self.rows[0, 0]), float(self.rows[-1, 0])

    def at(self, u: float, shift: float = 0.0) -> tuple[float, float, float, float, float] | None:
        """(cx, cy, rx, ry, angle) at level u, or None; ``shift`` moves the track caudally."""
        u = u - shift
        if u < self.u_first or u > self.u_last:
            return None
        i = int(np.searchsorted(self.rows[:, 0], u, side="right")) - 1
        i = min(max(i, 0), len(self.rows) - 2)
        a, b = self.rows[i], self.rows[i + 1]
        t = 0.0 if b[0] == a[0] else (u - a[0]) / (b[0] - a[0])
        cx, cy, rx, ry, ang = (a[1:] + t * (b[1:] - a[1:])).tolist()
        return cx, cy, rx, ry, ang


@dataclass(frozen=True)
class Vertebra:
    """Body (or C1 ring) extent along the spine axis, mm of body z at the axis."""

    name: str
    z_bottom: float
    z_top: float

    @property
    def z_mid(self) -> float:
        return 0.5 * (self.z_bottom + self.z_top)


@dataclass(frozen=True)
class Node:
    """A lymph node (ellipsoid) placed in level-relative coordinates."""

    cx: float
    cy: float
    z: float
    r_xy: float
    r_z: float
    necrotic: bool


@dataclass
class NeckGeometry:
    """The sampled anatomy of one subject; z = 0 is the middle of the C3 body at the spine axis."""

    vertebrae: dict[str, Vertebra]
    dens_top: float
    z_skull_base: float
    lordosis_mm: float  # how far mid-neck bodies sit anterior of the C1/T1 line
    flexion_slope: float  # dy/dz added by head flexion (negative = head forward)
    flexion_levels: float  # mandible/hyoid shift in levels caused by flexion (positive = lower)
    scoliosis_mm: float
    size: float  # linear factor of skeleton and organs
    muscle_radius: dict[str, float]  # linear factor of muscle radii per side ("L", "R")
    deep_factor: float  # linear factor of the deep (subfascial) neck outline
    fat_mm: float
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [n for n in SPINE if n in self.vertebrae]
        mids = [self.vertebrae[n].z_mid for n in names]
        self._z_keys = np.array([self.z_skull_base, *mids])[::-1]  # increasing z for np.interp
        self._u_keys = np.arange(0, len(names) + 1, dtype=float)[::-1]
        c1, t1 = self.vertebrae["C1"].z_mid, self.vertebrae["T1"].z_mid
        self._curve_mid, self._curve_half = 0.5 * (c1 + t1), 0.5 * (c1 - t1)
        self._curve_limits = (t1, c1)

    def u_at(self, z: float) -> float:
        """Anatomical level at body height z (mm)."""
        if z > self._z_keys[-1]:
            return -(z - self._z_keys[-1]) / HEAD_MM_PER_LEVEL
        if z < self._z_keys[0]:
            return float(self._u_keys[0] + (self._z_keys[0] - z) / CHEST_MM_PER_LEVEL)
        return float(np.interp(z, self._z_keys, self._u_keys))

    def z_at(self, u: float) -> float:
        """Inverse of :meth:`u_at` (levels to mm)."""
        if u < 0:
            return float(self._z_keys[-1] - u * HEAD_MM_PER_LEVEL)
        if u > self._u_keys[0]:
            return float(self._z_keys[0] - (u - self._u_keys[0]) * CHEST_MM_PER_LEVEL)
        return float(np.interp(-u, -self._u_keys[::-1], self._z_keys[::-1]))

    def _lordosis(self, z: float) -> tuple[float, float]:
        zc = min(max(z, self._curve_limits[0]), self._curve_limits[1])
        q = (zc - self._curve_mid) / self._curve_half
        inside = self._curve_limits[0] < z < self._curve_limits[1]
        return self.lordosis_mm * q * q, (2 * self.lordosis_mm * q / self._curve_half) if inside else 0.0

    def anchor(self, z: float) -> tuple[float, float]:
        """Body-frame (x, y) of the vertebral-body axis at height z; (0, y0) at mid-C3."""
        curve, _ = self._lordosis(z)
        curve0, _ = self._lordosis(0.0)
        top = self.vertebrae["C1"].z_top
        x = self.scoliosis_mm * np.sin(np.pi * min(max(z, -150.0), top) / (top + 150.0))
        return float(x), float(5.0 + curve - curve0 + self.flexion_slope * z)

    def slope(self, z: float) -> float:
        """dy/dz of the spine axis: tilts the endplates (local z = z + slope * y)."""
        return float(np.clip(self._lordosis(z)[1] + self.flexion_slope, -0.3, 0.3))


def sample_geometry(rng: np.random.Generator, subject: Subject) -> NeckGeometry:
    """Heights and discs per vertebra (C3 body 13-16 mm, discs 4-6 mm), curvature, flexion, sizes."""
    stature = float(np.clip(subject.height_m / 1.70, 0.9, 1.12))
    z = 0.0
    h3 = float(rng.uniform(13.0, 16.0))
    verts = {"C3": Vertebra("C3", -h3 / 2, h3 / 2)}
    bottom = -h3 / 2
    for i, name in enumerate(SPINE[3:]):
        bottom -= float(rng.uniform(4.0, 6.0) if i < 5 else rng.uniform(3.5, 5.5))  # disc above
        height = float(rng.uniform(13.0, 16.0) + 0.3 * i if i < 4 else rng.uniform(16.0, 20.0) + 0.4 * (i - 4))
        verts[name] = Vertebra(name, bottom - height * stature ** 0.5, bottom)
        bottom = verts[name].z_bottom
    z = h3 / 2 + float(rng.uniform(4.0, 6.0))
    c2_top = z + float(rng.uniform(15.0, 19.0))
    verts["C2"] = Vertebra("C2", z, c2_top)
    c1_bottom = c2_top + float(rng.uniform(1.0, 2.0))
    c1_top = c1_bottom + float(rng.uniform(11.0, 14.0))
    verts["C1"] = Vertebra("C1", c1_bottom, c1_top)
    dens_top = c1_top - float(rng.uniform(0.5, 2.5))
    z_skull_base = c1_top + float(rng.uniform(4.0, 8.0))

    flexion_deg = float(np.clip(rng.normal(0.0, 7.0), -15.0, 18.0))
    area_rel = subject.muscle_scale * MEAN_SMI[subject.sex] / MEAN_SMI["M"]
    size = stature ** 0.8 * float(rng.uniform(0.95, 1.05))
    radius = size * area_rel ** 0.5
    asym = float(rng.normal(0.0, 0.03))
    geometry = NeckGeometry(
        vertebrae={n: verts[n] for n in SPINE},
        dens_top=dens_top,
        z_skull_base=z_skull_base,
        lordosis_mm=float(rng.uniform(-2.0, 12.0)),
        flexion_slope=-float(np.tan(np.deg2rad(flexion_deg))) * 0.5,
        flexion_levels=flexion_deg * 0.035,
        scoliosis_mm=float(rng.normal(0.0, 2.0)),
        size=size,
        muscle_radius={"L": radius * (1 + asym), "R": radius * (1 - asym)},
        deep_factor=size * (0.65 + 0.35 * area_rel ** 0.5),
        fat_mm=float(np.clip(1.5 + 0.8 * (subject.bmi - 18.0) + rng.normal(0, 1.5), 1.5, 24.0)),
    )
    geometry.nodes = _sample_nodes(rng, geometry)
    return geometry


# (u range, x range, y range) of cervical node stations (Som levels IB, II, III, IV, V), left side.
NODE_STATIONS = (
    ((2.2, 3.3), (14.0, 24.0), (-50.0, -38.0)),
    ((1.8, 3.3), (26.0, 36.0), (-14.0, 2.0)),
    ((3.3, 5.0), (26.0, 34.0), (-22.0, -6.0)),
    ((5.0, 7.0), (24.0, 32.0), (-26.0, -12.0)),
    ((1.5, 6.5), (40.0, 50.0), (18.0, 32.0)),
)


def _sample_nodes(rng: np.random.Generator, geometry: NeckGeometry) -> list[Node]:
    """Cervical lymph nodes: muscle-like attenuation next to the SCM; sometimes one bulky
    (metastatic, necrotic) node, as head-and-neck cancer patients have."""
    nodes = []
    for i in range(int(rng.integers(4, 11))):
        (u0, u1), (x0, x1), (y0, y1) = NODE_STATIONS[int(rng.integers(len(NODE_STATIONS)))]
        side = 1.0 if rng.random() < 0.5 else -1.0
        bulky = i == 0 and rng.random() < 0.3
        r_xy = float(rng.uniform(10.0, 16.0) if bulky else rng.uniform(2.5, 7.0))
        nodes.append(Node(side * float(rng.uniform(x0, x1)) * geometry.size, float(rng.uniform(y0, y1)) * geometry.size,
                          geometry.z_at(float(rng.uniform(u0, u1))), r_xy,
                          r_xy * float(rng.uniform(1.0, 1.8)), bulky or rng.random() < 0.1))
    return nodes


# --- Tables (left side; paired structures are mirrored). Coordinates in mm at size 1.0. ---

# Deep (subfascial) outline of the head, neck and shoulders: rows (u, 0, cy, rx, ry, 0).
DEEP_OUTLINE = Track([
    (-13.0, 0, -8, 8, 10, 0), (-12.0, 0, -10, 36, 44, 0), (-10.0, 0, -14, 64, 80, 0), (-6.0, 0, -20, 66, 88, 0),
    (-3.0, 0, -22, 64, 88, 0), (-1.0, 0, -18, 62, 82, 0), (0.5, 0, -15, 60, 76, 0), (2.0, 0, -8, 57, 68, 0),
    (3.0, 0, -2, 53, 60, 0), (4.0, 0, 2, 50, 56, 0), (5.0, 0, 2, 50, 56, 0), (6.0, 0, 2, 54, 58, 0),
    (7.0, 0, 4, 75, 60, 0), (8.0, 0, 5, 120, 70, 0), (9.0, 0, 0, 150, 88, 0), (11.0, 0, -4, 158, 98, 0),
    (16.0, 0, -4, 160, 102, 0),
])

# Muscles of the C3 preset. Label 1: paravertebral group; label 2: sternocleidomastoid.
LABELLED_MUSCLES: dict[str, tuple[int, Track]] = {
    "longus": (1, Track([(-0.3, 8, -12, 3, 2, 0), (0.5, 10, -13, 6, 4.5, 0), (2.0, 9, -11, 6.5, 4, 0),
                         (5.0, 9.5, -11.5, 7, 4, 0), (8.0, 9, -13, 6, 3.5, 0), (10.0, 7, -13, 1.5, 1, 0)])),
    "scalenes": (1, Track([(2.2, 27, 3, 2, 2, 0), (3.0, 29, 5, 9, 6.5, 60), (4.5, 32, 6, 12, 8, 60), (6.0, 35, 6, 15, 9, 50),
                           (7.0, 39, 5, 17, 10, 40), (8.0, 45, 0, 15, 9, 30), (9.0, 50, -5, 3, 3, 0)])),
    "levator_scapulae": (1, Track([(0.8, 30, 12, 4, 4, 0), (1.5, 33, 16, 9, 7, 65), (3.0, 38, 24, 13, 9, 60),
                                   (5.0, 43, 31, 14, 10, 55), (7.0, 53, 39, 15, 10, 45), (8.5, 66, 46, 13, 9, 30),
                                   (9.8, 76, 52, 3, 3, 0)])),
    "semispinalis_multifidus": (1, Track([(-0.6, 18, 44, 4, 3, 0), (-0.2, 18, 40, 13, 9, 0), (1.0, 14, 36, 12, 14, 0),
                                          (3.0, 12, 35, 11, 16, 0), (5.0, 12, 36, 11, 16, 0), (7.0, 12, 39, 11, 17, 0),
                                          (9.0, 14, 43, 12, 17, 0), (16.0, 17, 47, 16, 20, 0)])),
    "suboccipital": (1, Track([(-0.3, 14, 32, 3, 3, 0), (0.3, 17, 30, 13, 7, -20), (1.5, 14, 27, 9, 6, -20),
                               (2.2, 10, 27, 2, 2, 0)])),
    "splenius": (1, Track([(-0.7, 42, 30, 5, 4, 30), (-0.2, 38, 38, 16, 7, -35), (1.0, 31, 45, 17, 8, -30),
                           (3.0, 27, 47, 16, 8, -30), (5.0, 21, 50, 14, 7, -22), (7.0, 14, 52, 10, 6, -10),
                           (9.0, 8, 53, 5, 3.5, 0), (10.0, 6, 53, 1, 1, 0)])),
    "trapezius": (1, Track([(-0.6, 12, 52, 8, 2.5, 0), (0.5, 15, 54, 14, 3.5, 10), (3.0, 20, 55, 22, 4.5, 15),
                            (5.0, 26, 56, 27, 5.5, 20), (6.5, 38, 57, 34, 7, 20), (7.5, 60, 57, 46, 10, 15),
                            (8.5, 80, 59, 56, 12, 10), (10.0, 60, 72, 48, 10, 5), (16.0, 40, 82, 38, 8, 0)])),
    "sternocleidomastoid": (2, Track([(-0.6, 50, 22, 5, 4, 60), (0.2, 50, 18, 13, 9, 70), (1.5, 48, 8, 17, 9, 60),
                                      (3.0, 44, -6, 19, 8, 45), (4.5, 39, -19, 17, 7.5, 35), (6.0, 32, -32, 15, 7.5, 30),
                                      (7.5, 24, -46, 12, 7.5, 25), (8.8, 16, -54, 8, 5.5, 20), (9.4, 12, -58, 2, 2, 0)])),
}

# Muscles that are NOT in the preset (muscle attenuation, no label): the hard negatives.
# Name -> (track, paired, moves with the jaw when the head flexes).
OTHER_MUSCLES: dict[str, tuple[Track, bool, bool]] = {
    "tongue": (Track([(-0.8, 0, -40, 10, 8, 0), (0.0, 0, -42, 24, 18, 0), (1.5, 0, -44, 26, 20, 0),
                      (2.3, 0, -46, 22, 14, 0), (2.8, 0, -50, 22, 8, 0), (3.2, 0, -52, 6, 3, 0)]), False, True),
    "pterygoids": (Track([(-1.5, 30, -12, 4, 4, 0), (-0.5, 32, -14, 12, 6, 60), (0.8, 34, -16, 10, 5, 60),
                          (1.5, 34, -18, 3, 3, 0)]), True, True),
    "strap": (Track([(3.3, 10, -46, 3, 2, 0), (4.0, 12, -46, 9, 3.5, -15), (5.5, 14, -44, 10, 3.5, -20),
                     (7.0, 15, -42, 10, 3.5, -20), (8.5, 12, -44, 8, 3, -10), (9.2, 10, -46, 2, 2, 0)]), True, False),
    "supraspinatus": (Track([(7.5, 85, 55, 10, 5, 35), (9.0, 82, 60, 24, 8, 35), (16.0, 75, 66, 24, 8, 35)]), True, False),
    "deltoid": (Track([(6.8, 125, 10, 10, 10, 0), (7.5, 140, 5, 30, 25, 0), (16.0, 150, 5, 28, 28, 0)]), True, False),
    "pectoralis": (Track([(8.5, 60, -50, 20, 6, -15), (10.0, 70, -72, 50, 10, -15), (16.0, 70, -82, 55, 12, -15)]),
                   True, False),
}

# Soft tissue and organs (label 0), painted after the muscles. Name -> (track, paired, jaw).
ORGANS: dict[str, tuple[Track, bool, bool]] = {
    "parotid": (Track([(-1.5, 42, -4, 5, 5, 0), (-0.5, 42, -6, 10, 12, 10), (1.0, 40, -8, 9, 11, 10),
                       (2.0, 38, -8, 3, 3, 0)]), True, False),
    "submandibular": (Track([(2.0, 28, -36, 4, 4, 0), (2.6, 30, -36, 11, 9, -20), (3.3, 28, -34, 10, 8, -20),
                             (3.8, 26, -32, 3, 3, 0)]), True, True),
    "thyroid": (Track([(5.2, 18, -26, 3, 3, 0), (6.0, 18, -25, 8, 12, -20), (7.3, 18, -26, 9, 13, -20),
                       (8.2, 15, -27, 3, 4, 0)]), True, False),
    "thyroid_isthmus": (Track([(6.0, 0, -38, 3, 2, 0), (6.4, 0, -39, 10, 3, 0), (6.8, 0, -39, 3, 2, 0)]), False, False),
    "larynx": (Track([(3.6, 0, -30, 8, 9, 0), (4.5, 0, -30, 14, 12, 0), (5.5, 0, -28, 12, 11, 0),
                      (6.2, 0, -27, 10, 10, 0)]), False, False),
    "oesophagus": (Track([(5.6, 0, -14, 6, 3, 0), (6.5, -2, -16, 8, 5, 0), (16.0, -3, -18, 8, 5, 0)]), False, False),
    "lung": (Track([(7.4, 32, 8, 3, 3, 0), (8.0, 36, 8, 14, 16, 0), (9.0, 44, 6, 28, 30, 0), (10.0, 52, 4, 40, 40, 0),
                    (12.0, 58, 0, 50, 52, 0), (16.0, 60, 0, 54, 58, 0)]), True, False),
}
PHARYNX = Track([(-3.0, 0, -20, 10, 6, 0), (-1.0, 0, -18, 13, 7, 0), (1.0, 0, -17, 13, 6, 0), (2.5, 0, -17, 14, 5, 0),
                 (3.5, 0, -18, 14, 6, 0), (4.5, 0, -17, 12, 4, 0), (5.6, 0, -15, 6, 2, 0)])
AIRWAY = Track([(3.6, 0, -31, 3, 5, 0), (4.2, 0, -31, 6, 8, 0), (5.0, 0, -29, 3, 7, 0), (5.8, 0, -28, 7, 7, 0),
                (6.4, 0, -28, 8, 8, 0), (8.0, 0, -30, 9, 8, 0), (16.0, 0, -28, 9, 9, 0)])
THYROID_CARTILAGE = Track([(3.9, 9, -37, 10, 1.4, 42), (5.5, 10, -36, 13, 1.4, 42), (5.7, 10, -36, 4, 1.4, 42)])
CAROTID = Track([(-1.0, 16, 2, 2.5, 2.5, 0), (3.3, 19, -10, 4, 4, 0), (6.0, 26, -14, 4, 4, 0), (8.0, 24, -20, 4, 4, 0),
                 (9.5, 12, -34, 4, 4, 0), (10.5, 8, -36, 5, 5, 0)])
EXTERNAL_CAROTID = Track([(0.0, 24, -12, 2, 2, 0), (3.3, 21, -13, 2.5, 2.5, 0)])
JUGULAR = Track([(-0.8, 30, 12, 3, 3, 0), (0.0, 32, 10, 5, 5, 0), (2.0, 30, 0, 5, 6, 0), (3.5, 30, -6, 6, 7, 0),
                 (5.0, 33, -12, 6, 7, 0), (7.0, 34, -16, 7, 7, 0), (8.5, 26, -30, 7, 6, 0), (9.5, 18, -38, 6, 5, 0),
                 (10.5, 8, -40, 4, 4, 0)])
# Bones other than the spine.
CLAVICLE = Track([(7.2, 95, 0, 10, 6, 15), (7.8, 80, -10, 25, 6, 18), (8.5, 55, -25, 40, 6, 18), (9.2, 30, -42, 18, 7, 20),
                  (9.6, 18, -48, 6, 6, 0)])
SCAPULA = Track([(7.0, 95, 40, 10, 5, 30), (8.0, 88, 48, 25, 4, 35), (10.0, 80, 52, 30, 4, 35), (16.0, 72, 56, 25, 4, 35)])
STERNUM = Track([(9.3, 0, -62, 4, 3, 0), (9.8, 0, -66, 22, 7, 0), (16.0, 0, -80, 16, 6, 0)])
MANDIBLE_RAMUS = Track([(-1.0, 42, -16, 3, 10, 80), (0.0, 44, -18, 4, 13, 80), (1.5, 44, -24, 4, 13, 75),
                        (2.0, 42, -28, 3, 3, 0)])
MASTOID = Track([(-2.0, 48, 22, 6, 6, 0), (-1.0, 50, 22, 10, 10, 0), (0.3, 50, 22, 4, 4, 0)])
PETROUS = Track([(-3.0, 30, 14, 6, 6, 35), (-2.0, 32, 14, 20, 7, 35), (-1.0, 30, 16, 8, 5, 35)])
CONDYLE = Track([(-0.3, 12, 6, 5, 6, 0), (0.1, 13, 6, 6, 8, 0)])
CLIVUS = Track([(-2.5, 0, -2, 10, 10, 0), (-0.8, 0, -2, 9, 8, 0), (-0.1, 0, -8, 6, 4, 0)])
CRANIAL_CAVITY = Track([(-12.6, 0, -8, 8, 10, 0), (-12.0, 0, -10, 30, 38, 0), (-10.0, 0, -14, 58, 74, 0),
                        (-8.0, 0, -10, 60, 76, 0), (-6.5, 0, 10, 54, 62, 0), (-4.0, 0, 30, 46, 42, 0),
                        (-2.0, 0, 33, 38, 30, 0), (-0.8, 0, 30, 22, 18, 0), (-0.1, 0, 22, 10, 9, 0)])
ORBIT = Track([(-8.5, 30, -55, 6, 6, 0), (-7.5, 30, -58, 16, 16, 0), (-6.0, 30, -56, 16, 16, 0), (-5.0, 30, -52, 6, 6, 0)])
GLOBE = Track([(-7.8, 30, -64, 4, 4, 0), (-7.0, 30, -64, 12, 12, 0), (-6.2, 30, -64, 4, 4, 0)])
NASAL = Track([(-7.0, 0, -66, 4, 10, 0), (-5.0, 0, -62, 8, 22, 0), (-1.0, 0, -54, 9, 24, 0), (-0.5, 0, -48, 6, 18, 0)])
MAXILLARY_SINUS = Track([(-5.0, 24, -52, 4, 4, 0), (-4.0, 26, -52, 14, 14, 0), (-1.5, 26, -50, 14, 14, 0),
                         (-0.9, 24, -48, 4, 4, 0)])
# Cervical vertebral body size (rx, ry) and canal (cy, rx, ry), along u, for the generic vertebra.
BODY = Track([(1.0, 0, 0, 8, 8, 0), (3.0, 0, 0, 8.5, 7.5, 0), (5.0, 0, 0, 9.5, 8, 0), (7.0, 0, 0, 11, 8.5, 0),
              (8.0, 0, 0, 12.5, 10, 0), (10.0, 0, 0, 14, 12, 0), (16.0, 0, 0, 15, 14, 0)])
CANAL = Track([(-0.2, 0, 18, 10, 9, 0), (0.0, 0, 16, 13, 11, 0), (1.0, 0, 15, 13, 11, 0), (2.0, 0, 16, 12, 8, 0),
               (3.0, 0, 16, 11, 7, 0), (7.0, 0, 17, 11, 7.5, 0), (8.0, 0, 19.5, 9, 7.5, 0), (16.0, 0, 23, 8, 7, 0)])
SPINOUS_LENGTH = {"C2": 22.0, "C3": 15.0, "C4": 16.0, "C5": 18.0, "C6": 22.0, "C7": 32.0, "T1": 30.0, "T2": 28.0}
