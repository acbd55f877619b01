"""Bones, vessels and pelvic viscera of the thigh phantom, drawn slice by slice in small windows.

Shapes are given in "lateral" coordinates (x away from the midline on each side, y posterior), so
one description serves both legs. Everything is drawn only inside a window around the shape,
which keeps a 160-slice volume to about a second of drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .shapes import Canvas, Frame
from .thigh_anatomy import (
    FEMORAL_ARTERY,
    FEMORAL_HEAD,
    FEMUR_LABEL,
    ILIAC_ARTERY,
    ILIAC_BONE_LABEL,
    T_FEMORAL_HEAD,
    at,
)

if TYPE_CHECKING:
    from .thigh_ct import Body

Box = tuple[float, float, float, float]  # x0, x1, y0, y1 in lateral coordinates


class SliceGeometry:
    """Body-frame coordinates of one slice, with cheap pixel windows around a structure."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.x, self.y = frame.xy()
        _, self.ny, self.nx = frame.shape
        t = np.deg2rad(frame.rotation_deg)
        self._cos, self._sin = float(np.cos(t)), float(np.sin(t))

    def window(self, box: Box, side: int) -> tuple[slice, slice]:
        """Pixel window holding a lateral-coordinate box on ``side`` (any patient rotation)."""
        x0, x1, y0, y1 = box
        if side < 0:
            x0, x1 = -x1, -x0
        sx, sy, _ = self.frame.spacing
        corners = np.array([[x0, y0], [x0, y1], [x1, y0], [x1, y1]])
        px = self._cos * corners[:, 0] - self._sin * corners[:, 1] + self.frame.shift_mm[0]
        py = self._sin * corners[:, 0] + self._cos * corners[:, 1] + self.frame.shift_mm[1]
        ix = px / sx + (self.nx - 1) / 2
        iy = py / sy + (self.ny - 1) / 2
        i0, i1 = int(np.clip(np.floor(ix.min()) - 1, 0, self.nx)), int(np.clip(np.ceil(ix.max()) + 2, 0, self.nx))
        j0, j1 = int(np.clip(np.floor(iy.min()) - 1, 0, self.ny)), int(np.clip(np.ceil(iy.max()) + 2, 0, self.ny))
        return slice(j0, j1), slice(i0, i1)

    def lateral(self, win: tuple[slice, slice], side: int) -> tuple[np.ndarray, np.ndarray]:
        """Window coordinates with x mirrored so that positive x is lateral on ``side``."""
        return side * self.x[win], self.y[win]


def normalized_distance(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float,
                        angle_deg: float = 0.0) -> np.ndarray:
    """Squared elliptical distance, < 1 inside: lets overlapping muscles share space by size."""
    t = np.deg2rad(angle_deg)
    dx, dy = x - cx, y - cy
    u = (np.cos(t) * dx + np.sin(t) * dy) / max(rx, 1e-3)
    v = (-np.sin(t) * dx + np.cos(t) * dy) / max(ry, 1e-3)
    return u * u + v * v


@dataclass(frozen=True)
class Ellipse:
    cx: float
    cy: float
    rx: float
    ry: float
    angle: float = 0.0

    def box(self) -> Box:
        r = max(self.rx, self.ry)
        return self.cx - r, self.cx + r, self.cy - r, self.cy + r

    def mask(self, x: np.ndarray, y: np.ndarray, shrink: float) -> np.ndarray:
        if min(self.rx, self.ry) - shrink <= 0:
            return np.zeros(x.shape, dtype=bool)
        return normalized_distance(x, y, self.cx, self.cy, self.rx - shrink, self.ry - shrink, self.angle) <= 1.0


@dataclass(frozen=True)
class Capsule:
    """A thick line segment: pubic rami, iliac wing, femoral neck."""

    x0: float
    y0: float
    x1: float
    y1: float
    r: float

    def box(self) -> Box:
        return min(self.x0, self.x1) - self.r, max(self.x0, self.x1) + self.r, \
            min(self.y0, self.y1) - self.r, max(self.y0, self.y1) + self.r

    def mask(self, x: np.ndarray, y: np.ndarray, shrink: float) -> np.ndarray:
        dx, dy = self.x1 - self.x0, self.y1 - self.y0
        h = np.clip(((x - self.x0) * dx + (y - self.y0) * dy) / max(dx * dx + dy * dy, 1e-6), 0.0, 1.0)
        return (x - self.x0 - h * dx) ** 2 + (y - self.y0 - h * dy) ** 2 <= (self.r - shrink) ** 2


