"""Anatomy of the synthetic head, drawn as signed-distance shapes in a head frame.

Head frame: millimetres of an average adult head (``HeadPainter`` divides by the head scale),
origin at the centre of the cranial vault, x to the patient's left, y posterior, z superior.
The globe centres sit at z = ``EYE_Z``. Shapes are approximate signed distances (negative
inside), so tissue layers (skin, fat, muscle, bone tables, diploe, CSF) are offsets of one
surface and stay consistent when the head is rotated in the scanner.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

EYE_Z = -38.0
EYE_X, EYE_Y, GLOBE_RADIUS = 31.0, -66.0, 12.0
ORBIT_CENTER = (29.0, -56.0, EYE_Z + 2.0)  # left orbit; the right one is mirrored
ORBIT_RADII = (17.0, 27.0, 16.0)
ORBIT_YAW_DEG = 20.0  # orbital axes diverge: apex medial-posterior
ARCH_Z = EYE_Z - 16.0  # zygomatic arch centre height
CRANIUM_CENTER_Y = 6.0
CRANIUM_RADII = (64.0, 88.0, 80.0, 85.0)  # x, y, z above the centre, z below (outer table)
CRANIUM_POWER_XY, CRANIUM_POWER_Z_BELOW = 2.3, 3.0
ANTERIOR_FOSSA_Z, MIDDLE_FOSSA_Z, POSTERIOR_FOSSA_Z = EYE_Z + 20.0, EYE_Z - 14.0, EYE_Z - 36.0
TEMPORALIS_BOTTOM_Z = EYE_Z - 34.0  # insertion on the coronoid process, below the arch
PEAK_V = 8.0  # height above the globe centres where the temporalis is thickest

# Structure ids of the "head_structures" extra label map (confounders, for finders and tests).
STRUCTURES = {"globe": 1, "lens": 2, "optic_nerve": 3, "extraocular_muscle": 4, "masseter": 5,
              "lateral_pterygoid": 6, "zygomatic_arch": 7, "orbital_roof": 8, "skull": 9, "brain": 10,
              "orbital_fat": 11, "sinus": 12, "mandible": 13}


def sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def ellipsoid_sdf(x: np.ndarray, y: np.ndarray, z: np.ndarray, center: tuple[float, float, float],
                  radii: tuple[float, float, float], yaw_deg: float = 0.0) -> np.ndarray:
    """Approximate signed distance (mm) to an ellipsoid, optionally turned about the vertical axis."""
    dx, dy, dz = x - center[0], y - center[1], z - center[2]
    if yaw_deg:
        c, s = np.cos(np.deg2rad(yaw_deg)), np.sin(np.deg2rad(yaw_deg))
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    rx, ry, rz = radii
    q = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2 + (dz / rz) ** 2)
    grad = np.sqrt((dx / rx**2) ** 2 + (dy / ry**2) ** 2 + (dz / rz**2) ** 2)
    return (q - 1.0) * q / np.maximum(grad, 1e-6)


def capsule_sdf(x: np.ndarray, y: np.ndarray, z: np.ndarray, a: tuple[float, float, float],
                b: tuple[float, float, float], radius: float) -> np.ndarray:
    """Signed distance to a rounded tube from ``a`` to ``b`` (nerves, vessels, bony bars)."""
    ab = np.subtract(b, a, dtype=np.float64)
    px, py, pz = x - a[0], y - a[1], z - a[2]
    t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) / float(ab @ ab), 0.0, 1.0)
    return np.sqrt((px - t * ab[0]) ** 2 + (py - t * ab[1]) ** 2 + (pz - t * ab[2]) ** 2) - radius


def cranium_sdf(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Outer table of the skull: a boxy ovoid that narrows faster below its centre (skull base).

    Written with few fractional powers: this runs on every voxel and dominates generation time.
    """
    a, b, c_up, c_down = (np.float32(r) for r in CRANIUM_RADII)
    p = np.float32(CRANIUM_POWER_XY)
    ax, ay = np.abs(x) / a + np.float32(1e-6), np.abs(y - np.float32(CRANIUM_CENTER_Y)) / b + np.float32(1e-6)
    ax_p, ay_p = ax**p, ay**p
    s_xy = ax_p + ay_p
    root_xy = s_xy ** np.float32(1.0 / p)
    below = z < 0
    c = np.where(below, c_down, c_up)
    az = np.abs(z) / c
    az2 = az * az
    f = root_xy * root_xy + np.where(below, az2 * az, az2)
    common = np.float32(2.0) * root_xy * root_xy / s_xy
    gx = common * ax_p / (ax * a)
    gy = common * ay_p / (ay * b)
    gz = np.where(below, np.float32(3.0) * az2, np.float32(2.0) * az) / c
    root = np.sqrt(f)
    return (root - np.float32(1.0)) * np.float32(2.0) * root / np.maximum(np.sqrt(gx * gx + gy * gy + gz * gz), 1e-6)


