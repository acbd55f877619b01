"""Tissue label map of one axial slice of the abdomen between L1 and L4, built outward from the spine:
vertebra, then the muscles where anatomy puts them relative to it (psoas beside the body growing
caudally, quadratus lumborum in front of the transverse-process tips, erector spinae behind them,
the lateral wall and rectus around the cavity), ribs and diaphragm crura above L3, iliac crests
below, then the organs that share muscle's HU (liver, spleen, kidneys, pancreas, stomach, bowel with
gas, stool and contrast, aorta, IVC), fat from thin to obese, arms and the table.

Coordinates are millimetres: x towards the patient's left, y posterior, (0, 0) the vertebral body centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classes import T
from .habitus import Habitus
from .recipe import Recipe
from .shapes import Canvas, elastic, wobble

SOFT = (T.VAT,)  # organs are painted into visceral fat only, so they never cover muscle or bone
CANVAS_MM = (600.0, 480.0)


@dataclass(frozen=True)
class Spine:
    level: float  # 1 = L1 centre … 4 = L4 centre
    disc: bool  # the slice cuts an intervertebral disc
    half_width: float
    half_depth: float
    canal_y: float
    tp_reach: float  # transverse-process tip distance from the midline


def draw_spine(rng: np.random.Generator, level: float, size: float) -> Spine:
    frac = level - np.floor(level)
    disc = bool(min(frac, 1 - frac) > 0.44 and rng.random() < 0.8)
    hw = size * (20.0 + 1.8 * level) * rng.uniform(0.92, 1.08)
    hd = size * (14.0 + 1.0 * level) * rng.uniform(0.92, 1.08)
    tp = size * float(np.interp(level, [1, 2, 3, 4], [30.0, 38.0, 46.0, 40.0])) * rng.uniform(0.9, 1.1)
    return Spine(level, disc, hw, hd, hd + size * rng.uniform(8.0, 11.0), tp)


def paint_spine(c: Canvas, sp: Spine, rng: np.random.Generator, size: float) -> None:
    if sp.disc:
        c.blob(T.DISC, 0, 0, sp.half_width + 1, sp.half_depth, power=2.4)
    else:
        c.blob(T.CORTICAL, 0, 0, sp.half_width, sp.half_depth, power=2.4, wobble=wobble(rng, 0.05))
        c.blob(T.CANCELLOUS, 0, 0, sp.half_width - 2.0, sp.half_depth - 2.0, power=2.4)
    cy, r = sp.canal_y, size * rng.uniform(7.5, 10.0)
    if not sp.disc or rng.random() < 0.5:  # pedicles, laminae, spinous and transverse processes
        for side in (-1, 1):
            c.blob(T.CORTICAL, side * 0.55 * sp.half_width, sp.half_depth + 3.0, 5.0 * size, 7.0 * size)
            if not sp.disc:
                angle = side * rng.uniform(-12, 4)
                c.blob(T.CORTICAL, side * (sp.tp_reach + 10.0) / 2, cy - 2.0, (sp.tp_reach - 10.0) / 2,
                       4.0 * size, angle_deg=angle, power=2.5)
        c.ring(T.CORTICAL, 0, cy + 2.0, r + 8.0 * size, r + 7.0 * size, 6.5 * size)
        spin_len = size * rng.uniform(28.0, 40.0)
        c.blob(T.CORTICAL, 0, cy + r + 4.0 + spin_len / 2, 3.5 * size, spin_len / 2, power=3.0)
    c.blob(T.CANAL, 0, cy, r * 1.15, r, power=2.2)


@dataclass(frozen=True)
class Psoas:
    """One psoas: centre (x mm from the midline, y), radii and tilt; ``lateral`` its outer edge (mm from the
    midline), where a kidney that abuts it starts."""

    x: float
    y: float
    rx: float
    ry: float
    angle: float
    wobble: np.ndarray | None
    lateral: float


def draw_psoas(rng: np.random.Generator, recipe: Recipe, sp: Spine, level: float, r: float, s: float
               ) -> dict[int, Psoas]:
    """Both psoas muscles, drawn before the organs so that a kidney can be placed against them
    (``Recipe.organ_contact``). Above L3 the muscle is small and flattened against the side of the vertebral
    body, longer front to back than wide (about 9 x 27 mm at L1-L2 on real CT); it rounds out caudally.
    Side ``-1`` is the patient's right."""
    out = {}
    for side in (-1, 1):
        if recipe.anatomy:
            aspect = float(np.interp(level, [1.0, 2.0, 3.0, 4.0], [0.35, 0.5, 0.8, 0.95])) * rng.uniform(0.8, 1.2)
            rx, ry = r * np.sqrt(aspect), r / np.sqrt(aspect)
            angle = rng.uniform(0, 15) if level < 2.5 else rng.uniform(0, 35)
        else:
            rx, ry, angle = r, r * rng.uniform(0.75, 0.95), rng.uniform(0, 35)
        x = sp.half_width + rx * rng.uniform(0.55, 0.85)
        y = float(np.interp(level, [1, 2, 3, 4], [6.0, 3.0, -2.0, -8.0])) * s + rng.uniform(-4, 4)
        reach = float(np.hypot(rx * np.cos(np.deg2rad(angle)), ry * np.sin(np.deg2rad(angle))))
        out[side] = Psoas(x, y, rx, ry, angle, wobble(rng, 0.12 if recipe.anatomy else 0.0), x + reach)
    return out


