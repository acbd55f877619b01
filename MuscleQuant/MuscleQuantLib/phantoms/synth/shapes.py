"""Drawing primitives on a millimetre canvas: ellipses whose outline is bent by a few random
harmonics (organ and muscle shapes), rings, and the elastic deformation of a whole label map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass
class Canvas:
    """A tissue label map on a square-pixel grid centred on the body; x to the patient's left, y posterior."""

    labels: np.ndarray  # (H, W) uint8
    pixel_mm: float
    x0: float  # mm of column 0
    y0: float  # mm of row 0

    @classmethod
    def empty(cls, width_mm: float, height_mm: float, pixel_mm: float, y_centre: float = 0.0) -> Canvas:
        w, h = int(round(width_mm / pixel_mm)), int(round(height_mm / pixel_mm))
        return cls(np.zeros((h, w), dtype=np.uint8), pixel_mm, -w * pixel_mm / 2, y_centre - h * pixel_mm / 2)

    def window(self, cx: float, cy: float, reach: float) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        """Rows/columns within ``reach`` mm of (cx, cy) and their mm coordinates; None when off the canvas."""
        h, w = self.labels.shape
        c0, c1 = int((cx - reach - self.x0) / self.pixel_mm), int((cx + reach - self.x0) / self.pixel_mm) + 2
        r0, r1 = int((cy - reach - self.y0) / self.pixel_mm), int((cy + reach - self.y0) / self.pixel_mm) + 2
        c0, c1, r0, r1 = max(c0, 0), min(c1, w), max(r0, 0), min(r1, h)
        if c0 >= c1 or r0 >= r1:
            return None
        x = self.x0 + (np.arange(c0, c1, dtype=np.float32) + 0.5) * self.pixel_mm
        y = self.y0 + (np.arange(r0, r1, dtype=np.float32) + 0.5) * self.pixel_mm
        return slice(r0, r1), slice(c0, c1), x[None, :], y[:, None]

    def blob(self, value: int, cx: float, cy: float, rx: float, ry: float, angle_deg: float = 0.0,
             wobble: np.ndarray | None = None, within: tuple[int, ...] | None = None,
             power: float = 2.0) -> np.ndarray | None:
        """Paint a (super)ellipse, its radius bent by ``wobble`` harmonics; returns the painted mask
        (window-sized) or None. ``within`` restricts painting to pixels of those classes."""
        reach = max(rx, ry) * (1.0 + (np.abs(wobble[:, 1]).sum() if wobble is not None else 0.0)) + 2.0
        win = self.window(cx, cy, reach)
        if win is None or rx <= 0 or ry <= 0:
            return None
        rows, cols, x, y = win
        a = np.deg2rad(angle_deg)
        dx, dy = x - cx, y - cy
        u = (dx * np.cos(a) + dy * np.sin(a)) / rx
        v = (-dx * np.sin(a) + dy * np.cos(a)) / ry
        r = (np.abs(u) ** power + np.abs(v) ** power) ** (1.0 / power)
        if wobble is not None:
            theta = np.arctan2(v, u)
            bend = np.ones_like(r)
            for k, amplitude, phase in wobble:
                bend += amplitude * np.cos(k * theta + phase)
            mask = r <= bend
        else:
            mask = r <= 1.0
        target = self.labels[rows, cols]
        if within is not None:
            mask &= np.isin(target, within)
        target[mask] = value
        return mask

    def ring(self, value: int, cx: float, cy: float, rx: float, ry: float, thickness: float,
             angles: tuple[float, float] | None = None, within: tuple[int, ...] | None = None) -> None:
        """An elliptic band ``thickness`` mm thick inside the ellipse (rx, ry), optionally only between
        two polar angles (degrees, 0 = anterior midline, ±180 posterior, + towards the patient's left)."""
        win = self.window(cx, cy, max(rx, ry) + 2.0)
        if win is None:
            return
        rows, cols, x, y = win
        dx, dy = x - cx, y - cy
        outer = (dx / rx) ** 2 + (dy / ry) ** 2 <= 1.0
        inner = (dx / max(rx - thickness, 1.0)) ** 2 + (dy / max(ry - thickness, 1.0)) ** 2 <= 1.0
        mask = outer & ~inner
        if angles is not None:
            polar = np.rad2deg(np.arctan2(dx, -dy))
            lo, hi = angles
            mask &= (polar >= lo) & (polar <= hi)
        target = self.labels[rows, cols]
        if within is not None:
            mask &= np.isin(target, within)
        target[mask] = value

    def fill(self, value: int, mask: np.ndarray) -> None:
        self.labels[mask] = value

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.labels.shape
        x = self.x0 + (np.arange(w, dtype=np.float32) + 0.5) * self.pixel_mm
        y = self.y0 + (np.arange(h, dtype=np.float32) + 0.5) * self.pixel_mm
        return x[None, :], y[:, None]


def wobble(rng: np.random.Generator, strength: float, harmonics: int = 4) -> np.ndarray | None:
    """Random outline harmonics (k, amplitude, phase); None when ``strength`` is 0 (a plain ellipse)."""
    if strength <= 0:
        return None
    k = np.arange(2, 2 + harmonics, dtype=np.float32)
    amplitude = rng.uniform(0, strength, harmonics) / k
    return np.stack([k, amplitude, rng.uniform(0, 2 * np.pi, harmonics)], axis=1).astype(np.float32)


def elastic(labels: np.ndarray, rng: np.random.Generator, sd_px: float, control: int = 6) -> np.ndarray:
    """Warp a label map by a smooth random displacement (cubic upsampling of a coarse random grid)."""
    if sd_px <= 0:
        return labels
    h, w = labels.shape
    coarse = rng.normal(0.0, sd_px, size=(2, control, control))
    zoom = (h / control, w / control)
    dy, dx = (ndimage.zoom(c, zoom, order=3)[:h, :w] for c in coarse)
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    return ndimage.map_coordinates(labels, [rows + dy, cols + dx], order=0, mode="nearest")


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Unit-SD smooth random field (Gaussian-filtered white noise)."""
    field = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), scale_px)
    return field / (field.std() + 1e-6)
