"""Paints one axial slice of the head-and-neck phantom from the geometry of :mod:`.neck_anatomy`.

Layers go from the outside in: skin, subcutaneous fat, deep fat, unlabelled muscles, the preset's
muscles (clipped to the deep compartment), organs, vessels and nodes, then bone. Every shape is
evaluated only in a window around it: most structures are small, and evaluating ~150 shapes on
whole slices would dominate the generation time.
"""

from __future__ import annotations

import numpy as np

from . import neck_anatomy as na
from .shapes import Canvas, Frame, angular_sector, ring
from .vertebrae import VERTEBRA_LABELS

Region = tuple[tuple[slice, slice], np.ndarray] | None
SIDES = (("L", 1.0), ("R", -1.0))


class SliceArtist:
    """Windowed painting on one slice at a time, in coordinates relative to the spine axis."""

    def __init__(self, canvas: Canvas, frame: Frame) -> None:
        self.canvas, self.frame = canvas, frame
        self.x, self.y = frame.xy()
        _, self.ny, self.nx = frame.shape
        t = np.deg2rad(frame.rotation_deg)
        self.cos, self.sin = float(np.cos(t)), float(np.sin(t))
        self.k, self.ax, self.ay = 0, 0.0, 0.0
        self.deep = np.zeros((self.ny, self.nx), dtype=bool)

    def start(self, k: int, anchor: tuple[float, float]) -> None:
        self.k, (self.ax, self.ay) = k, anchor

    def window(self, cx: float, cy: float, radius: float) -> tuple[slice, slice] | None:
        """Pixel rows/columns that can hold a shape of ``radius`` mm around (cx, cy)."""
        bx, by = cx + self.ax, cy + self.ay
        gx, gy = self.cos * bx - self.sin * by, self.sin * bx + self.cos * by
        sx, sy, _ = self.frame.spacing
        col = (gx + self.frame.shift_mm[0]) / sx + (self.nx - 1) / 2
        row = (gy + self.frame.shift_mm[1]) / sy + (self.ny - 1) / 2
        c0, c1 = max(int(col - radius / sx) - 1, 0), min(int(col + radius / sx) + 2, self.nx)
        r0, r1 = max(int(row - radius / sy) - 1, 0), min(int(row + radius / sy) + 2, self.ny)
        return (slice(r0, r1), slice(c0, c1)) if c0 < c1 and r0 < r1 else None

    def coords(self, win: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        return self.x[win] - self.ax, self.y[win] - self.ay

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> Region:
        if rx <= 0 or ry <= 0:
            return None
        win = self.window(cx, cy, max(rx, ry))
        if win is None:
            return None
        x, y = self.coords(win)
        return win, fast_ellipse(x, y, cx, cy, rx, ry, angle)

    def ring(self, cx: float, cy: float, rx: float, ry: float, thickness: float,
             sector: tuple[float, float] | None = None) -> Region:
        win = self.window(cx, cy, max(rx, ry))
        if win is None:
            return None
        x, y = self.coords(win)
        mask = ring(x, y, cx, cy, rx, ry, thickness)
        if sector is not None:
            mask &= angular_sector(x, y, cx, cy, *sector)
        return win, mask

    def paint(self, region: Region, value: float, label: int | None = 0, vertebra: int = 0,
              clip: bool = False) -> int:
        """Paint a region; returns how many pixels were set. Bones pass their vertebra label."""
        if region is None:
            return 0
        win, mask = region
        if clip:
            mask = mask & self.deep[win]
        self.canvas.image[self.k][win][mask] = value
        if label is not None:
            self.canvas.labels[self.k][win][mask] = label
        self.canvas.extra["vertebrae"][self.k][win][mask] = vertebra
        return int(np.count_nonzero(mask))


def fast_ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float,
                 angle_deg: float = 0.0) -> np.ndarray:
    """Same mask as :func:`shapes.ellipse` with power 2, using products instead of ``**`` (2-3x faster)."""
    dx, dy = x - cx, y - cy
    if angle_deg:
        t = np.deg2rad(angle_deg)
        c, s = np.cos(t), np.sin(t)
        dx, dy = c * dx + s * dy, c * dy - s * dx
    dx *= 1.0 / rx
    dy *= 1.0 / ry
    return dx * dx + dy * dy <= 1.0