def paint_body(c: Canvas, hab: Habitus, rx: float, ry_ant: float, ry_post: float, yc: float) -> np.ndarray:
    """Skin and subcutaneous fat: a superellipse flatter at the back; returns the body mask."""
    x, y = c.coordinates()
    ry = np.where(y < yc, ry_ant, ry_post)
    power = np.where(y < yc, 2.0, 3.2)
    r = np.abs(x / rx) ** power + np.abs((y - yc) / ry) ** power
    body = r <= 1.0
    c.fill(T.SKIN, body)
    inner = (np.abs(x / (rx - 2.0)) ** power + np.abs((y - yc) / (ry - 2.0)) ** power) <= 1.0
    c.fill(T.SAT, inner)
    return body


def band(c: Canvas, value: int, rx: float, ry_ant: float, ry_post: float, yc: float, thickness: float,
         angles: tuple[float, float], within: tuple[int, ...] | None = None) -> None:
    """A band ``thickness`` mm thick inside the trunk ellipse (anterior/posterior radii differ),
    between two polar angles (0 anterior midline, +90 patient left, ±180 posterior)."""
    x, y = c.coordinates()
    ry = np.where(y < yc, ry_ant, ry_post)
    ri = np.where(y < yc, ry_ant - thickness, ry_post - thickness)
    outer = (x / rx) ** 2 + ((y - yc) / ry) ** 2 <= 1.0
    inner = (x / max(rx - thickness, 1.0)) ** 2 + ((y - yc) / np.maximum(ri, 1.0)) ** 2 <= 1.0
    polar = np.rad2deg(np.arctan2(x, -(y - yc)))
    mask = outer & ~inner & (polar >= angles[0]) & (polar <= angles[1])
    if within is not None:
        mask &= np.isin(c.labels, within)
    c.fill(value, mask)


def _midline_organ(c: Canvas, rng: np.random.Generator, level: float, mrx: float, mra: float, mrp: float,
                   yc: float, gap: float, depth: float, s: float) -> None:
    """An organ (the liver's left lobe above L3, else stomach or bowel wall) in the linea alba gap, against
    the subcutaneous fat: the gap between the recti becomes visceral fat, then the organ fills it."""
    band(c, T.VAT, mrx, mra, mrp, yc, depth + 1.0, (-gap, gap), within=(T.SAT,))
    organ = T.LIVER if level < 2.8 and rng.random() < 0.7 else (T.STOMACH_WALL if rng.random() < 0.5 else T.BOWEL_WALL)
    ry = rng.uniform(12.0, 30.0) * s
    rx = rng.uniform(0.6, 1.2) * mra * np.sin(np.deg2rad(gap)) + rng.uniform(15.0, 45.0) * s
    c.blob(organ, rng.uniform(-0.3, 0.3) * rx, yc - mra + ry * rng.uniform(0.6, 0.9), rx, ry,
           angle_deg=rng.uniform(-10, 10), wobble=wobble(rng, 0.15), within=SOFT)