@dataclass(frozen=True)
class Shell:
    """Part of a circular shell (the acetabulum around the femoral head), angles from lateral."""

    cx: float
    cy: float
    r_in: float
    r_out: float
    start_deg: float
    stop_deg: float

    def box(self) -> Box:
        return self.cx - self.r_out, self.cx + self.r_out, self.cy - self.r_out, self.cy + self.r_out

    def mask(self, x: np.ndarray, y: np.ndarray, shrink: float) -> np.ndarray:
        d2 = (x - self.cx) ** 2 + (y - self.cy) ** 2
        angle = np.rad2deg(np.arctan2(y - self.cy, x - self.cx)) % 360.0
        return ((d2 <= (self.r_out - shrink) ** 2) & (d2 >= (self.r_in + shrink) ** 2)
                & (angle >= self.start_deg) & (angle <= self.stop_deg))


Shape = Ellipse | Capsule | Shell
Part = tuple[Shape, float, str]  # shape, cortex thickness (mm), tissue inside the cortex


def _paint(canvas: Canvas, geo: SliceGeometry, k: int, side: int, parts: list[Part], hu: dict[str, float],
           label: int) -> None:
    """Cortex first, then the inside of every part, so unions of parts have one continuous cortex."""
    for shrink_pass in (False, True):
        for shape, cortex, inner in parts:
            win = geo.window(shape.box(), side)
            x, y = geo.lateral(win, side)
            mask = shape.mask(x, y, cortex if shrink_pass else 0.0)
            value = hu[inner] if shrink_pass else hu["cortical_bone"]
            canvas.image[k][win][mask] = value
            canvas.labels[k][win][mask] = label


def _femur_parts(body: Body, t: float, side: int) -> list[Part]:
    """Femoral head, neck, trochanters, shaft (cortex + marrow) and condyles at height ``t``."""
    s, length = body.bone_scale, body.length_mm
    z, bottom = t * length, 2.0
    parts: list[Part] = []
    hx, hy, hr = (v * s for v in FEMORAL_HEAD)
    dz = z - T_FEMORAL_HEAD * length
    if abs(dz) < hr:
        r = float(np.sqrt(hr * hr - dz * dz))
        parts.append((Ellipse(hx, hy, r, r), 2.0, "cancellous_bone"))
    if 0.765 <= t <= 0.81:
        parts.append((Capsule(hx, hy, 124 * s, 12 * s, 12.5 * s), 2.0, "cancellous_bone"))
    if 0.73 <= t <= 0.815:
        taper = float(np.clip((0.815 - t) / 0.02, 0.45, 1.0)) * float(np.clip((t - 0.73) / 0.02, 0.6, 1.0))
        parts.append((Ellipse(136 * s, 16 * s, 19 * s * taper, 23 * s * taper), 2.0, "cancellous_bone"))
    fx, fy = body.femur_axis(t, side)
    if bottom <= z and t <= 0.76:
        r = 13.5 * s + (9 * s * (t - 0.66) / 0.10 if t > 0.66 else 0.0)
        g = ((0.18 - t) / 0.18) ** 1.5 if t < 0.18 else 0.0
        shaft = 0.2 < t < 0.66
        parts.append((Ellipse(fx, fy + 6 * g * s, r + 26 * g * s, r + 12 * g * s),
                      5.0 * s if shaft else 2.0, "marrow" if shaft else "cancellous_bone"))
    if 0.69 <= t <= 0.725:
        parts.append((Ellipse(fx - 17 * s, fy + 14 * s, 9 * s, 8 * s), 2.0, "cancellous_bone"))
    if bottom <= z and t <= 0.08:
        for u in (-21, 21):
            parts.append((Ellipse(fx + u * s, fy + 8 * s, 18 * s, 25 * s), 2.0, "cancellous_bone"))
        if t > 0.035:
            parts.append((Ellipse(fx, fy - 8 * s, 32 * s, 14 * s), 2.0, "cancellous_bone"))
    return parts


