"""Drawing primitives in a body frame (mm), shared by every phantom generator.

Coordinates: x towards the patient's left, y towards posterior, z towards superior (LPS), in
millimetres relative to the body centre. Generators draw on these coordinates, so rotating or
shifting the patient in the scanner is a change of coordinates, not of drawing code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage


@dataclass
class Frame:
    """The voxel grid and how it sits on the body: in-plane rotation and shift of the patient."""

    shape: tuple[int, int, int]  # (nz, ny, nx)
    spacing: tuple[float, float, float]  # (sx, sy, sz) mm
    z_start_mm: float  # body z of slice 0
    rotation_deg: float = 0.0  # patient rotated in-plane (about z)
    shift_mm: tuple[float, float] = (0.0, 0.0)  # patient off-centre (x, y)
    _xy: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)

    @property
    def nz(self) -> int:
        return self.shape[0]

    def z_mm(self, k: int | float) -> float:
        """Body z (mm) of slice ``k``."""
        return self.z_start_mm + float(k) * self.spacing[2]

    def slice_of(self, z_mm: float) -> float:
        """Fractional slice index of body z (mm)."""
        return (z_mm - self.z_start_mm) / self.spacing[2]

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Body-frame (x, y) in mm of every pixel of a slice, each shaped (ny, nx)."""
        if self._xy is None:
            _, ny, nx = self.shape
            sx, sy, _ = self.spacing
            px = (np.arange(nx) - (nx - 1) / 2) * sx - self.shift_mm[0]
            py = (np.arange(ny) - (ny - 1) / 2) * sy - self.shift_mm[1]
            gx, gy = np.meshgrid(px, py)
            t = np.deg2rad(self.rotation_deg)
            self._xy = (np.cos(t) * gx + np.sin(t) * gy, -np.sin(t) * gx + np.cos(t) * gy)
        return self._xy


def ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float, angle_deg: float = 0.0,
            power: float = 2.0) -> np.ndarray:
    """Mask of a (super)ellipse centred at (cx, cy) with radii (rx, ry), rotated by ``angle_deg``."""
    if rx <= 0 or ry <= 0:
        return np.zeros(x.shape, dtype=bool)
    t = np.deg2rad(angle_deg)
    dx, dy = x - cx, y - cy
    u = (np.cos(t) * dx + np.sin(t) * dy) / rx
    v = (-np.sin(t) * dx + np.cos(t) * dy) / ry
    return np.abs(u) ** power + np.abs(v) ** power <= 1.0


def ring(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float, thickness: float,
         angle_deg: float = 0.0) -> np.ndarray:
    """An elliptical shell of the given thickness (mm) inside the ellipse (rx, ry)."""
    outer = ellipse(x, y, cx, cy, rx, ry, angle_deg)
    inner = ellipse(x, y, cx, cy, rx - thickness, ry - thickness, angle_deg)
    return outer & ~inner


def angular_sector(x: np.ndarray, y: np.ndarray, cx: float, cy: float, start_deg: float, stop_deg: float) -> np.ndarray:
    """Pixels whose direction from (cx, cy) lies between two angles (degrees, counter-clockwise from +x)."""
    angle = np.rad2deg(np.arctan2(y - cy, x - cx)) % 360.0
    start, stop = start_deg % 360.0, stop_deg % 360.0
    return (angle >= start) & (angle < stop) if start <= stop else (angle >= start) | (angle < stop)


def ellipsoid(z: np.ndarray, y: np.ndarray, x: np.ndarray, center: tuple[float, float, float],
              radii: tuple[float, float, float]) -> np.ndarray:
    """Mask of an axis-aligned ellipsoid; ``center``/``radii`` in (x, y, z) order, coordinates in mm."""
    cx, cy, cz = center
    rx, ry, rz = radii
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1.0


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: float, amplitude: float = 1.0) -> np.ndarray:
    """Smooth random field with zero mean and the given standard deviation (lumpiness, bias fields)."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_vox, mode="wrap")
    sd = float(noise.std()) or 1.0
    return (noise / sd * amplitude).astype(np.float32)


@dataclass
class Canvas:
    """A volume being painted: intensities plus the preset label map and any extra label maps.

    Painting is in order: what is painted later covers what was painted before, like tissue
    layers drawn from the outside in.
    """

    shape: tuple[int, int, int]
    background: float
    extra_label_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.image = np.full(self.shape, self.background, dtype=np.float32)
        self.labels = np.zeros(self.shape, dtype=np.uint16)
        self.extra = {name: np.zeros(self.shape, dtype=np.uint16) for name in self.extra_label_names}

    def paint(self, k: int, mask: np.ndarray, value: float, label: int | None = 0,
              extra: dict[str, int] | None = None) -> None:
        """Set slice ``k`` to ``value`` inside ``mask``; ``label`` 0 clears the preset label there,
        ``None`` leaves labels alone (for texture inside a labelled structure)."""
        self.image[k][mask] = value
        if label is not None:
            self.labels[k][mask] = label
        for name, extra_label in (extra or {}).items():
            self.extra[name][k][mask] = extra_label

    def paint_volume(self, mask: np.ndarray, value: float | np.ndarray, label: int | None = 0,
                     extra: dict[str, int] | None = None) -> None:
        """3D version of :meth:`paint` for generators that draw whole volumes."""
        self.image[mask] = value if np.isscalar(value) else value[mask]
        if label is not None:
            self.labels[mask] = label
        for name, extra_label in (extra or {}).items():
            self.extra[name][mask] = extra_label
