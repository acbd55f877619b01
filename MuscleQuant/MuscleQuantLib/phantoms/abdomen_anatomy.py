"""Per-case anatomy of the abdominal CT phantom and the organs, bowel, vessels and thorax around the
muscles. Everything random is drawn once in :func:`sample_anatomy`; painting a slice never touches
the rng, so the muscle-size calibration can repaint a slice as often as it likes.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .shapes import Frame
from .subject import Subject
from .tissues import CT_HU, sample_ct_values
from .trunk_spine import FULL, SlicePainter, Spine, build_spine, pixel_window

PHASES, PHASE_WEIGHTS = ("none", "arterial", "venous"), (0.2, 0.2, 0.6)
POSTERIOR_POWER = 2.6  # the back is flatter than the belly


def ramp(u: float, points: list[float], values: list[float]) -> float:
    return float(np.interp(u, points, values))


def wave_field(waves: np.ndarray, x: np.ndarray, y: np.ndarray, z: float) -> np.ndarray:
    """Sum of random plane waves: a cheap, smooth, body-anchored random field with unit SD."""
    kx, ky, kz, phase = (w[:, None] for w in waves.T)
    flat = np.cos(kx * x.ravel()[None] + ky * y.ravel()[None] + kz * z + phase).sum(axis=0)
    return (flat / np.sqrt(len(waves) / 2)).reshape(x.shape)


def random_waves(rng: np.random.Generator, n: int, wavelengths: tuple[float, float], z_weight: float) -> np.ndarray:
    direction = rng.normal(size=(n, 3)) * np.array([1.0, 1.0, z_weight])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    k = 2 * np.pi / rng.uniform(*wavelengths, size=(n, 1))
    return np.hstack([direction * k, rng.uniform(0, 2 * np.pi, size=(n, 1))])


@dataclass
class Loop:
    x: float
    y: float
    z: float
    r: float
    hz: float
    kind: str  # "fluid", "collapsed" or "gas_fluid"


@dataclass
class Anatomy:
    """Everything drawn at random for one case; slices are then painted without touching the rng."""

    subject: Subject
    spine: Spine
    hu: dict[str, float]
    phase: str
    rx: float
    ry_ant: float
    ry_post: float
    sat: tuple[float, float, float]  # anterior, lateral, posterior subcutaneous fat (mm)
    dome: tuple[float, float, float, float]  # right/left dome top z, right/left dome depth
    liver_bottom_u: float
    spleen_bottom_u: float
    kidney_u: tuple[float, float]  # left, right centre levels
    gallbladder_u: float | None
    transverse_colon: tuple[float, float]  # z of the ends, sag (mm)
    bifurcation_mm: float
    duodenum_mm: float
    loops: list[Loop]
    plaques: list[tuple[float, float]]
    imat_waves: np.ndarray
    mottle_waves: np.ndarray
    imat_threshold: float
    oral_contrast: float | None
    muscle_scale: float = 1.0

    @property
    def size(self) -> float:
        return self.spine.size

    @property
    def cavity(self) -> tuple[float, float, float]:
        """Half-width, anterior and posterior reach of the abdominal cavity (mm)."""
        return self.rx - self.sat[1] - 15.0, self.ry_ant - self.sat[0] - 12.0, self.ry_post - self.sat[2]


def sample_anatomy(rng: np.random.Generator, subject: Subject) -> Anatomy:
    phase = str(rng.choice(PHASES, p=PHASE_WEIGHTS))
    hu = sample_ct_values(rng, phase, subject.muscle_hu)
    hu["cancellous_bone"] -= 1.5 * max(subject.age - 50.0, 0.0)  # bone loss with age
    spine = build_spine(rng, subject)
    bmi, female = subject.bmi, subject.sex == "F"
    rx = 165.0 * subject.body_scale * (0.97 if female else 1.0)
    ry_ant = rx * rng.uniform(0.64, 0.74) * (1 + 0.12 * np.clip((bmi - 25) / 10, -0.5, 1.5))
    ry_post = rx * rng.uniform(0.58, 0.65)
    sat = float(np.clip(5 + 1.8 * (bmi - 18) * (1.25 if female else 0.9), 4, 65) * rng.uniform(0.8, 1.2))
    sats = (sat * rng.uniform(1.0, 1.3), sat, sat * rng.uniform(0.7, 1.0))
    l3 = spine.by_name["L3"]
    spine.y_ref = ry_post - sats[2] - 8.0 - (l3.half_depth + 44.0 * spine.size) + 0.9 * spine.lordosis_mm
    top_right = spine.z_of_level(rng.uniform(16.6, 17.6))
    top_left = top_right - rng.uniform(8.0, 22.0)
    recess = spine.z_of_level(rng.uniform(19.2, 19.8))
    age = subject.age
    plaques = [(rng.uniform(spine.iliac_crest_mm, spine.by_name["L1"].top_mm), rng.uniform(0, 360))
               for _ in range(int(rng.poisson(max(age - 50.0, 0.0) / 5.0)))]
    cav_rx, cav_ant = rx - sats[1] - 15.0, ry_ant - sats[0] - 12.0
    loops = []
    for _ in range(int(rng.integers(36, 56))):  # small bowel packs the cavity from L2 down
        kind = str(rng.choice(["fluid", "collapsed", "gas_fluid"], p=[0.55, 0.3, 0.15]))
        loops.append(Loop(rng.uniform(-0.65, 0.65) * cav_rx, rng.uniform(-0.85, 0.1) * cav_ant,
                          spine.z_of_level(rng.uniform(20.3, 26.5)), rng.uniform(10, 19) * spine.size,
                          rng.uniform(15, 35), kind))
    imat_fraction = float(np.clip(0.015 + 0.0025 * (age - 50) + 0.005 * (40 - subject.muscle_hu), 0.005, 0.15))
    left_kidney = rng.uniform(19.8, 20.6)
    return Anatomy(
        subject=subject, spine=spine, hu=hu, phase=phase, rx=rx, ry_ant=ry_ant, ry_post=ry_post, sat=sats,
        dome=(top_right, top_left, (top_right - recess) / 1.21, (top_left - recess) / 1.21),
        liver_bottom_u=rng.uniform(20.0, 22.0), spleen_bottom_u=rng.uniform(19.0, 20.0),
        kidney_u=(left_kidney, left_kidney + rng.uniform(0.3, 0.7)),
        gallbladder_u=rng.uniform(19.8, 20.6) if rng.random() < 0.8 else None,
        transverse_colon=(spine.z_of_level(rng.uniform(19.8, 20.8)), rng.uniform(10, 60)),
        bifurcation_mm=spine.z_of_level(rng.uniform(22.8, 23.4)), duodenum_mm=spine.z_of_level(rng.uniform(21.6, 22.4)),
        loops=loops, plaques=plaques,
        imat_waves=random_waves(rng, 10, (9.0, 22.0), 0.3), mottle_waves=random_waves(rng, 10, (5.0, 10.0), 1.0),
        imat_threshold=NormalDist().inv_cdf(1.0 - imat_fraction),
        oral_contrast=rng.uniform(150, 280) if rng.random() < 0.25 else None)


@dataclass
class Polar:
    """Per-pixel polar terms about the body centre, shared by every slice of a case (float32, cropped)."""

    crop: tuple[slice, slice]
    dist: np.ndarray
    cos2: np.ndarray
    sin2: np.ndarray
    cos_p: np.ndarray  # |cos|**POSTERIOR_POWER: the back is flatter than the belly
    sin_p: np.ndarray
    sin: np.ndarray  # signed: > 0 posterior
    lat_deg: np.ndarray  # 0 anterior midline, 90 lateral, 180 posterior midline

    @classmethod
    def of(cls, frame: Frame, radius: float) -> Polar:
        crop = pixel_window(frame, 0.0, 0.0, radius) or FULL
        x, y = (v[crop].astype(np.float32) for v in frame.xy())
        dist = np.hypot(x, y) + np.float32(1e-3)
        c, s = np.abs(x) / dist, y / dist
        return cls(crop, dist, c * c, s * s, c**POSTERIOR_POWER, np.abs(s) ** POSTERIOR_POWER, s,
                   np.rad2deg(np.arctan2(np.abs(x), -y)))


def outline(a: Anatomy, u: float) -> tuple[float, float, float]:
    """Body half-width, anterior and posterior reach at level u: wider over the lower ribs and hips."""
    rx = a.rx * ramp(u, [18.0, 20.5, 23.3, 25.0], [1.04, 1.0, 1.0, 1.05])
    return rx, a.ry_ant * ramp(u, [16, 19, 23.5, 25.5], [1.02, 0.98, 1.0, 0.9]), a.ry_post


def paint_thorax(a: Anatomy, p: SlicePainter, z: float, u: float, bx: float, by: float,
                 rib_ring: tuple[float, float, float]) -> np.ndarray:
    """Lungs above the diaphragm domes (lowest in the posterior recesses), the diaphragm itself, the
    heart sitting on it; returns the mask of pixels below the diaphragm."""
    hu, s = a.hu, a.size
    cav_rx, cav_ant, cav_post = a.cavity
    top_r, top_l, depth_r, depth_l = a.dome
    xc, ax, ay, yc = 0.42 * cav_rx, 0.45 * cav_rx, 0.3 * (cav_ant + cav_post), 0.15 * cav_post
    q = ((np.abs(p.x) - xc) / ax) ** 2 + ((p.y - yc) / ay) ** 2 * np.where(p.y < yc, 0.35, 1.0)
    dome = np.where(p.x < 0, top_r - depth_r * q, top_l - depth_l * q)
    cy, rrx, rry = rib_ring
    chest = p.ellipse(0.0, cy, rrx - 4.0, rry - 4.0)
    above = dome < z
    p.paint(chest, hu["lung"], within=above)
    p.paint(p.ellipse(bx, by - 30.0 * s, 26.0 * s, 38.0 * s), hu["fat"], within=above)  # mediastinum
    p.paint(p.ellipse(bx + 4.0, by - a.spine.by_name["T12"].half_depth - 9.0, 8.0, 7.0), hu["bowel_wall"], within=above)
    heart_bottom = top_l - 10.0
    hz = 75.0 * s  # the heart reaches up to about T5-T6
    f = 1 - ((z - heart_bottom - hz) / hz) ** 2
    if f > 0:
        hx, hy, hrx, hry = 0.18 * cav_rx, -0.3 * cav_ant, 0.45 * cav_rx * np.sqrt(f), 0.5 * cav_ant * np.sqrt(f)
        p.paint(p.ellipse(hx, hy, hrx + 4.0, hry + 4.0, 30.0), hu["fat"], within=above)
        p.paint(p.ellipse(hx, hy, hrx, hry, 30.0), 45.0 + 0.4 * (hu["blood"] - CT_HU["blood"][0]), within=above)
        p.paint(p.ellipse(hx, hy, hrx - 10.0, hry - 10.0, 30.0), hu["blood"], within=above)
    p.paint(chest, hu["muscle"], within=np.abs(dome - z) < 2.5)  # diaphragm (unlabelled muscle)
    return ~above


def paint_bowel(a: Anatomy, p: SlicePainter, z: float, u: float, within: np.ndarray) -> None:
    """Small-bowel loops (fluid, collapsed or gas-fluid), colon with mottled faeces and gas."""
    hu, s = a.hu, a.size
    cav_rx, cav_ant, _ = a.cavity
    fluid = a.oral_contrast if a.oral_contrast is not None else hu["bowel_fluid"]
    for loop in a.loops:
        f = 1 - ((z - loop.z) / loop.hz) ** 2
        if f <= 0.05:
            continue
        r = loop.r * np.sqrt(f)
        p.paint(p.ellipse(loop.x, loop.y, r, r), hu["bowel_wall"], within=within)
        if loop.kind != "collapsed":
            lumen = p.ellipse(loop.x, loop.y, r - 2.5, r - 2.5)
            p.paint(lumen, fluid, within=within)
            if loop.kind == "gas_fluid" and lumen is not None:  # supine: gas rises anteriorly (-y)
                p.paint(lumen, hu["gas"], within=within & (p.y < loop.y - 0.2 * r))
    segments = []
    if 20.5 <= u < 24.8:
        segments.append((-0.72 * cav_rx, -0.05 * cav_ant, 22.0 * s))  # ascending colon / caecum
    if 19.3 < u < 27.0:  # descending colon, then sigmoid swinging medially
        t = ramp(u, [24.3, 27.0], [0, 1])
        segments.append(((0.74 - 0.5 * t) * cav_rx, -0.3 * t * cav_ant, 18.0 * s))
    for cx, cy, r in segments:
        colon = p.ellipse(cx, cy, r, r)
        if colon is not None:
            p.paint(colon, hu["bowel_wall"], within=within)
            lumen = p.ellipse(cx, cy, r - 3.0, r - 3.0)
            if lumen is not None:
                p.paint(lumen, hu["bowel_content"], within=within)
                gas = wave_field(a.mottle_waves, p.x[lumen[0]], p.y[lumen[0]], z) > 0.9
                if gas.any():
                    p.paint(lumen, hu["gas"], within=_full(p, lumen[0], gas) & within)
    z0, sag = a.transverse_colon
    wall = hu["bowel_wall"]
    paint_tube(p, z, z0, sag, 0.0, -0.6 * cav_ant, 22.0 * s, 0.62 * cav_rx, wall, hu["bowel_content"], within)
    by = a.spine.body_center(z)[1] - a.spine.by_name["L3"].half_depth - 32.0 * s  # duodenum crosses at L3
    paint_tube(p, z, a.duodenum_mm, 0.0, -10.0, by, 12.0 * s, 50.0 * s, wall, fluid, within)


def paint_tube(p: SlicePainter, z: float, z0: float, sag: float, x0: float, y0: float, r: float, width: float,
               wall: float, content: float, within: np.ndarray) -> None:
    """A bowel segment running left-right (transverse colon, duodenum), sagging by ``sag`` mm mid-way."""
    if not z0 - sag - r < z < z0 + r:
        return
    dz = z - (z0 - sag * (1 - np.clip((p.x - x0) / width, -1, 1) ** 2))
    half = np.sqrt(np.clip(r * r - dz * dz, 0, None))
    tube = (np.abs(p.y - y0) < half) & (np.abs(p.x - x0) < width + 10.0) & within
    p.paint((FULL, tube), wall)
    p.paint((FULL, tube & (np.abs(p.y - y0) < half - 3.0)), content)


def _full(p: SlicePainter, win: tuple[slice, slice], mask: np.ndarray) -> np.ndarray:
    out = np.zeros(p.x.shape, dtype=bool)
    out[win] = mask
    return out


def paint_organs(a: Anatomy, p: SlicePainter, z: float, u: float, bx: float, by: float, within: np.ndarray) -> None:
    """Liver, gallbladder, stomach, spleen, pancreas and kidneys: all near muscle HU in some phase."""
    hu, s, spine = a.hu, a.size, a.spine
    cav_rx, cav_ant, cav_post = a.cavity
    mean_r = 0.5 * (cav_ant + cav_post)
    u_top_r, u_top_l = spine.level_coordinate(a.dome[0]), spine.level_coordinate(a.dome[1])
    blood_gain = hu["blood"] - CT_HU["blood"][0]
    if u_top_r - 0.5 < u < a.liver_bottom_u:
        t = (u - u_top_r) / (a.liver_bottom_u - u_top_r)
        cx, cy = -cav_rx * (0.25 + 0.45 * t), -0.12 * cav_ant
        lrx, lry = cav_rx * (0.8 - 0.58 * max(t, 0)), mean_r * (0.85 - 0.6 * max(t, 0))
        p.paint(p.ellipse(cx, cy, lrx, lry), hu["liver"], within=within)
        for dx, dy in ((0.3, 0.1), (-0.2, -0.3)):  # hepatic/portal vessels
            p.paint(p.ellipse(cx + dx * lrx, cy + dy * lry, 5.0, 5.0), hu["blood"] if a.phase != "arterial"
                    else CT_HU["blood"][0] + 0.3 * blood_gain, within=within)
    if a.gallbladder_u is not None and abs(u - a.gallbladder_u) < 0.5:
        f = np.sqrt(1 - ((u - a.gallbladder_u) / 0.5) ** 2)
        p.paint(p.ellipse(-0.38 * cav_rx, -0.55 * cav_ant, 16.0 * f, 12.0 * f), hu["fluid"], within=within)
    if u_top_l < u < 20.2:
        t = (u - u_top_l) / (20.2 - u_top_l)
        cx, cy, srx, sry = cav_rx * (0.45 - 0.35 * t), -cav_ant * (0.35 + 0.1 * t), cav_rx * (0.33 - 0.15 * t), cav_ant * (0.33 - 0.13 * t)
        p.paint(p.ellipse(cx, cy, srx, sry), hu["bowel_wall"], within=within)
        lumen = p.ellipse(cx, cy, srx - 4.0, sry - 4.0)
        p.paint(lumen, hu["bowel_content"] + 40.0, within=within)
        p.paint(lumen, hu["gas"], within=within & (p.y < cy - 0.4 * sry))
    if u_top_l < u < a.spleen_bottom_u:
        f = np.sqrt(max(1 - ((2 * u - u_top_l - a.spleen_bottom_u) / (a.spleen_bottom_u - u_top_l)) ** 2, 0))
        p.paint(p.ellipse(0.62 * cav_rx, 0.35 * cav_post, 22.0 * s * f, 55.0 * s * f, -50.0), hu["spleen"], within=within)
    if 19.3 < u < 20.9:
        f = np.sin(np.pi * (u - 19.3) / 1.6)
        hd = spine.by_name["L1"].half_depth
        p.paint(p.ellipse(0.1 * cav_rx, by - hd - 35.0 * s, 0.45 * cav_rx * f, 11.0 * s, 18.0), hu["pancreas"], within=within)
    hw = spine.by_name["L2"].half_width
    for side, uc in zip((1, -1), a.kidney_u, strict=True):
        zc, hz = spine.z_of_level(uc), 55.0 * s
        f = 1 - ((z - zc) / hz) ** 2
        if f <= 0.02:
            continue
        f = np.sqrt(f)
        kx, ky, krx, kry, angle = side * (hw + 52.0 * s), by + 8.0, 28.0 * s * f, 21.0 * s * f, -40.0 * side
        p.paint(p.ellipse(kx, ky, krx + 9.0, kry + 9.0, angle), hu["fat"])  # perirenal fat
        p.paint(p.ellipse(kx, ky, krx, kry, angle), hu["kidney"])
        medulla = 35.0 + {"none": 1.0, "arterial": 0.3, "venous": 0.85}[a.phase] * (hu["kidney"] - 35.0)
        p.paint(p.ellipse(kx, ky, krx - 6.0, kry - 6.0, angle), medulla)
        if f > 0.85:  # renal sinus fat and pelvis open anteromedially
            sx_, sy_ = kx - side * 0.45 * krx, ky - 0.35 * kry
            p.paint(p.ellipse(sx_, sy_, 0.45 * krx, 0.4 * kry, angle), hu["fat"])
            p.paint(p.ellipse(sx_, sy_, 0.2 * krx, 0.2 * kry, angle), hu["fluid"])


def paint_vessels(a: Anatomy, p: SlicePainter, z: float, u: float, bx: float, by: float) -> None:
    """Aorta (calcified with age) and IVC with their iliac branches, crura, portal vein, SMA."""
    hu, s, spine = a.hu, a.size, a.spine
    hd = spine.by_name["L1"].half_depth
    gain = hu["blood"] - CT_HU["blood"][0]
    venous = {"none": hu["blood"], "arterial": CT_HU["blood"][0] + 0.2 * gain, "venous": hu["blood"] - 0.1 * gain}[a.phase]
    r_a = 11.0 * s * (1 + 0.004 * (a.subject.age - 60))
    ax = bx + ramp(u, [13, 17, 19.5, 23], [20, 17, 8, 6]) * s
    ay = by - (hd + r_a + 1.0) * ramp(u, [13, 17, 19.5], [0.3, 0.6, 1.0])
    if 18.0 < u < 20.5:
        for side in (1, -1):
            p.paint(p.ellipse(bx + side * 16.0 * s, by - hd - 6.0, 6.0 * s, 13.0 * s, -20.0 * side), hu["muscle"])
    if z >= a.bifurcation_mm:
        p.paint(p.ellipse(ax, ay, r_a, r_a), hu["blood"])
        for zp, angle in a.plaques:
            if abs(z - zp) < 2.5:
                t = np.deg2rad(angle)
                p.paint(p.ellipse(ax + r_a * np.cos(t), ay + r_a * np.sin(t), 2.2, 2.2), 700.0)
    else:
        d = a.bifurcation_mm - z
        for side in (1, -1):
            p.paint(p.ellipse(ax + side * (8.0 + 0.45 * d), ay + 0.15 * d, 6.5 * s, 6.5 * s), hu["blood"])
    confluence = a.bifurcation_mm - 12.0
    if z >= confluence:
        vx = bx - ramp(u, [15, 18.5, 20.5, 23], [12, 22, 25, 24]) * s
        vy = by - hd - ramp(u, [15, 18.5, 20.5], [40, 30, 12]) * s
        p.paint(p.ellipse(vx, vy, 13.0 * s, 9.0 * s), venous)
    else:
        d = confluence - z
        for side in (1, -1):
            p.paint(p.ellipse(bx + side * (6.0 + 0.45 * d) - 4.0, by - hd + 0.2 * d, 7.0 * s, 6.0 * s), venous)
    if 19.6 < u < 21.5:
        p.paint(p.ellipse(bx - 8.0, by - hd - 45.0 * s, 7.0 * s, 7.0 * s), venous if a.phase != "arterial" else
                CT_HU["blood"][0] + 0.5 * gain)
    if 19.8 < u < 22.5:
        p.paint(p.ellipse(ax - 4.0, ay - r_a - 12.0 * s, 4.0 * s, 4.0 * s), hu["blood"])