def cranial_floor(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Height of the cranial-cavity floor (anterior, middle, posterior fossae) and its slope norm."""
    t1, t2 = sigmoid((y + 36.0) / 2.5), sigmoid((y - 22.0) / 3.0)
    sella = 16.0 * np.exp(-((x / 16.0) ** 4)) * t1 * (1.0 - t2)
    floor = ANTERIOR_FOSSA_Z + (MIDDLE_FOSSA_Z - ANTERIOR_FOSSA_Z) * t1 + (POSTERIOR_FOSSA_Z - MIDDLE_FOSSA_Z) * t2
    slope = ((MIDDLE_FOSSA_Z - ANTERIOR_FOSSA_Z) * t1 * (1 - t1) / 2.5
             + (POSTERIOR_FOSSA_Z - MIDDLE_FOSSA_Z) * t2 * (1 - t2) / 3.0)
    return floor + sella, np.sqrt(1.0 + slope**2)


def temporalis_thickness(y: np.ndarray, z: np.ndarray, peak_mm: float) -> np.ndarray:
    """Thickness (mm, perpendicular to the skull) of the temporalis fan at head-frame (y, z).

    The fan spans from the superior temporal line down beneath the zygomatic arch to the coronoid
    process; it is thickest from just below the orbits to above the orbital roof and anteriorly,
    thinning towards the temporal line and posteriorly.
    """
    v = z - EYE_Z
    temporal_line = 18.0 + 56.0 * np.sqrt(np.clip(1.0 - ((y - 2.0) / 60.0) ** 2, 0.0, 1.0))
    # A smooth maximum a little above mid-orbit, so CSA peaks at the superior orbital quarter.
    width = np.where(v > PEAK_V, 36.0, 46.0).astype(np.float32)
    vertical = np.exp(-(((v - PEAK_V) / width) ** 2)) * np.clip((temporal_line - v) / 6.0, 0.0, 1.0)
    # Below the arch the fan converges on the coronoid process: its y-range narrows. Its posterior
    # fibres reach behind the ear only higher up, where the fan is thin.
    low = np.clip((-6.0 - v) / (-6.0 - (TEMPORALIS_BOTTOM_Z - EYE_Z)), 0.0, 1.0)
    front = -58.0 + 16.0 * low
    back = 30.0 + 0.7 * np.clip(v - 15.0, 0.0, 40.0) - 44.0 * low
    extent = np.clip((y - front) / 5.0, 0.0, 1.0) * np.clip((back - y) / 10.0, 0.0, 1.0)
    extent = extent * np.clip((v - (TEMPORALIS_BOTTOM_Z - EYE_Z)) / 5.0, 0.0, 1.0)
    anterior = 0.3 + 0.7 * np.exp(-(((y + 30.0) / 32.0) ** 2))
    return (peak_mm * vertical * anterior * extent).astype(np.float32)


@dataclass
class HeadPainter:
    """Paints tissues into the canonical scanner grid of one case.

    Keeps the head-frame coordinates of every voxel (computed once) and evaluates each shape only
    inside the scanner-grid box that its head-frame bounding box maps to.
    """

    shape: tuple[int, int, int]  # (nz, ny, nx)
    spacing: tuple[float, float, float]  # (sx, sy, sz)
    z0_mm: float  # scanner z of slice 0
    head_center_mm: tuple[float, float, float]  # scanner position of the head-frame origin
    rotation: np.ndarray  # 3x3, head frame -> scanner
    scale: float  # linear head size; head-frame mm = scanner mm / scale
    background: float

    def __post_init__(self) -> None:
        nz, ny, nx = self.shape
        sx, sy, sz = self.spacing
        c = np.asarray(self.head_center_mm)
        sxv = ((np.arange(nx) - (nx - 1) / 2) * sx - c[0]).astype(np.float32)
        syv = ((np.arange(ny) - (ny - 1) / 2) * sy - c[1]).astype(np.float32)
        szv = (self.z0_mm + np.arange(nz) * sz - c[2]).astype(np.float32)
        inv = (self.rotation.T / self.scale).astype(np.float32)
        self.x, self.y, self.z = (inv[i, 0] * sxv[None, None, :] + inv[i, 1] * syv[None, :, None]
                                  + inv[i, 2] * szv[:, None, None] for i in range(3))
        self.image = np.full(self.shape, self.background, dtype=np.float32)
        self.labels = np.zeros(self.shape, dtype=np.uint8)
        self.structures = np.zeros(self.shape, dtype=np.uint8)

    def to_scanner(self, point: tuple[float, float, float]) -> np.ndarray:
        """Scanner position (mm) of a head-frame point."""
        return self.rotation @ (np.asarray(point, dtype=float) * self.scale) + np.asarray(self.head_center_mm)

    def to_index(self, point: tuple[float, float, float]) -> np.ndarray:
        """Fractional canonical (z, y, x) index of a head-frame point."""
        p = self.to_scanner(point)
        nz, ny, nx = self.shape
        sx, sy, sz = self.spacing
        return np.array([(p[2] - self.z0_mm) / sz, p[1] / sy + (ny - 1) / 2, p[0] / sx + (nx - 1) / 2])

    def box(self, lo: tuple[float, float, float], hi: tuple[float, float, float]) -> tuple[slice, slice, slice]:
        """Grid box covering the head-frame box [lo, hi]."""
        corners = np.array([self.to_index(c) for c in itertools.product(*zip(lo, hi, strict=True))])
        first = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
        last = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, self.shape)
        return tuple(slice(int(a), int(max(a, b))) for a, b in zip(first, last, strict=True))

    def coords(self, region: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.x[region], self.y[region], self.z[region]

    def paint(self, region: tuple[slice, ...], mask: np.ndarray, value: float, label: int = 0,
              structure: int | None = 0) -> None:
        """Later paint covers earlier paint; ``label`` 0 clears the temporalis label there."""
        self.image[region][mask] = value
        self.labels[region][mask] = label
        if structure is not None:
            self.structures[region][mask] = structure

    def side(self, lo: tuple[float, float, float], hi: tuple[float, float, float], side: int):
        """Box and coordinates of a shape given for the left side (x > 0), mirrored when side is -1."""
        if side < 0:
            lo, hi = (-hi[0], lo[1], lo[2]), (-lo[0], hi[1], hi[2])
        region = self.box(lo, hi)
        return region, *self.coords(region)

    def whole(self):
        """The whole grid and its coordinates."""
        region = (slice(None), slice(None), slice(None))
        return region, self.x, self.y, self.z


@dataclass(frozen=True)
class HeadParams:
    """Per-case sizes (real mm) that the drawing needs."""

    temporalis_peak_mm: tuple[float, float]  # (right, left) peak thickness of the fan
    masseter_mm: float
    scalp_fat_mm: float
    skin_mm: float
    skull_mm: float


def draw_head(p: HeadPainter, v: dict[str, float], params: HeadParams) -> None:
    """Paint the whole head, outside in; later structures cover earlier ones."""
    s = p.scale
    cavity = _draw_scalp_muscle_skull(p, v, params)
    _draw_brain(p, v, cavity)
    _draw_sinuses(p, v)
    for side in (-1, 1):
        _draw_orbit(p, v, side)
        _draw_zygoma(p, v, side)
        _draw_jaw(p, v, side, params.masseter_mm / s)


def _draw_scalp_muscle_skull(p: HeadPainter, v: dict[str, float], params: HeadParams) -> np.ndarray:
    """Scalp, temporalis and calvarium; returns the signed distance to the inner table (cavity)."""
    s = p.scale
    region, x, y, z = p.whole()
    right, left = params.temporalis_peak_mm
    thickness = temporalis_thickness(y, z, 1.0) * np.where(x > 0, left / s, right / s).astype(np.float32)
    skull = cranium_sdf(x, y, z) + 0.5 * thickness  # the temporal fossa is a hollow the muscle fills
    fat, skin = params.scalp_fat_mm / s, params.skin_mm / s
    face = np.minimum(ellipsoid_sdf(x, y, z, (0.0, -18.0, EYE_Z - 45.0), (78.0, 72.0, 50.0)),
                      ellipsoid_sdf(x, y, z, (0.0, -80.0, EYE_Z - 24.0), (11.0, 16.0, 22.0)))  # nose
    outer = np.minimum(skull - thickness - fat - skin, face)
    p.paint(region, outer < 0, v["fat"])
    p.paint(region, (outer < 0) & (outer > -skin), v["skin"])
    floor, slope = cranial_floor(x, y)
    above_floor = (z - floor) / slope
    deep = (outer < -(fat + skin + 2.0)) & (above_floor < -3.0) & (z < EYE_Z - 12.0)
    p.paint(region, deep, 0.6 * v["fat"] + 0.4 * v["muscle"])  # parotid, parapharyngeal fat
    neck = deep & (y > 25.0) & (z < POSTERIOR_FOSSA_Z - 4.0)
    p.paint(region, neck, v["muscle"])
    # Below the arch the muscle does not follow the skull base medially: it descends, converging
    # on the coronoid process medial to the masseter.
    descent = np.maximum(ARCH_Z - z, 0.0)
    bed = skull.copy()
    low = z < ARCH_Z
    bed[low] = cranium_sdf(x[low], y[low], np.full(int(low.sum()), ARCH_Z, np.float32)) + (
        0.5 * thickness[low] + 0.45 * descent[low])
    muscle = (bed > 0) & (bed < thickness) & (thickness > 0.4) & ~((z < ARCH_Z - 4.0) & (np.abs(x) > 52.0))
    p.paint(region, muscle, v["muscle"], label=1)
    vessel = (outer > -(skin + 0.6 * fat)) & (outer < -skin) & (np.abs(y - 12.0) < 1.6)
    p.paint(region, vessel & (z > ARCH_Z) & (z < EYE_Z + 55.0), v["blood"])  # superficial temporal vessels
    table = params.skull_mm / s * (1.0 - 0.55 * np.clip(thickness / 2.0, 0.0, 1.0))
    bone = (skull < 0) & (above_floor > -2.5) & ((skull > -table) | (above_floor < 0))
    p.paint(region, bone, v["cortical_bone"], structure=STRUCTURES["skull"])
    diploe = (skull < -1.2) & (skull > 1.2 - table) & (above_floor > 0.5)
    p.paint(region, diploe, v["marrow"], structure=STRUCTURES["skull"])
    return np.maximum(skull + table, -above_floor)


def _draw_brain(p: HeadPainter, v: dict[str, float], cavity: np.ndarray) -> None:
    region, x, y, z = p.whole()
    p.paint(region, cavity < 0, v["csf"], structure=STRUCTURES["brain"])
    p.paint(region, cavity < -1.3, 0.9 * v["brain"], structure=STRUCTURES["brain"])  # cortex
    p.paint(region, cavity < -4.5, v["brain"], structure=STRUCTURES["brain"])
    p.paint(region, (cavity < 0) & (np.abs(x) < 1.0) & (z > -12.0), v["csf"])  # interhemispheric fissure
    sagittal = (cavity < 0) & (cavity > -6.0) & (np.abs(x) < 4.5 * (1.0 + cavity / 6.0)) & (z > -25.0)
    p.paint(region, sagittal, v["blood"])  # superior sagittal sinus
    transverse = (cavity < 0) & (cavity > -6.0) & (np.abs(z - (EYE_Z - 4.0)) < 3.0) & (y > 50.0)
    p.paint(region, transverse, v["blood"])
    box = p.box((-30.0, -40.0, EYE_Z - 20.0), (30.0, 45.0, 40.0))
    bx, by, bz = p.coords(box)
    for side in (-1, 1):
        horn = ellipsoid_sdf(bx, by, bz, (side * 10.0, 0.0, 10.0), (6.0, 28.0, 9.0), yaw_deg=side * 8.0)
        p.paint(box, horn < 0, v["csf"], structure=STRUCTURES["brain"])
        p.paint(box, ellipsoid_sdf(bx, by, bz, (side * 15.0, -12.0, -2.0), (6.0, 7.0, 6.0)) < 0, v["blood"])
    p.paint(box, ellipsoid_sdf(bx, by, bz, (0.0, 2.0, -14.0), (2.0, 12.0, 10.0)) < 0, v["csf"])
    for side in (-1, 1):  # cavernous sinuses beside the sella
        p.paint(box, ellipsoid_sdf(bx, by, bz, (side * 16.0, -22.0, EYE_Z - 2.0), (4.5, 9.0, 6.0)) < 0, v["blood"])


def _paint_air_cell(p: HeadPainter, v: dict[str, float], center: tuple[float, float, float],
                    radii: tuple[float, float, float]) -> None:
    """A sinus: thin bony wall, enhancing mucosa, air."""
    lo = tuple(c - r - 3.0 for c, r in zip(center, radii, strict=True))
    hi = tuple(c + r + 3.0 for c, r in zip(center, radii, strict=True))
    box = p.box(lo, hi)
    d = ellipsoid_sdf(*p.coords(box), center, radii)
    p.paint(box, d < 1.5, v["cortical_bone"], structure=STRUCTURES["skull"])
    p.paint(box, d < 0, v["mucosa"], structure=STRUCTURES["sinus"])
    p.paint(box, d < -1.5, v["sinus_air"], structure=STRUCTURES["sinus"])


def _draw_sinuses(p: HeadPainter, v: dict[str, float]) -> None:
    box = p.box((-16.0, -84.0, EYE_Z - 46.0), (16.0, -28.0, EYE_Z + 20.0))
    x, y, z = p.coords(box)
    ethmoid = (np.abs(x) < 12.0) & (y > -74.0) & (y < -34.0) & (z > EYE_Z - 8.0) & (z < EYE_Z + 18.0)
    p.paint(box, ethmoid, 0.5 * v["mucosa"], structure=STRUCTURES["skull"])  # septa with mucosa
    cells = (np.abs(np.sin(x * 0.7)) > 0.45) & (np.abs(np.sin(y * 0.45)) > 0.5) & (np.abs(np.sin(z * 0.45)) > 0.5)
    p.paint(box, ethmoid & cells & (np.abs(x) < 11.0), v["sinus_air"], structure=STRUCTURES["sinus"])
    nasal = (np.abs(x) < 15.0) & (y > -82.0) & (y < -30.0) & (z > EYE_Z - 44.0) & (z < EYE_Z - 8.0)
    p.paint(box, nasal, v["cortical_bone"], structure=STRUCTURES["skull"])
    p.paint(box, nasal & (np.abs(x) < 13.5) & (np.abs(x) > 1.0), v["sinus_air"], structure=STRUCTURES["sinus"])
    for side in (-1, 1):
        for height in (EYE_Z - 20.0, EYE_Z - 32.0):
            turbinate = ellipsoid_sdf(x, y, z, (side * 12.0, -55.0, height), (4.0, 20.0, 4.0)) < 0
            p.paint(box, turbinate & nasal, v["mucosa"], structure=STRUCTURES["sinus"])
        _paint_air_cell(p, v, (side * 29.0, -52.0, EYE_Z - 30.0), (13.0, 16.0, 14.0))  # maxillary
    _paint_air_cell(p, v, (0.0, -22.0, EYE_Z - 6.0), (12.0, 10.0, 8.5))  # sphenoid
    _paint_air_cell(p, v, (0.0, -12.0, EYE_Z - 44.0), (12.0, 8.0, 9.0))  # nasopharynx
    _paint_air_cell(p, v, (0.0, -79.0, EYE_Z + 32.0), (12.0, 3.5, 8.0))  # frontal


def _draw_orbit(p: HeadPainter, v: dict[str, float], side: int) -> None:
    box, x, y, z = p.side((6.0, -86.0, EYE_Z - 18.0), (50.0, -26.0, EYE_Z + 22.0), side)
    ox, oy, oz = ORBIT_CENTER
    orbit = ellipsoid_sdf(x, y, z, (side * ox, oy, oz), ORBIT_RADII, yaw_deg=side * ORBIT_YAW_DEG)
    wall = (orbit < 1.6) & (y > -72.0)
    p.paint(box, wall, v["cortical_bone"], structure=STRUCTURES["skull"])
    p.paint(box, wall & (orbit > 0) & (z > EYE_Z + 8.0), v["cortical_bone"], structure=STRUCTURES["orbital_roof"])
    p.paint(box, orbit < 0, v["fat"], structure=STRUCTURES["orbital_fat"])
    apex = (side * 16.0, -32.0, EYE_Z + 1.0)
    insertions = [(EYE_X + 11.0, -68.0, EYE_Z), (EYE_X - 11.0, -68.0, EYE_Z),
                  (EYE_X, -68.0, EYE_Z + 11.0), (EYE_X, -68.0, EYE_Z - 11.0)]
    for ix, iy, iz in insertions:
        rectus = capsule_sdf(x, y, z, apex, (side * ix, iy, iz), 2.4)
        p.paint(box, rectus < 0, v["muscle"], structure=STRUCTURES["extraocular_muscle"])
    nerve = capsule_sdf(x, y, z, (side * 16.5, -31.0, EYE_Z + 1.0), (side * EYE_X, EYE_Y + 9.0, EYE_Z), 2.2)
    p.paint(box, nerve < 0, v["optic_nerve"], structure=STRUCTURES["optic_nerve"])
    eye = (side * EYE_X, EYE_Y, EYE_Z)
    globe = ellipsoid_sdf(x, y, z, eye, (GLOBE_RADIUS,) * 3)
    p.paint(box, globe < 0, 0.5 * v["muscle"], structure=STRUCTURES["globe"])  # sclera, enhancing choroid
    p.paint(box, globe < -1.0, v["vitreous"], structure=STRUCTURES["globe"])
    lens = ellipsoid_sdf(x, y, z, (eye[0], EYE_Y - GLOBE_RADIUS + 3.5, EYE_Z), (4.5, 2.0, 4.5))
    p.paint(box, lens < 0, v["lens"], structure=STRUCTURES["lens"])


def _paint_bone(p: HeadPainter, box: tuple[slice, ...], distance: np.ndarray, v: dict[str, float],
                structure: int, cortex: float = 1.5) -> None:
    """Dense cortex around fatty (bright) marrow."""
    p.paint(box, distance < 0, v["cortical_bone"], structure=structure)
    p.paint(box, distance < -cortex, v["marrow"], structure=structure)


def _draw_zygoma(p: HeadPainter, v: dict[str, float], side: int) -> None:
    box, x, y, z = p.side((36.0, -74.0, ARCH_Z - 12.0), (72.0, 16.0, EYE_Z + 24.0), side)
    arch_x = side * (62.5 - 5.0 * ((y + 22.0) / 38.0) ** 2)
    along = np.maximum(-60.0 - y, y - 14.0)
    arch = np.maximum(np.maximum(np.abs(x - arch_x) - 2.8, np.abs(z - ARCH_Z) - 4.2), along)
    structure = STRUCTURES["zygomatic_arch"]
    _paint_bone(p, box, arch, v, structure, cortex=1.4)
    body = ellipsoid_sdf(x, y, z, (side * 50.0, -62.0, ARCH_Z + 2.0), (8.0, 9.0, 9.0))
    _paint_bone(p, box, body, v, structure)
    rim = capsule_sdf(x, y, z, (side * 48.0, -64.0, ARCH_Z + 6.0), (side * 46.0, -62.0, EYE_Z + 20.0), 4.0)
    _paint_bone(p, box, rim, v, STRUCTURES["skull"])


def _draw_jaw(p: HeadPainter, v: dict[str, float], side: int, masseter: float) -> None:
    box, x, y, z = p.side((14.0, -52.0, EYE_Z - 120.0), (74.0, 16.0, ARCH_Z + 8.0), side)
    center = (side * (52.5 + masseter / 2), -14.0, ARCH_Z - 34.0)
    masseter_sdf = ellipsoid_sdf(x, y, z, center, (masseter / 2, 23.0, 32.0))
    p.paint(box, (masseter_sdf < 0) & (z < ARCH_Z - 4.4), v["muscle"], structure=STRUCTURES["masseter"])
    pterygoid = capsule_sdf(x, y, z, (side * 44.0, 0.0, ARCH_Z - 7.0), (side * 24.0, -22.0, ARCH_Z - 11.0), 6.0)
    p.paint(box, pterygoid < 0, v["muscle"], structure=STRUCTURES["lateral_pterygoid"])
    ax = np.abs(x)
    ramus = np.maximum(np.maximum(np.abs(ax - 49.5) - 2.8, np.maximum(-24.0 - y, y - 6.0)), z - (ARCH_Z - 14.0))
    coronoid = np.maximum(np.maximum(np.abs(ax - 46.5) - 2.3, np.maximum(-38.0 - y, y + 22.0)), z - (ARCH_Z - 5.0))
    condyle = ellipsoid_sdf(x, y, z, (side * 49.0, 1.0, ARCH_Z + 1.0), (7.0, 4.5, 5.0))
    neck = capsule_sdf(x, y, z, (side * 49.0, 1.0, ARCH_Z), (side * 49.5, 0.0, ARCH_Z - 16.0), 3.2)
    mandible = np.minimum(np.minimum(ramus, coronoid), np.minimum(condyle, neck))
    _paint_bone(p, box, mandible, v, STRUCTURES["mandible"], cortex=1.2)
