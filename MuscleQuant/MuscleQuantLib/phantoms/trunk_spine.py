"""Thoraco-lumbar spine, ribs, sacrum and iliac wings for trunk CT phantoms.

Finding L3 must mean identifying a level, not finding bone: every vertebra has the same parts
(cortical rim, cancellous body, disc, arch, processes) and only context tells them apart. Ribs end
at T12 (T11/T12 short and floating), the iliac crest sits near L4 and the sacrum under L5. Body and
disc heights vary per case, so no fixed millimetre offset from the top of a scan finds L3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .shapes import Canvas, Frame
from .subject import Subject
from .vertebrae import VERTEBRA_LABELS

MODELLED_VERTEBRAE: tuple[str, ...] = (*(f"T{i}" for i in range(6, 13)), *(f"L{i}" for i in range(1, 6)))
Shape = tuple[tuple[slice, slice], np.ndarray]
FULL: tuple[slice, slice] = (slice(None), slice(None))
# Lumbar transverse processes: L3's are the longest, a cue radiologists use.
LUMBAR_TRANSVERSE_MM = {"L1": 18.0, "L2": 24.0, "L3": 30.0, "L4": 26.0, "L5": 22.0}
# Degrees of arc each rib travels round the chest from the spine; 11 and 12 are short floating ribs.
RIB_SPAN_DEG = {6: 150.0, 7: 145.0, 8: 135.0, 9: 125.0, 10: 110.0, 11: 70.0, 12: 40.0}


def pixel_window(frame: Frame, cx: float, cy: float, radius: float, offset: tuple[int, int] = (0, 0),
                 limit: tuple[int, int] | None = None) -> tuple[slice, slice] | None:
    """Pixel bounding box of the body-frame disc (cx, cy, radius), relative to ``offset``; None if empty."""
    _, ny, nx = frame.shape
    sx, sy, _ = frame.spacing
    t = np.deg2rad(frame.rotation_deg)
    gx, gy = np.cos(t) * cx - np.sin(t) * cy, np.sin(t) * cx + np.cos(t) * cy
    i = (gx + frame.shift_mm[0]) / sx + (nx - 1) / 2 - offset[1]
    j = (gy + frame.shift_mm[1]) / sy + (ny - 1) / 2 - offset[0]
    h, w = limit or (ny, nx)
    i0, i1 = max(int(i - radius / sx) - 1, 0), min(int(i + radius / sx) + 2, w)
    j0, j1 = max(int(j - radius / sy) - 1, 0), min(int(j + radius / sy) + 2, h)
    return None if i0 >= i1 or j0 >= j1 else (slice(j0, j1), slice(i0, i1))


class SlicePainter:
    """Paints one slice of a Canvas; each shape is evaluated only in the pixel window it can cover,
    which keeps a 150-slice case within the speed budget."""

    def __init__(self, canvas: Canvas, frame: Frame, k: int, crop: tuple[slice, slice] = FULL) -> None:
        """``crop``: the part of the slice that can hold anything but air (all arrays are views of it)."""
        self.frame = frame
        x, y = frame.xy()
        self.x, self.y = x[crop].astype(np.float32), y[crop].astype(np.float32)
        self.image = canvas.image[k][crop]
        self.labels = canvas.labels[k][crop]
        self.vertebrae = canvas.extra["vertebrae"][k][crop] if "vertebrae" in canvas.extra else None
        self._offset = (crop[0].start or 0, crop[1].start or 0)
        self._angles: dict[tuple[float, float, int], np.ndarray] = {}

    def window(self, cx: float, cy: float, radius: float) -> tuple[slice, slice] | None:
        """Pixel bounding box (within the crop) of the body-frame disc (cx, cy, radius), or None."""
        return pixel_window(self.frame, cx, cy, radius, self._offset, self.x.shape)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, angle_deg: float = 0.0,
                win: tuple[slice, slice] | None = None) -> Shape | None:
        if rx <= 0.3 or ry <= 0.3:
            return None
        win = win or self.window(cx, cy, max(rx, ry))
        if win is None:
            return None
        dx, dy = self.x[win] - cx, self.y[win] - cy
        if angle_deg:
            t = np.deg2rad(angle_deg)
            dx, dy = np.cos(t) * dx + np.sin(t) * dy, -np.sin(t) * dx + np.cos(t) * dy
        return win, dx * dx / (rx * rx) + dy * dy / (ry * ry) <= 1.0

    def ring(self, cx: float, cy: float, rx: float, ry: float, thickness: float, angle_deg: float = 0.0) -> Shape | None:
        outer = self.ellipse(cx, cy, rx, ry, angle_deg)
        if outer is None:
            return None
        inner = self.ellipse(cx, cy, rx - thickness, ry - thickness, angle_deg, win=outer[0])
        return outer if inner is None else (outer[0], outer[1] & ~inner[1])

    def paint(self, shape: Shape | None, value: float, label: int | None = 0, vertebra: int | None = None,
              within: np.ndarray | None = None) -> None:
        """Paint value (and labels) in shape; ``within`` is a full-slice mask that clips it."""
        if shape is None:
            return
        win, mask = shape
        if within is not None:
            mask = mask & within[win]
        self.image[win][mask] = value
        if label is not None:
            self.labels[win][mask] = label
        if vertebra is not None and self.vertebrae is not None:
            self.vertebrae[win][mask] = vertebra


@dataclass
class Vertebra:
    name: str
    bottom_mm: float
    top_mm: float
    half_width: float
    half_depth: float

    @property
    def center_mm(self) -> float:
        return 0.5 * (self.bottom_mm + self.top_mm)

    def contains(self, z: float) -> bool:
        return self.bottom_mm <= z <= self.top_mm


@dataclass
class Rib:
    level: int  # thoracic vertebra it articulates with
    side: int  # +1 patient's left, -1 right
    attach_mm: float
    span_deg: float
    drop_mm_per_deg: float
    cartilage_from_deg: float  # anterior part is costal cartilage, not bone


@dataclass
class Spine:
    """Vertebrae cranial to caudal (T6..L5, then the sacrum), in body z (mm, S1 endplate = 0)."""

    vertebrae: list[Vertebra]
    ribs: list[Rib]
    size: float  # skeletal scale (height / 1.70 m)
    y_ref: float = 0.0  # body-frame y of the lumbar body centres, set by the trunk generator
    lordosis_mm: float = 10.0
    kyphosis_mm: float = 10.0
    scoliosis_mm: float = 0.0
    iliac_crest_mm: float = 60.0
    pelvis_half_width: float = 125.0

    def __post_init__(self) -> None:
        self.by_name = {v.name: v for v in self.vertebrae}
        self._z = np.array([v.center_mm for v in self.vertebrae[::-1]])
        self._u = np.array([float(VERTEBRA_LABELS[v.name]) for v in self.vertebrae[::-1]])

    @property
    def sacrum(self) -> Vertebra:
        return self.vertebrae[-1]

    def level_coordinate(self, z: float) -> float:
        """Continuous level: the vertebra label value at each body centre (T12 = 19, L3 = 22), linear between."""
        if z > self._z[-1]:
            return float(self._u[-1] - (z - self._z[-1]) / (self._z[-1] - self._z[-2]))
        return float(np.interp(z, self._z, self._u, left=self._u[0] + (self._z[0] - z) / 30.0))

    def z_of_level(self, u: float) -> float:
        if u < self._u[-1]:
            return float(self._z[-1] + (self._u[-1] - u) * (self._z[-1] - self._z[-2]))
        return float(np.interp(-u, -self._u, self._z))

    def body_center(self, z: float) -> tuple[float, float]:
        """(x, y) of the vertebral body at z: lumbar lordosis, thoracic kyphosis, sacral tilt."""
        u = self.level_coordinate(z)
        y = self.y_ref - self.lordosis_mm * np.exp(-(((u - 22.5) / 1.8) ** 2)) + self.kyphosis_mm * np.clip((19.5 - u) / 6, 0, 1)
        y += 0.5 * max(self.sacrum.top_mm - z, 0.0)
        return float(self.scoliosis_mm * np.sin((u - 13.0) / 12.0 * np.pi)), float(y)

    def vertebra_at(self, z: float) -> Vertebra | None:
        return next((v for v in self.vertebrae if v.contains(z)), None)


def build_spine(rng: np.random.Generator, subject: Subject) -> Spine:
    """Vertebral heights and discs drawn per case (bodies 25-35 mm lumbar, discs 8-12 mm)."""
    size = subject.height_m / 1.70
    lumbar_base = rng.uniform(26.0, 30.5) * size**0.7
    heights, discs = {}, {}
    for i in range(1, 6):
        heights[f"L{i}"] = float(np.clip(lumbar_base * (1 + 0.015 * i) + rng.normal(0, 0.8), 25.0, 35.0))
        discs[f"L{i}"] = float(rng.uniform(8.0, 12.0) if i < 5 else rng.uniform(8.0, 11.0))  # disc below
    for i in range(12, 5, -1):
        heights[f"T{i}"] = float(np.clip(heights["L1"] * (0.93 - 0.03 * (12 - i)) + rng.normal(0, 0.7), 17.0, 30.0))
        discs[f"T{i}"] = float(rng.uniform(7.0, 10.0) if i == 12 else rng.uniform(5.0, 8.0))
    sacrum_length = rng.uniform(95.0, 110.0) * size
    vertebrae = [Vertebra("sacrum", -sacrum_length, 0.0, 0.0, 0.0)]
    z, width_factor = 0.0, rng.uniform(0.92, 1.08)
    for name in reversed(MODELLED_VERTEBRAE):
        bottom = z + discs[name]
        lumbar, n = name[0] == "L", int(name[1:])
        half_width = (21.0 + 1.2 * n if lumbar else 19.0 - 0.9 * (12 - n)) * size * width_factor
        half_depth = (15.5 + 0.6 * n if lumbar else 14.0 - 0.4 * (12 - n)) * size
        vertebrae.append(Vertebra(name, bottom, bottom + heights[name], half_width, half_depth))
        z = bottom + heights[name]
    vertebrae = vertebrae[::-1]
    l5 = vertebrae[-2]
    vertebrae[-1].half_width, vertebrae[-1].half_depth = l5.half_width, l5.half_depth
    by_name = {v.name: v for v in vertebrae}
    ribs = []
    for level, span in RIB_SPAN_DEG.items():
        v = by_name[f"T{level}"]
        for side in (1, -1):
            s = span * rng.uniform(0.85, 1.15)
            drop = rng.uniform(0.5, 0.65) if level <= 10 else (0.4 if level == 11 else 0.3)
            ribs.append(Rib(level, side, v.center_mm + 0.25 * (v.top_mm - v.bottom_mm), s, drop,
                            s - 35.0 if level <= 10 else s + 1.0))
    spine = Spine(vertebrae, ribs, size, lordosis_mm=rng.uniform(4, 14), kyphosis_mm=rng.uniform(5, 15),
                  scoliosis_mm=rng.normal(0, 3))
    l4 = by_name["L4"]
    spine.iliac_crest_mm = float(rng.uniform(l4.bottom_mm - 4.0, l4.center_mm + 3.0))
    spine.pelvis_half_width = float(125.0 * size * (1.05 if subject.sex == "F" else 1.0) * rng.uniform(0.93, 1.07))
    return spine


def paint_vertebra(p: SlicePainter, spine: Spine, v: Vertebra, z: float, hu: dict[str, float]) -> None:
    """Body with cortical rim, then arch, spinous and transverse processes; all carry the label."""
    bx, by = spine.body_center(z)
    s, lab, lumbar = spine.size, VERTEBRA_LABELS[v.name], v.name.startswith("L")
    frac = (z - v.bottom_mm) / (v.top_mm - v.bottom_mm)
    hw, hd = v.half_width, v.half_depth
    cortical, cancellous = hu["cortical_bone"], hu["cancellous_bone"]
    arch_bone = 0.5 * (cortical + cancellous)
    p.paint(p.ellipse(bx, by, hw, hd), cortical, vertebra=lab)
    if 0.07 < frac < 0.93:  # endplates are solid cortex
        p.paint(p.ellipse(bx, by, hw - 2.2, hd - 2.2), cancellous, vertebra=lab)
    canal_rx, canal_ry = (11.0 if lumbar else 8.5) * s, 7.5 * s
    canal_y = by + hd + canal_ry - 1.0
    p.paint(p.ring(bx, canal_y + 1.0, canal_rx + 5.0, canal_ry + 5.5, 5.5), arch_bone, vertebra=lab)
    if frac < 0.75:  # spinous process slopes caudally
        length = (27.0 if lumbar else 24.0) * s
        p.paint(p.ellipse(bx, canal_y + canal_ry + 3.0 + length / 2, 4.0 * s, length / 2), arch_bone, vertebra=lab)
    for side in (1, -1):
        if lumbar and 0.3 < frac < 0.85:
            length = LUMBAR_TRANSVERSE_MM[v.name] * s
            p.paint(p.ellipse(bx + side * (canal_rx + 3.0 + length / 2), canal_y - 1.0, length / 2, 4.5 * s,
                              8.0 * side), arch_bone, vertebra=lab)
        elif not lumbar and frac > 0.45:
            tip_x, tip_y = transverse_tip(spine, v, z, side)
            p.paint(p.ellipse((bx + side * canal_rx + tip_x) / 2, (canal_y + tip_y) / 2, 11.0 * s, 4.5 * s, 35.0 * side),
                    arch_bone, vertebra=lab)
        if frac > 0.7 or frac < 0.25:  # articular processes
            p.paint(p.ellipse(bx + side * (canal_rx + 2.0), canal_y + canal_ry + 1.0, 5.0, 5.0), arch_bone, vertebra=lab)
    paint_canal(p, bx, canal_y, canal_rx, canal_ry, hu, cord=spine.level_coordinate(z) < 20.3)


def transverse_tip(spine: Spine, v: Vertebra, z: float, side: int) -> tuple[float, float]:
    """Where a thoracic transverse process ends (ribs articulate there)."""
    bx, by = spine.body_center(z)
    canal_ry = 7.5 * spine.size
    length = 20.0 * spine.size
    return (bx + side * (8.5 * spine.size + 3.0 + length * 0.82), by + v.half_depth + canal_ry + 2.0 + length * 0.57)


def paint_canal(p: SlicePainter, bx: float, cy: float, rx: float, ry: float, hu: dict[str, float], cord: bool) -> None:
    """Epidural fat, dural sac (CSF) and, above L1/L2, the cord; never labelled as bone."""
    p.paint(p.ellipse(bx, cy, rx, ry), hu["fat"], vertebra=0)
    p.paint(p.ellipse(bx, cy - 0.5, rx * 0.8, ry * 0.8), hu["csf"], vertebra=0)
    if cord:
        p.paint(p.ellipse(bx, cy - 0.5, 4.5, 4.0), hu["brain"], vertebra=0)


def paint_disc(p: SlicePainter, spine: Spine, z: float, hu: dict[str, float]) -> None:
    """Intervertebral disc (no vertebra label) with the canal and ligamentum flavum behind it."""
    above = next((v for v in reversed(spine.vertebrae) if v.bottom_mm > z), None)
    below = next((v for v in spine.vertebrae if v.top_mm < z), None)
    if above is None or below is None:
        return
    bx, by = spine.body_center(z)
    hw = 0.5 * (above.half_width + below.half_width)
    hd = 0.5 * (above.half_depth + below.half_depth)
    p.paint(p.ellipse(bx, by, hw, hd), hu["disc"], vertebra=0)
    p.paint(p.ellipse(bx, by, hw * 0.55, hd * 0.55), hu["disc"] - 15.0, vertebra=0)
    lumbar = above.name.startswith("L") or above.name == "sacrum"
    canal_rx, canal_ry = (11.0 if lumbar else 8.5) * spine.size, 7.5 * spine.size
    canal_y = by + hd + canal_ry - 1.0
    p.paint(p.ring(bx, canal_y + 1.0, canal_rx + 3.0, canal_ry + 3.5, 3.5), hu["tendon"], vertebra=0)
    paint_canal(p, bx, canal_y, canal_rx, canal_ry, hu, cord=spine.level_coordinate(z) < 20.3)


def paint_sacrum(p: SlicePainter, spine: Spine, z: float, hu: dict[str, float]) -> None:
    """Sacral body and alae reaching the sacro-iliac joints, narrowing and tilting back caudally."""
    sac = spine.sacrum
    d = (sac.top_mm - z) / (sac.top_mm - sac.bottom_mm)
    bx, by = spine.body_center(z)
    lab, cortical, cancellous = VERTEBRA_LABELS["sacrum"], hu["cortical_bone"], hu["cancellous_bone"]
    hw, hd = sac.half_width * (1 - 0.55 * d), sac.half_depth * (1 - 0.45 * d)
    if d < 0.6:
        ala_rx = spine.pelvis_half_width * 0.44 * (1 - 0.6 * (d / 0.6) ** 2)
        ala = (bx, by + 0.5 * hd, ala_rx, 0.95 * hd)
        p.paint(p.ellipse(*ala), cortical, vertebra=lab)
        p.paint(p.ellipse(ala[0], ala[1], ala[2] - 2.5, ala[3] - 2.5), cancellous, vertebra=lab)
    p.paint(p.ellipse(bx, by, hw, hd), cortical, vertebra=lab)
    p.paint(p.ellipse(bx, by, hw - 2.2, hd - 2.2), cancellous, vertebra=lab)
    for side in (1, -1):  # anterior sacral foramina
        p.paint(p.ellipse(bx + side * (hw + 2.0), by + 0.4 * hd, 3.5, 3.5), hu["fat"], vertebra=0)
    p.paint(p.ellipse(bx, by + hd + 12.0, 4.0, 6.0), 0.5 * (cortical + cancellous), vertebra=lab)
    paint_canal(p, bx, by + hd + 3.5, 9.0 * (1 - 0.5 * d), 4.0, hu, cord=False)


def iliac_arc(spine: Spine, z: float) -> tuple[float, float, float, float, float, float, float] | None:
    """Left iliac wing at z as an elliptical arc (cx, cy, rx, ry, thickness, posterior and anterior
    extent in degrees from lateral); mirrored for the right. None above the crest. The wings are
    widest at the crest and converge caudally."""
    depth = spine.iliac_crest_mm - z
    if depth < 0:
        return None
    width = spine.pelvis_half_width * (1 - 0.0022 * depth)
    _, by = spine.body_center(spine.sacrum.top_mm)
    post = min(80.0, 25.0 + 1.6 * depth)
    ant = min(38.0, 12.0 + 1.0 * depth)
    return 0.36 * width, by - 0.1 * width, 0.64 * width, 0.40 * width, 3.5 + 5.0 * np.exp(-depth / 8.0), post, ant


def paint_iliac_wings(p: SlicePainter, spine: Spine, z: float, hu: dict[str, float]) -> None:
    """Iliac wings: thin cortical plates (thicker at the crest), a thick posterior part at the SI joint."""
    arc = iliac_arc(spine, z)
    if arc is None:
        return
    cx, cy, rx, ry, thick, post, ant = arc
    depth = spine.iliac_crest_mm - z
    for side in (1, -1):
        angles = arc_angles(p, side * cx, cy, side)
        within = (angles <= post) & (angles >= -ant)
        p.paint(p.ring(side * cx, cy, rx, ry, thick), hu["cortical_bone"], within=within)
        if thick > 5.0:
            p.paint(p.ring(side * cx, cy, rx - 1.5, ry - 1.5, thick - 3.0), hu["cancellous_bone"], within=within)
        if depth > 15.0:  # posterior ilium thickens towards the sacro-iliac joint
            t = np.deg2rad(post)
            r = min(4.0 + 0.15 * (depth - 15.0), 11.0)
            px, py = side * (cx + (rx - r) * np.cos(t)), cy + (ry - r) * np.sin(t)
            p.paint(p.ellipse(px, py, r, r * 1.4, 30.0 * side), hu["cortical_bone"])
            p.paint(p.ellipse(px, py, r - 2.0, r * 1.4 - 2.0, 30.0 * side), hu["cancellous_bone"])


def arc_angles(p: SlicePainter, cx: float, cy: float, side: int) -> np.ndarray:
    """Angle of each pixel seen from (cx, cy): 0 = lateral on that side, +90 = posterior, -90 = anterior."""
    key = (cx, cy, side)
    if key not in p._angles:
        p._angles[key] = np.rad2deg(np.arctan2(p.y - cy, side * (p.x - cx)))
    return p._angles[key]


def paint_ribs(p: SlicePainter, spine: Spine, z: float, hu: dict[str, float], ring: tuple[float, float, float]) -> None:
    """Cross-sections of the ribs that cross this slice: each rib runs from its vertebra round the rib
    ring (cy, rx, ry) and descends as it goes, so a slice cuts it obliquely; ends anteriorly in cartilage."""
    cy, rx, ry = ring
    half_height = 6.0
    active = [r for r in spine.ribs if r.attach_mm - r.span_deg * r.drop_mm_per_deg - half_height <= z
              <= r.attach_mm + half_height]
    if not active:
        return
    band = p.ring(0.0, cy, rx, ry, 9.0)
    core = p.ring(0.0, cy, rx - 2.5, ry - 2.5, 4.0)
    theta = np.rad2deg(np.arctan2(p.y - cy, p.x))  # +x = left lateral, +90 = posterior
    start = 55.0
    for rib in active:
        travel = (start - theta) if rib.side > 0 else (theta % 360.0) - (180.0 - start)
        t_lo = (rib.attach_mm - z - half_height) / rib.drop_mm_per_deg
        t_hi = (rib.attach_mm - z + half_height) / rib.drop_mm_per_deg
        crossing = (travel >= max(t_lo, 0.0)) & (travel <= min(t_hi, rib.span_deg))
        bone = crossing & (travel < rib.cartilage_from_deg)
        p.paint(band, hu["cortical_bone"] * 0.8, within=bone)
        p.paint(core, hu["cancellous_bone"], within=bone)
        p.paint(band, hu["cartilage"], within=crossing & ~bone)
        if abs(rib.attach_mm - z) <= half_height:  # rib neck to the transverse process
            v = spine.by_name[f"T{rib.level}"]
            tx, ty = transverse_tip(spine, v, v.center_mm, rib.side)
            a = np.deg2rad(start)
            ex, ey = rib.side * rx * np.cos(a), cy + ry * np.sin(a)
            length = float(np.hypot(ex - tx, ey - ty))
            angle = float(np.rad2deg(np.arctan2(ey - ty, ex - tx)))
            p.paint(p.ellipse((tx + ex) / 2, (ty + ey) / 2, length / 2 + 3.0, 4.5, angle), hu["cortical_bone"] * 0.7)
