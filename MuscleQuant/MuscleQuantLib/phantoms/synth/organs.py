"""The organs around the L1-L4 muscles, drawn into the visceral fat: liver (right, shrinking
caudally), spleen, kidneys beside psoas and in front of quadratus lumborum, pancreas, stomach and
gallbladder, aorta and IVC in front of the spine, small bowel and colon with gas, fluid, stool or oral
contrast. Several of them have muscle's HU on CT; that is why they are here.

Generator 1.1 (``Recipe.organ_contact`` > 0; 0 draws exactly what 1.0 drew) puts organs *against* muscle
with no fat between in a share of draws, as real CT does and where the 1.0 starter erred on the real crop:
a kidney abutting psoas, the liver's left lobe behind the rectus at the anterior midline, the spleen along
the posterolateral wall, and the diaphragm (muscle, not an L3 group) as a thin band between liver or
spleen and the wall."""

from __future__ import annotations

import numpy as np

from .abdomen import SOFT, Psoas, Spine, band
from .classes import T
from .recipe import Recipe
from .shapes import Canvas, wobble


def paint_organs(c: Canvas, rng: np.random.Generator, recipe: Recipe, sp: Spine, level: float, cav_rx: float,
                 cav_ant: float, cav_post: float, yc: float, psoas_r: float, s: float,
                 psoas: dict[int, Psoas] | None = None) -> None:
    w = recipe.organ_wobble
    contact = recipe.organ_contact > 0 and psoas is not None
    if psoas is not None:
        psoas_r = max(max(p.rx, p.ry) for p in psoas.values())
    front, back = -cav_ant, cav_post  # anterior and posterior limits of the cavity (mm)
    # Vessels in front of the spine (aorta left, IVC right).
    ra = rng.uniform(8.0, 14.0) * s
    c.blob(T.AORTA, sp.half_width * rng.uniform(0.2, 0.6), -sp.half_depth - ra - rng.uniform(1, 5), ra, ra, within=SOFT)
    c.blob(T.IVC, -sp.half_width * rng.uniform(0.6, 1.1), -sp.half_depth - rng.uniform(6, 14), rng.uniform(9, 16),
           rng.uniform(5, 11), within=SOFT)
    # Kidneys: retroperitoneal, lateral to psoas, in front of quadratus lumborum.
    centre = rng.uniform(1.6, 2.8)
    for side, shift in ((1, -rng.uniform(0.1, 0.5)), (-1, 0.0)):
        f = 1.0 - ((level - centre - shift) / rng.uniform(0.9, 1.3)) ** 2
        if f > 0.05:
            if contact:
                _kidney_1_1(c, rng, recipe, sp, psoas, side, f, psoas_r, s, w)
                continue
            kx = side * (sp.half_width + 2 * psoas_r + rng.uniform(15.0, 35.0) * s)
            ky = sp.canal_y * rng.uniform(-0.6, 0.4)
            krx, kry = 30.0 * s * np.sqrt(f), 22.0 * s * np.sqrt(f)
            angle = side * rng.uniform(20.0, 60.0)
            c.blob(T.VAT, kx, ky, krx + 6.0, kry + 6.0, angle_deg=angle, within=SOFT)  # perirenal fat
            c.blob(T.KIDNEY, kx, ky, krx, kry, angle_deg=angle, wobble=wobble(rng, w * 0.3), within=SOFT)
            if f > 0.4:
                c.blob(T.KIDNEY_MEDULLA, kx - side * krx * 0.35, ky - krx * 0.15, krx * 0.45, kry * 0.45,
                       angle_deg=angle, wobble=wobble(rng, w), within=(T.KIDNEY,))
    # Liver: right, large at L1, its tip at L3 or lower; spleen: left, posterolateral.
    liver_bottom = rng.uniform(2.3, 4.0)
    e = min(liver_bottom - level, 1.5)
    if e > 0:
        size = 0.35 + 0.45 * min(e, 1.0)
        c.blob(T.LIVER, -cav_rx * (1.0 - 0.55 * size), yc + (back - yc) * 0.1 * rng.uniform(-1, 1) - cav_ant * 0.1,
               cav_rx * size * rng.uniform(0.8, 1.1), (cav_ant + back) * 0.5 * size * rng.uniform(0.7, 1.0),
               angle_deg=rng.uniform(-30, 30), wobble=wobble(rng, w), within=SOFT)
        if contact and rng.random() < recipe.organ_contact:  # left lobe across the midline, behind the rectus
            lry = rng.uniform(10.0, 28.0) * s * (0.5 + 0.5 * min(e, 1.0))
            c.blob(T.LIVER, cav_rx * rng.uniform(-0.45, 0.2), front + lry * rng.uniform(0.3, 0.9),
                   cav_rx * rng.uniform(0.25, 0.5), lry, angle_deg=rng.uniform(-15, 15), wobble=wobble(rng, w * 0.5),
                   within=SOFT)
    if contact:
        _spleen_1_1(c, rng, recipe, level, cav_rx, cav_ant, yc, back, s, w)
    else:
        spleen_bottom = rng.uniform(1.2, 2.7)
        if level < spleen_bottom:
            size = min(spleen_bottom - level, 1.0)
            c.blob(T.SPLEEN, cav_rx * rng.uniform(0.6, 0.8), yc + (back - yc) * rng.uniform(0.2, 0.6),
                   (18 + 22 * size) * s, (25 + 25 * size) * s, angle_deg=rng.uniform(-60, -20),
                   wobble=wobble(rng, w), within=SOFT)
    if level < 2.4:  # pancreas across the aorta; stomach left anterior
        c.blob(T.PANCREAS, rng.uniform(-10, 25), -sp.half_depth - 2 * ra - rng.uniform(8, 20), rng.uniform(30, 55) * s,
               rng.uniform(7, 14) * s, angle_deg=rng.uniform(-25, 5), wobble=wobble(rng, w), within=SOFT)
    if level < 2.6 and rng.random() < 0.8:
        sx, sy = cav_rx * rng.uniform(0.15, 0.55), front * rng.uniform(0.35, 0.6)
        r = rng.uniform(25.0, 55.0) * s * (2.8 - level) / 1.5
        painted = c.blob(T.STOMACH_WALL, sx, sy, r, r * rng.uniform(0.6, 1.0), wobble=wobble(rng, w), within=SOFT)
        if painted is not None:
            c.blob(T.STOMACH_CONTENT, sx, sy, r - 4.0, r * rng.uniform(0.6, 1.0) - 4.0, within=(T.STOMACH_WALL,))
            _gas_level(c, sx, sy, r, rng.uniform(-0.8, 0.3))
    if 1.4 < level < 2.6 and rng.random() < 0.5:
        c.blob(T.GALLBLADDER, -cav_rx * rng.uniform(0.2, 0.45), front * rng.uniform(0.3, 0.6), rng.uniform(10, 20),
               rng.uniform(8, 16), wobble=wobble(rng, w * 0.5), within=SOFT)
    _bowel(c, rng, level, cav_rx, front, back, yc, s, w)