def _hip_bone_parts(body: Body, t: float) -> list[Part]:
    """Ilium (wing, body), acetabulum around the femoral head, pubis and ischium at height ``t``."""
    s, length = body.bone_scale, body.length_mm
    parts: list[Part] = []
    if 0.86 <= t <= 1.0:
        ax, ay = np.interp(t, (0.86, 0.92, 1.0), (100, 118, 116)), np.interp(t, (0.86, 0.92, 1.0), (-22, -46, -44))
        mx, my, bx, by = 102.0, 10.0, 50.0, 52.0
        if t > 0.97:  # near the top only the middle of the crest remains
            g = 0.2 + 0.8 * (1.0 - t) / 0.03
            ax, ay, bx, by = mx + (ax - mx) * g, my + (ay - my) * g, mx + (bx - mx) * g, my + (by - my) * g
        half = (5.0 + 2.0 * (t > 0.95)) * s
        parts += [(Capsule(ax * s, ay * s, mx * s, my * s, half), 2.0, "cancellous_bone"),
                  (Capsule(mx * s, my * s, bx * s, by * s, half * 1.3), 2.0, "cancellous_bone")]
    if 0.83 <= t <= 0.875:
        parts.append((Capsule(84 * s, 8 * s, 52 * s, 50 * s, 12 * s), 2.0, "cancellous_bone"))
    if 0.845 <= t <= 0.875:
        parts.append((Ellipse(84 * s, 8 * s, 24 * s, 28 * s), 2.0, "cancellous_bone"))
    hx, hy, hr = (v * s for v in FEMORAL_HEAD)
    dz = t * length - T_FEMORAL_HEAD * length
    if 0.765 <= t <= 0.855:
        r = float(np.sqrt(max(hr * hr - dz * dz, 4.0)))
        parts.append((Shell(hx, hy, r + 2.5, r + 12 * s, 95.0, 265.0), 1.5, "cancellous_bone"))
    if 0.76 <= t <= 0.845:
        parts.append((Capsule(hx - 12 * s, hy + 22 * s, 60 * s, 40 * s, 11 * s), 2.0, "cancellous_bone"))
    if 0.765 <= t <= 0.80:
        parts.append((Capsule(hx - 14 * s, hy - 22 * s, 14 * s, -48 * s, 8 * s), 2.0, "cancellous_bone"))
    if 0.735 <= t <= 0.79:
        parts.append((Ellipse(16 * s, -46 * s, 11 * s, 14 * s), 2.0, "cancellous_bone"))
    if 0.705 <= t <= 0.745:
        parts.append((Capsule(18 * s, -38 * s, 54 * s, 24 * s, 6.5 * s), 2.0, "cancellous_bone"))
    if 0.70 <= t <= 0.78:
        taper = float(np.clip((t - 0.70) / 0.015, 0.5, 1.0))
        parts.append((Ellipse(62 * s, 34 * s, 14 * s * taper, 20 * s * taper), 2.0, "cancellous_bone"))
    return parts


def _unlabelled_bone_parts(body: Body, t: float, side: int) -> list[Part]:
    """Sacrum, L5, coccyx (midline, drawn on the right half of each) and tibia, fibula, patella."""
    s, z = body.bone_scale, t * body.length_mm
    parts: list[Part] = []
    if 0.80 <= t <= 0.97:
        parts.append((Ellipse(0, 56 * s, 46 * s * float(np.clip((t - 0.79) / 0.12, 0.25, 1.0)), 18 * s), 2.0,
                      "cancellous_bone"))
    if 0.76 <= t < 0.80:
        parts.append((Ellipse(0, 66 * s, 8 * s, 8 * s), 2.0, "cancellous_bone"))
    if t >= 0.965:
        parts += [(Ellipse(0, 16 * s, 25 * s, 19 * s), 2.0, "cancellous_bone"),
                  (Capsule(0, 34 * s, 14 * s, 34 * s, 5 * s), 2.0, "cancellous_bone"),
                  (Capsule(0, 40 * s, 0, 64 * s, 5 * s), 2.0, "cancellous_bone")]
    fx, fy = body.femur_axis(t, side)
    if z <= -2.0:  # tibia, below the joint space
        parts.append((Ellipse(fx, fy + 6 * s, 36 * s, 26 * s), 2.0, "cancellous_bone"))
    if z <= -12.0:
        parts.append((Ellipse(fx + 30 * s, fy + 24 * s, 8 * s, 8 * s), 2.0, "cancellous_bone"))
    if 0.02 <= t <= 0.11:
        parts.append((Ellipse(fx, fy - 44 * s, 20 * s, 9 * s), 2.0, "cancellous_bone"))
    return parts


def paint_bones(canvas: Canvas, geo: SliceGeometry, body: Body, hu: dict[str, float]) -> None:
    """Femur (label 28), hip bone (label 29) and unlabelled bones, over the soft tissue."""
    for k in range(geo.frame.nz):
        t = body.t_of(geo.frame.z_mm(k))
        for side in (-1, 1):
            _paint(canvas, geo, k, side, _unlabelled_bone_parts(body, t, side), hu, 0)
            _paint(canvas, geo, k, side, _hip_bone_parts(body, t), hu, ILIAC_BONE_LABEL)
            _paint(canvas, geo, k, side, _femur_parts(body, t, side), hu, FEMUR_LABEL)
            if abs(t * body.length_mm) < 2.0:  # joint space: cartilage and menisci, no bone
                fx, fy = body.femur_axis(t, side)
                s = body.bone_scale
                _paint(canvas, geo, k, side, [(Ellipse(fx, fy + 6 * s, 34 * s, 24 * s), 0.0, "cartilage")], hu, 0)