def _mirror(shape: tuple[float, float, float, float, float], sign: float) -> tuple[float, float, float, float, float]:
    cx, cy, rx, ry, ang = shape
    return sign * cx, cy, rx, ry, sign * ang


class NeckPainter:
    """Paints the slices of one subject; remembers on which slices each vertebra's body lies."""

    def __init__(self, artist: SliceArtist, geometry: na.NeckGeometry, values: dict[str, float],
                 rng: np.random.Generator) -> None:
        self.a, self.g, self.v = artist, geometry, values
        self.body_slices: dict[str, list[int]] = {}
        self.oesophagus_air = rng.random() < 0.5
        self.cartilage_hu = values["cartilage"] + (float(rng.uniform(150, 500)) if rng.random() < 0.35 else 0.0)

    def _scaled(self, shape: tuple[float, float, float, float, float], radius: float | None = None
                ) -> tuple[float, float, float, float, float]:
        cx, cy, rx, ry, ang = shape
        s = self.g.size
        r = s if radius is None else radius
        return cx * s, cy * s, rx * r, ry * r, ang

    def _paired(self, track: na.Track, u: float, value: float, paired: bool, shift: float = 0.0,
                label: int = 0, clip: bool = False, radius: dict[str, float] | None = None) -> None:
        shape = track.at(u, shift)
        if shape is None:
            return
        for side, sign in SIDES if paired else (("L", 1.0),):
            cx, cy, rx, ry, ang = self._scaled(_mirror(shape, sign), None if radius is None else radius[side])
            self.a.paint(self.a.ellipse(cx, cy, rx, ry, ang), value, label, clip=clip)

    def paint_slice(self, k: int, z: float) -> np.ndarray:
        """Paint slice k at body height z; returns the filled body outline (for the C3 section)."""
        g, a, v = self.g, self.a, self.v
        u = g.u_at(z)
        a.start(k, g.anchor(z))
        outline = self._outline(u)
        if u < 0.3:
            self._head(u)
        jaw = g.flexion_levels
        if 1.8 < u < 8.5:  # platysma: a thin unlabelled muscle sheet right over the sternocleidomastoid
            cx, cy, rx, ry, _ = na.DEEP_OUTLINE.at(u)
            cy, rx, ry = cy * g.size, rx * g.deep_factor, ry * g.deep_factor
            a.paint(a.ring(cx, cy, rx, ry, 2.0, (195.0, 345.0)), v["other_muscle"], clip=True)
        for track, paired, moves in na.OTHER_MUSCLES.values():
            self._paired(track, u, v["other_muscle"], paired, jaw if moves else 0.0, clip=True)
        for label, track in na.LABELLED_MUSCLES.values():
            self._paired(track, u, v["muscle"], True, label=label, clip=True, radius=g.muscle_radius)
        self._soft_tissue(u, z)
        self._bones(u)
        self._spine(u, z)
        return outline

    def _outline(self, u: float) -> np.ndarray:
        """Skin, subcutaneous fat and the deep compartment (whole-slice masks)."""
        g, a, v = self.g, self.a, self.v
        cx, cy, rx, ry, _ = na.DEEP_OUTLINE.at(float(np.clip(u, -12.9, 15.9)))
        cy, rx, ry = cy * g.size, rx * g.deep_factor, ry * g.deep_factor
        fat = g.fat_mm * (0.4 if u < -1 else 1.0)  # the scalp has little fat
        x, y = a.x - a.ax, a.y - a.ay
        body = fast_ellipse(x, y, cx, cy + 0.15 * fat, rx + fat + 2.0, ry + fat + 2.0)
        under_skin = fast_ellipse(x, y, cx, cy + 0.15 * fat, rx + fat, ry + fat)
        a.deep = fast_ellipse(x, y, cx, cy, rx, ry)
        image, labels = a.canvas.image[a.k], a.canvas.labels[a.k]
        image[body] = v["skin"]
        image[under_skin] = v["fat"]
        labels[body] = 0
        return body

    def _head(self, u: float) -> None:
        """Skull, brain, skull base and face above C1."""
        a, v = self.a, self.v
        cavity = na.CRANIAL_CAVITY.at(u)
        if cavity is not None:
            cx, cy, rx, ry, _ = self._scaled(cavity)
            a.paint(a.ellipse(cx, cy, rx + 6.0, ry + 6.0), v["cortical_bone"])
            a.paint(a.ellipse(cx, cy, rx + 3.0, ry + 3.0), v["marrow"])
            a.paint(a.ellipse(cx, cy, rx, ry), v["brain"])
        for track, value in ((na.ORBIT, v["fat"]), (na.GLOBE, v["fluid"])):
            self._paired(track, u, value, True)
        sinus = na.MAXILLARY_SINUS.at(u)
        if sinus is not None:
            for _, sign in SIDES:
                cx, cy, rx, ry, _ = self._scaled(_mirror(sinus, sign))
                a.paint(a.ellipse(cx, cy, rx + 2.0, ry + 2.0), v["cortical_bone"])
                a.paint(a.ellipse(cx, cy, rx, ry), v["air"])
        nasal = na.NASAL.at(u)
        if nasal is not None:
            cx, cy, rx, ry, _ = self._scaled(nasal)
            a.paint(a.ellipse(cx, cy, rx, ry), v["air"])
            a.paint(a.ellipse(cx, cy, 1.0, ry), v["cortical_bone"])  # septum
        if -0.9 <= u <= -0.5:
            a.paint(a.ellipse(0.0, -45.0 * self.g.size, 24.0 * self.g.size, 22.0 * self.g.size), v["cortical_bone"])
        if -0.6 <= u <= 0.2:  # upper teeth
            a.paint(a.ring(0.0, -36.0 * self.g.size, 32.0 * self.g.size, 32.0 * self.g.size, 8.0, (180.0, 360.0)), v["teeth"])
        for track, value, paired in ((na.CLIVUS, v["cortical_bone"], False), (na.PETROUS, v["dense_bone"], True),
                                     (na.MASTOID, v["cancellous_bone"], True), (na.CONDYLE, v["cortical_bone"], True)):
            self._paired(track, u, value, paired)

    def _soft_tissue(self, u: float, z: float) -> None:
        """Glands, airway, larynx, thyroid, oesophagus, lungs, vessels and lymph nodes (label 0)."""
        a, v, g = self.a, self.v, self.g
        jaw = g.flexion_levels
        pharynx = na.PHARYNX.at(u)
        if pharynx is not None:
            cx, cy, rx, ry, _ = self._scaled(pharynx)
            a.paint(a.ellipse(cx, cy, rx + 3.5, ry + 3.5), v["mucosa"])
            a.paint(a.ellipse(cx, cy, rx, ry), v["air"])
        for name, (track, paired, moves) in na.ORGANS.items():
            self._paired(track, u, v[name if name in v else "gland"], paired, jaw if moves else 0.0)
        if self.oesophagus_air and u > 6.0:
            a.paint(a.ellipse(-3.0 * g.size, -17.0 * g.size, 2.5, 1.5), v["air"])
        airway = na.AIRWAY.at(u)
        if airway is not None:
            cx, cy, rx, ry, _ = self._scaled(airway)
            if u > 5.7:  # cricoid, then the tracheal rings (open posteriorly)
                a.paint(a.ring(cx, cy, rx + 2.0, ry + 2.0, 2.0, None if u < 6.4 else (160.0, 380.0)), self.cartilage_hu)
            a.paint(a.ellipse(cx, cy, rx, ry), v["air"])
        self._paired(na.THYROID_CARTILAGE, u, self.cartilage_hu, True)
        self._paired(na.CAROTID, u, v["artery"], True)
        self._paired(na.EXTERNAL_CAROTID, u, v["artery"], True)
        self._paired(na.JUGULAR, u, v["vein"], True)
        for node in g.nodes:
            dz = (z - node.z) / node.r_z
            if abs(dz) < 1.0:
                r = node.r_xy * float(np.sqrt(1.0 - dz * dz))
                a.paint(a.ellipse(node.cx, node.cy, r, r * 0.8, 20.0), v["lymph_node"])
                if node.necrotic and r > 4.0:
                    a.paint(a.ellipse(node.cx, node.cy, r * 0.5, r * 0.4, 20.0), v["fluid"])

    def _bones(self, u: float) -> None:
        """Mandible, hyoid, shoulder girdle, ribs and sternum."""
        a, v, g = self.a, self.v, self.g
        s, jaw = g.size, g.flexion_levels
        self._paired(na.MANDIBLE_RAMUS, u, v["cortical_bone"], True, jaw)
        uj = u - jaw
        if 1.3 <= uj <= 2.6:  # mandibular body: a U open posteriorly, teeth in its upper part
            value = v["teeth"] if uj < 1.7 else v["cortical_bone"]
            a.paint(a.ring(0.0, -32.0 * s, 42.0 * s, 40.0 * s, 7.0, (170.0, 370.0)), value)
            a.paint(a.ring(0.0, -32.0 * s, 39.0 * s, 37.0 * s, 2.5, (170.0, 370.0)), v["cancellous_bone"])
        if 2.75 <= u - 0.6 * jaw <= 3.25:  # hyoid at C3
            a.paint(a.ring(0.0, -30.0 * s, 20.0 * s, 15.0 * s, 3.0, (185.0, 355.0)), v["cortical_bone"])
        for track in (na.CLAVICLE, na.SCAPULA, na.STERNUM):
            self._paired(track, u, v["cortical_bone"], track is not na.STERNUM)
        lung = na.ORGANS["lung"][0].at(u)
        if lung is not None and u > 8.2 and np.sin(2 * np.pi * u) > -0.3:  # rib segments around the lung
            for _, sign in SIDES:
                cx, cy, rx, ry, _ = self._scaled(_mirror(lung, sign))
                sector = (-70.0, 110.0) if sign > 0 else (70.0, 250.0)
                a.paint(a.ring(cx, cy, rx + 6.0, ry + 6.0, 5.0, sector), v["cortical_bone"])

    def _spine(self, u: float, z: float) -> None:
        """Canal and cord, discs, bodies (tilted endplates), dens, C1 ring and posterior elements."""
        a, v, g = self.a, self.v, self.g
        s, slope = g.size, g.slope(z)
        canal = na.CANAL.at(u)
        if canal is not None:
            _, ccy, crx, cry, _ = canal
            a.paint(a.ellipse(0.0, ccy * s, crx * s, cry * s), v["csf"])
            a.paint(a.ellipse(0.0, (ccy + 1.0) * s, 0.5 * crx * s, 0.55 * cry * s), v["brain"])
        verts = g.vertebrae
        if verts[na.SPINE[-1]].z_bottom <= z <= verts["C2"].z_bottom:
            _, _, brx, bry, _ = na.BODY.at(u)
            a.paint(a.ellipse(0.0, 0.0, brx * s, bry * s), v["disc"])
        for name in na.SPINE:
            vert = verts[name]
            top = g.dens_top if name == "C2" else vert.z_top
            if vert.z_bottom - 5.0 <= z <= top + 5.0:
                drawn = self._c1(z, slope) if name == "C1" else self._vertebra(vert, z, slope)
                if drawn:
                    self.body_slices.setdefault(name, []).append(a.k)

    def _within(self, region: Region, z: float, slope: float, z0: float, z1: float) -> Region:
        """Keep the part of a region between two tilted planes (endplates) of the spine axis."""
        if region is None:
            return None
        win, mask = region
        local_z = z + slope * self.a.coords(win)[1]
        return win, mask & (local_z >= z0) & (local_z < z1)

    def _vertebra(self, vert: na.Vertebra, z: float, slope: float) -> bool:
        a, v, s = self.a, self.v, self.g.size
        label = VERTEBRA_LABELS[vert.name]
        u_mid = self.g.u_at(vert.z_mid)
        _, _, brx, bry, _ = na.BODY.at(u_mid)
        brx, bry = brx * s, bry * s
        if vert.name == "C2":  # the dens rises from the body into the C1 ring
            dens = self._within(a.ellipse(0.0, -1.0 * s, 5.0 * s, 5.5 * s), z, slope, vert.z_top - 1.0, self.g.dens_top)
            a.paint(dens, v["cortical_bone"], vertebra=label)
            inner = self._within(a.ellipse(0.0, -1.0 * s, 3.5 * s, 4.0 * s), z, slope, vert.z_top - 1, self.g.dens_top - 1)
            a.paint(inner, v["cancellous_bone"], vertebra=label)
        body = self._within(a.ellipse(0.0, 0.0, brx, bry), z, slope, vert.z_bottom, vert.z_top)
        if a.paint(body, v["cortical_bone"], vertebra=label) == 0:
            return False
        core = self._within(a.ellipse(0.0, 0.0, brx - 1.5, bry - 1.5), z, slope, vert.z_bottom + 1.0, vert.z_top - 1.0)
        a.paint(core, v["cancellous_bone"], vertebra=label)
        _, ccy, crx, cry, _ = na.CANAL.at(u_mid)
        ccy, crx, cry = ccy * s, crx * s, cry * s
        thoracic = vert.name.startswith("T")
        spinous = na.SPINOUS_LENGTH.get(vert.name, 26.0) * s
        spine_top = vert.z_bottom + 0.6 * (vert.z_top - vert.z_bottom)  # spinous processes are thinner than bodies
        tip = a.ellipse(0.0, ccy + cry + 1.5 + spinous / 2, 2.8 if vert.name != "C2" else 4.5, spinous / 2 + 1.5)
        a.paint(self._within(tip, z, slope, vert.z_bottom + 0.5, spine_top), v["posterior_bone"], vertebra=label)
        parts = [a.ring(0.0, ccy, crx + 3.0, cry + 3.0, 3.0, (0.0, 180.0))]  # pedicles and laminae
        for _, sign in SIDES:
            if thoracic:
                parts.append(a.ellipse(sign * (crx + 10.0), ccy - 1.0, 10.0, 4.0, sign * 30.0))
            else:
                parts.append(a.ellipse(sign * (crx + 3.0), ccy - 1.0, 5.0, 7.0))  # articular pillar
                parts.append(a.ellipse(sign * (brx + 8.0), 1.0, 7.0, 3.5))  # transverse process
        for part in parts:
            a.paint(self._within(part, z, slope, vert.z_bottom + 0.5, vert.z_top - 0.5), v["posterior_bone"],
                    vertebra=label)
        if not thoracic and vert.name != "C7":  # transverse foramina with the vertebral arteries
            for _, sign in SIDES:
                a.paint(a.ellipse(sign * (brx + 6.0), 1.0, 2.4, 2.4), v["artery"])
        return True

    def _c1(self, z: float, slope: float) -> bool:
        """The atlas: a ring with no body; anterior arch in front of the dens, large lateral masses."""
        a, v, s = self.a, self.v, self.g.size
        c1, label = self.g.vertebrae["C1"], VERTEBRA_LABELS["C1"]
        z0, z1 = c1.z_bottom, c1.z_top
        count = 0
        for part in (a.ellipse(0.0, -10.0 * s, 7.0 * s, 3.5 * s), a.ring(0.0, 14.0 * s, 18.0 * s, 14.0 * s, 3.5, (10.0, 170.0)),
                     a.ellipse(0.0, 28.0 * s, 4.0, 3.0)):
            count += a.paint(self._within(part, z, slope, z0, z1), v["posterior_bone"], vertebra=label)
        for _, sign in SIDES:
            count += a.paint(self._within(a.ellipse(sign * 14.0 * s, 3.0 * s, 7.0 * s, 9.0 * s), z, slope, z0, z1),
                             v["cortical_bone"], vertebra=label)
            count += a.paint(self._within(a.ellipse(sign * 27.0 * s, 4.0 * s, 6.0 * s, 4.0 * s), z, slope, z0 + 2, z1 - 2),
                             v["posterior_bone"], vertebra=label)
            a.paint(a.ellipse(sign * 21.0 * s, 4.0 * s, 2.4, 2.4), v["artery"])
        return count > 0