def _kidney_1_1(c: Canvas, rng: np.random.Generator, recipe: Recipe, sp: Spine, psoas: dict[int, Psoas], side: int,
                f: float, psoas_r: float, s: float, w: float) -> None:
    """A kidney of generator 1.1: against psoas in a share of draws (painted over later: no fat between),
    with the renal sinus fat opening anteromedially."""
    krx, kry = 30.0 * s * np.sqrt(f), 22.0 * s * np.sqrt(f)
    angle = side * rng.uniform(20.0, 60.0)
    if rng.random() < recipe.organ_contact:
        p = psoas[side]
        kx = side * (p.lateral + krx * rng.uniform(0.45, 0.9))
        ky = p.y + rng.uniform(-14.0, 10.0)
    else:
        kx = side * (sp.half_width + 2 * psoas_r + rng.uniform(15.0, 35.0) * s)
        ky = sp.canal_y * rng.uniform(-0.6, 0.4)
    c.blob(T.KIDNEY, kx, ky, krx, kry, angle_deg=angle, wobble=wobble(rng, w * 0.3), within=SOFT)
    if f > 0.4:
        c.blob(T.KIDNEY_MEDULLA, kx - side * krx * 0.35, ky - krx * 0.15, krx * 0.45, kry * 0.45,
               angle_deg=angle, wobble=wobble(rng, w), within=(T.KIDNEY,))
        if rng.random() < 0.6:  # renal sinus fat (the hilum)
            c.blob(T.VAT, kx - side * krx * 0.6, ky - kry * 0.3, krx * 0.35, kry * 0.3, angle_deg=angle,
                   within=(T.KIDNEY, T.KIDNEY_MEDULLA))