def draw_abdomen(rng: np.random.Generator, recipe: Recipe, hab: Habitus, pixel_mm: float = 1.0
                 ) -> tuple[Canvas, dict[str, float]]:
    """One slice's tissue map (after elastic deformation) and what was drawn (level, sizes)."""
    level = float(rng.uniform(*recipe.levels)) if recipe.anatomy else 3.0
    s, m = hab.size, hab.muscle
    sp = draw_spine(rng, level, s)
    psoas_r = m * s * float(np.interp(level, [1.0, 2.0, 3.0, 4.0, 4.5], [5.0, 10.0, 16.0, 21.0, 23.0]))
    ql_r = m * s * float(np.interp(level, [1.0, 2.0, 3.0, 4.0, 4.5], [7.0, 13.0, 18.0, 19.0, 14.0]))
    if not recipe.anatomy:
        psoas_r, ql_r = 16.0 * m * s, 18.0 * m * s
    psoas_r *= rng.uniform(0.8, 1.2)
    # Organ contact (1.1) draws both psoas up front; without it the draws are exactly generator 1.0's.
    psoas = draw_psoas(rng, recipe, sp, level, psoas_r, s) if recipe.organ_contact > 0 else None
    es_rx, es_ry = m ** 0.6 * s * rng.uniform(22.0, 34.0), m ** 0.6 * s * rng.uniform(18.0, 28.0)
    es_x, es_y = 4.0 + es_rx * rng.uniform(0.85, 1.0), sp.canal_y + es_ry * rng.uniform(0.55, 0.8)
    back = es_y + es_ry  # posterior muscle surface
    wall_t = m * s * rng.uniform(7.0, 16.0)
    cav_rx = sp.half_width + 2 * psoas_r + s * rng.uniform(55.0, 85.0) + 0.6 * hab.visceral
    cav_ant = s * rng.uniform(75.0, 110.0) + hab.visceral
    cav_post = back - 10.0
    yc = 0.2 * (cav_post - cav_ant)  # centre of the trunk ellipse
    sat_a, sat_l, sat_p = hab.sat_mm
    rx = cav_rx + wall_t + sat_l + 2.0
    ry_ant = (yc + cav_ant) + wall_t + sat_a + 2.0
    ry_post = back - yc + sat_p + 2.0
    canvas = Canvas.empty(*CANVAS_MM, pixel_mm, y_centre=yc + 20.0)
    if hab.table:  # foam mattress (may be absent) and the curved table under the back
        back_y, radius, mt = yc + ry_post, 400.0, hab.table_gap_mm
        thickness = rng.uniform(6.0, 20.0)
        for angles in ((150.0, 180.0), (-180.0, -150.0)):
            if mt > 1.0:
                canvas.ring(T.MATTRESS, 0, back_y - radius, radius + mt, radius + mt, mt, angles=angles)
            canvas.ring(T.TABLE, 0, back_y - radius, radius + mt + thickness, radius + mt + thickness, thickness,
                        angles=angles)
    if hab.arms:
        for side in (-1, 1):
            ax = side * (rx + rng.uniform(15.0, 60.0))
            ay, arx, ary = yc + rng.uniform(-20, 40), rng.uniform(30, 45) * s, rng.uniform(32, 48) * s
            canvas.blob(T.SKIN, ax, ay, arx + 2, ary + 2)
            canvas.blob(T.SAT, ax, ay, arx, ary)
            canvas.blob(T.ARM_MUSCLE, ax, ay, arx - 5 - 10 * hab.fat, ary - 5 - 10 * hab.fat,
                        wobble=wobble(rng, 0.15))
            if rng.random() < 0.5:
                canvas.blob(T.ARM_BONE, ax + rng.uniform(-8, 8), ay + rng.uniform(-8, 8), 10 * s, 10 * s)
            else:
                for k in (-1, 1):
                    canvas.blob(T.ARM_BONE, ax + k * 9 * s, ay + rng.uniform(-6, 6), 6 * s, 7 * s)
    paint_body(canvas, hab, rx, ry_ant, ry_post, yc)
    # Lateral wall and rectus: a band just inside the fat, limited in polar angle.
    mrx, mra, mrp = cav_rx + wall_t, (yc + cav_ant) + wall_t, (cav_post - yc) + wall_t
    rect_end = rng.uniform(22.0, 38.0)
    post_end = rng.uniform(118.0, 138.0)
    for side in (-1, 1):
        lo, hi = (rect_end, post_end) if side > 0 else (-post_end, -rect_end)
        band(canvas, T.WALL, mrx, mra, mrp, yc, wall_t * rng.uniform(0.9, 1.3), (lo, hi), within=(T.SAT,))
    gap = rng.uniform(2.0, 7.0)
    # A wide linea alba with an organ in it (``Recipe.midline_contact``; no draw without it): on the real CT
    # the liver's left lobe lay against the midline fat between the recti, and the starter called it rectus.
    midline = recipe.midline_contact > 0 and rng.random() < recipe.midline_contact
    if midline:
        gap = rng.uniform(5.0, 14.0)
    rect_t = m * s * rng.uniform(7.0, 14.0)
    band(canvas, T.RECTUS, mrx, mra, mrp, yc, rect_t, (gap, rect_end - 1.0), within=(T.SAT,))
    band(canvas, T.RECTUS, mrx, mra, mrp, yc, rect_t, (-rect_end + 1.0, -gap), within=(T.SAT,))
    # Cavity: visceral fat inside the muscle ring, reaching back beside the spine.
    x, y = canvas.coordinates()
    ry_cav = np.where(y < yc, yc + cav_ant, cav_post - yc)
    cavity = ((x / cav_rx) ** 2 + ((y - yc) / ry_cav) ** 2 <= 1.0) & np.isin(canvas.labels, (T.SAT, T.SKIN))
    canvas.fill(T.VAT, cavity)
    if midline:
        _midline_organ(canvas, rng, level, mrx, mra, mrp, yc, gap, max(rect_t, wall_t), s)
    if level < 2.0 and recipe.anatomy and rng.random() < 0.6:  # lung bases in the posterior recesses
        for side in (-1, 1):
            canvas.blob(T.LUNG, side * cav_rx * 0.7, yc + 0.7 * (cav_post - yc), cav_rx * 0.3 * (2.0 - level),
                        22.0 * (2.0 - level) + 5.0, within=SOFT, wobble=wobble(rng, 0.2))
    info = {"level": level, "psoas_r": psoas_r, "fat": hab.fat, "muscle": m, "cav_rx": cav_rx}
    if psoas is not None:
        info["psoas_lateral_mm"] = max(p.lateral for p in psoas.values())
    if recipe.organs:
        from .organs import paint_organs

        paint_organs(canvas, rng, recipe, sp, level, cav_rx, cav_ant, cav_post, yc, psoas_r, s, psoas)
    # Posterior muscles over the cavity fat, then the spine over everything.
    for side in (-1, 1):
        canvas.blob(T.ERECTOR, side * es_x, es_y, es_rx, es_ry, angle_deg=side * rng.uniform(-10, 15),
                    power=rng.uniform(2.0, 2.8), wobble=wobble(rng, 0.12 if recipe.anatomy else 0.0))
        lat_t = m * s * rng.uniform(3.0, 8.0)  # latissimus: thin, outside the posterior wall
        band(canvas, T.OTHER_MUSCLE, mrx + lat_t + 1.0, mra + lat_t + 1.0, mrp + lat_t + 1.0, yc, lat_t,
             (95.0, 155.0) if side > 0 else (-155.0, -95.0), within=(T.SAT,))
        ql_x = side * (sp.tp_reach + rng.uniform(-6.0, 4.0))
        ql_y = sp.canal_y + rng.uniform(-6.0, 2.0)
        canvas.blob(T.QL, ql_x, ql_y, ql_r, ql_r * rng.uniform(0.4, 0.6), angle_deg=-side * rng.uniform(15, 40),
                    wobble=wobble(rng, 0.1 if recipe.anatomy else 0.0))
        if psoas is not None:
            p = psoas[side]
            canvas.blob(T.PSOAS, side * p.x, p.y, p.rx, p.ry, angle_deg=side * p.angle, wobble=p.wobble)
        else:
            px = side * (sp.half_width + psoas_r * rng.uniform(0.55, 0.85))
            py = float(np.interp(level, [1, 2, 3, 4], [6.0, 3.0, -2.0, -8.0])) * s + rng.uniform(-4, 4)
            canvas.blob(T.PSOAS, px, py, psoas_r, psoas_r * rng.uniform(0.75, 0.95),
                        angle_deg=side * rng.uniform(0, 35), wobble=wobble(rng, 0.12 if recipe.anatomy else 0.0))
        if recipe.anatomy and level < 2.6:  # diaphragm crus: muscle beside the body that is not psoas
            crus_len = rng.uniform(8.0, 18.0) * (2.8 - level)
            canvas.blob(T.OTHER_MUSCLE, side * (sp.half_width * 0.55 + 4.0), -sp.half_depth - crus_len * 0.4,
                        rng.uniform(3.0, 6.0), crus_len, angle_deg=side * rng.uniform(10, 35), within=SOFT)
        if recipe.anatomy and level < 2.6:  # ribs 11-12 in the posterolateral wall
            for _ in range(int(rng.integers(1, 3))):
                polar = np.deg2rad(rng.uniform(105.0, 150.0))
                rr = rng.uniform(0.95, 1.02)
                rib_x, rib_y = side * mrx * rr * np.sin(polar), yc - mrp * rr * np.cos(polar)
                canvas.blob(T.RIB, rib_x, rib_y, rng.uniform(5.0, 9.0), rng.uniform(4.0, 6.0),
                            angle_deg=rng.uniform(0, 180))
        if recipe.anatomy and level > 3.7:  # iliac crest beside the quadratus lumborum, gluteal muscle outside
            height = (level - 3.7) * 30.0
            il_x, il_y = side * (cav_rx * 0.9), yc + 0.55 * (cav_post - yc)
            canvas.blob(T.OTHER_MUSCLE, il_x + side * 12, il_y, 10.0 + height, 14.0 + height, within=(T.SAT, T.VAT, T.WALL))
            canvas.blob(T.ILIUM, il_x, il_y, 4.0 + 0.4 * height, 8.0 + height, angle_deg=side * 30.0)
    paint_spine(canvas, sp, rng, s)
    if recipe.elastic_px > 0:
        canvas.labels = elastic(canvas.labels, rng, recipe.elastic_px / pixel_mm)
    return canvas, info