def paint_unlabelled_muscle(canvas: Canvas, geo: SliceGeometry, body: Body, muscle_hu: float,
                            deep_masks: list[np.ndarray]) -> None:
    """Muscle the preset does not label (erector spinae, gastrocnemius heads): a confounder."""
    s = body.bone_scale
    for k in range(geo.frame.nz):
        t = body.t_of(geo.frame.z_mm(k))
        for side in (-1, 1):
            shapes: list[Ellipse] = []
            if t >= 0.95:
                shapes.append(Ellipse(44 * s, 62 * s, 18 * s, 20 * s))
            if t <= 0.06:
                fx, fy = body.femur_axis(t, side)
                shapes += [Ellipse(fx + u * s, fy + 40 * s, 14 * s, 14 * s) for u in (-20, 20)]
            for shape in shapes:
                win = geo.window(shape.box(), side)
                xs, ys = geo.lateral(win, side)
                mask = shape.mask(xs, ys, 0.0) & deep_masks[k][win] & (canvas.labels[k][win] == 0)
                canvas.image[k][win][mask] = muscle_hu


def paint_vessels(canvas: Canvas, geo: SliceGeometry, body: Body, hu: dict[str, float]) -> None:
    """Iliac then femoral artery and vein (the vein medial and behind), through the muscles."""
    s = body.bone_scale
    for k in range(geo.frame.nz):
        t = body.t_of(geo.frame.z_mm(k))
        for side in (-1, 1):
            if t > 0.79:
                x, y, r, _, _ = at(ILIAC_ARTERY, t)
                x, y, r = x * s, y * s, r * s
            else:
                x, y, r, _, _ = body.place(FEMORAL_ARTERY, "femur", t, side, radius_scale=s)
            parts: list[Part] = [(Ellipse(x, y, r, r), 0.0, "blood"),
                                 (Ellipse(x - 9 * s, y + 5 * s, 1.2 * r, 1.2 * r), 0.0, "blood")]
            for shape, _, tissue in parts:
                win = geo.window(shape.box(), side)
                xs, ys = geo.lateral(win, side)
                mask = shape.mask(xs, ys, 0.0)
                canvas.image[k][win][mask] = hu[tissue]
                canvas.labels[k][win][mask] = 0


def paint_viscera(canvas: Canvas, geo: SliceGeometry, body: Body, hu: dict[str, float], rng: np.random.Generator,
                  deep_masks: list[np.ndarray]) -> None:
    """Bladder, rectum and bowel loops: muscle-like walls and fluid that must not be called muscle."""
    s, length = body.bone_scale, body.length_mm
    fullness = float(rng.uniform(0.6, 1.2))
    organs = [((0.0, -38 * s, 0.81 * length), (45 * s * fullness, 32 * s * fullness, 0.05 * length * fullness),
               "fluid", 2.5),
              ((0.0, 40 * s, 0.83 * length), (17 * s, 15 * s, 0.07 * length), "bowel_content", 4.0)]
    for _ in range(int(rng.integers(8, 14))):
        centre = (float(rng.uniform(-70, 70)) * s, float(rng.uniform(-90, 10)) * s,
                  float(rng.uniform(0.84, 1.03)) * length)
        radius = float(rng.uniform(12, 22)) * s
        content = str(rng.choice(["bowel_fluid", "bowel_content", "gas"]))
        organs.append((centre, (radius, radius * float(rng.uniform(0.7, 1.0)), float(rng.uniform(15, 35))),
                       content, 3.5))
    for k in range(geo.frame.nz):
        z = geo.frame.z_mm(k)
        for (cx, cy, cz), (rx, ry, rz), content, wall in organs:
            f = 1.0 - ((z - cz) / rz) ** 2
            if f <= 0.05:
                continue
            shape = Ellipse(cx, cy, rx * np.sqrt(f), ry * np.sqrt(f))
            win = geo.window(shape.box(), 1)
            x, y = geo.lateral(win, 1)
            deep = deep_masks[k][win]
            canvas.image[k][win][shape.mask(x, y, 0.0) & deep] = hu["bowel_wall"]
            canvas.image[k][win][shape.mask(x, y, wall) & deep] = hu[content]