def _spleen_1_1(c: Canvas, rng: np.random.Generator, recipe: Recipe, level: float, cav_rx: float, cav_ant: float,
                yc: float, back: float, s: float, w: float) -> None:
    """The spleen of generator 1.1 (1 in 5 enlarged; in a share of draws a crescent along the posterolateral
    wall), then the diaphragm between liver or spleen and the wall in a share of upper-lumbar draws."""
    spleen_bottom = rng.uniform(1.2, 2.7) + (0.8 if rng.random() < 0.2 else 0.0)
    if level < spleen_bottom:
        size = min(spleen_bottom - level, 1.0)
        srx, sry = (12 + 14 * size) * s * rng.uniform(0.8, 1.3), (28 + 30 * size) * s * rng.uniform(0.8, 1.3)
        if rng.random() < recipe.organ_contact:
            polar = np.deg2rad(rng.uniform(100.0, 140.0))
            ex, ey = cav_rx * np.sin(polar), yc - (back - yc) * np.cos(polar)  # on the cavity outline
            inward = np.hypot(ex, ey - yc)
            cx, cy = ex - srx * 0.8 * ex / inward, ey - srx * 0.8 * (ey - yc) / inward
            tangent = np.rad2deg(np.arctan2(ey - yc, ex)) + 90.0  # long axis along the wall
            c.blob(T.SPLEEN, cx, cy, sry, srx, angle_deg=tangent, wobble=wobble(rng, w), within=SOFT)
        else:
            c.blob(T.SPLEEN, cav_rx * rng.uniform(0.6, 0.8), yc + (back - yc) * rng.uniform(0.2, 0.6), srx, sry,
                   angle_deg=rng.uniform(-60, -20), wobble=wobble(rng, w), within=SOFT)
    if level < 2.4 and rng.random() < recipe.organ_contact:
        t = rng.uniform(2.0, 5.0)
        for lo, hi in ((60.0, 165.0), (-165.0, -60.0)):
            band(c, T.OTHER_MUSCLE, cav_rx, yc + cav_ant, back - yc, yc, t, (lo, hi),
                 within=(T.LIVER, T.SPLEEN))


def _gas_level(c: Canvas, x: float, y: float, r: float, fraction: float) -> None:
    """Gas rises to the front (smaller y) of a lumen above a fluid level at ``fraction`` of its radius."""
    win = c.window(x, y, r)
    if win is None:
        return
    rows, cols, _, yy = win
    target = c.labels[rows, cols]
    target[(target == T.STOMACH_CONTENT) & (yy < y + fraction * r)] = T.GAS


def _bowel(c: Canvas, rng: np.random.Generator, level: float, cav_rx: float, front: float, back: float, yc: float,
           s: float, w: float) -> None:
    """Colon (ascending right, descending left, transverse in front above L3) and small-bowel loops."""
    colon = [(-cav_rx * rng.uniform(0.6, 0.85), yc + (back - yc) * rng.uniform(-0.3, 0.3)),
             (cav_rx * rng.uniform(0.65, 0.9), yc + (back - yc) * rng.uniform(-0.2, 0.4))]
    if level < 3.0 and rng.random() < 0.7:
        colon.append((rng.uniform(-0.4, 0.4) * cav_rx, front * rng.uniform(0.6, 0.85)))
    contrast = rng.random() < 0.3
    for x, y in colon:
        r = rng.uniform(14.0, 30.0) * s
        _loop(c, rng, x, y, r, rng.choice(["stool", "gas", "fluid", "collapsed"], p=[0.5, 0.25, 0.1, 0.15]),
              contrast and rng.random() < 0.5, w)
    for _ in range(int(rng.integers(10, 35))):
        x, y = rng.uniform(-0.75, 0.75) * cav_rx, yc + (front - yc) * rng.uniform(-0.1, 0.95)
        kind = rng.choice(["fluid", "collapsed", "gas", "stool"], p=[0.5, 0.3, 0.15, 0.05])
        _loop(c, rng, x, y, rng.uniform(7.0, 18.0) * s, kind, contrast, w)


def _loop(c: Canvas, rng: np.random.Generator, x: float, y: float, r: float, kind: str, contrast: bool,
          w: float) -> None:
    angle, squash = rng.uniform(0, 180), rng.uniform(0.55, 1.0)
    wall = rng.uniform(1.5, 4.0)
    painted = c.blob(T.BOWEL_WALL, x, y, r, r * squash, angle_deg=angle, wobble=wobble(rng, w * 0.4), within=SOFT)
    if painted is None or kind == "collapsed":
        return
    content = T.ORAL_CONTRAST if contrast and kind == "fluid" else {"fluid": T.BOWEL_FLUID, "gas": T.GAS,
                                                                     "stool": T.STOOL}[kind]
    c.blob(content, x, y, r - wall, r * squash - wall, angle_deg=angle, within=(T.BOWEL_WALL,))
    if kind == "stool":  # gas bubbles in faeces
        for _ in range(int(rng.integers(2, 9))):
            c.blob(T.GAS, x + rng.uniform(-0.6, 0.6) * r, y + rng.uniform(-0.6, 0.6) * r, rng.uniform(1, 4),
                   rng.uniform(1, 4), within=(T.STOOL,))
    elif kind == "fluid" and rng.random() < 0.3:
        win = c.window(x, y, r)
        if win is not None:
            rows, cols, _, yy = win
            target = c.labels[rows, cols]
            target[(target == content) & (yy < y - rng.uniform(0.0, 0.5) * r)] = T.GAS
