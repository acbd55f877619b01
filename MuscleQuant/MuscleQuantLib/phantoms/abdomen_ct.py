"""Synthetic abdominal CT for the L3 preset (five muscle groups, Kreher 2022).

The hard parts of the real task are drawn in: the L3 level must be identified among look-alike
vertebrae (ribs to T12, iliac crest near L4, sacrum, varied heights), muscle shares its HU with
liver, spleen, kidneys, bowel wall, vessels and unlabelled muscles (diaphragm crura, iliacus,
glutei, chest wall), muscles carry fat streaks (IMAT) and their size follows the subject's SMI.
"""

from __future__ import annotations

import numpy as np

from .abdomen_anatomy import (
    POSTERIOR_POWER,
    Anatomy,
    Polar,
    outline,
    paint_bowel,
    paint_organs,
    paint_thorax,
    paint_vessels,
    ramp,
    sample_anatomy,
    wave_field,
)
from .base import RawCase
from .shapes import Canvas, Frame
from .subject import Subject
from .trunk_spine import (
    FULL,
    SlicePainter,
    Spine,
    arc_angles,
    iliac_arc,
    paint_disc,
    paint_iliac_wings,
    paint_ribs,
    paint_sacrum,
    paint_vertebra,
)
from .vertebrae import VERTEBRA_LABEL_NAMES

RECTUS, WALL, PSOAS, QL, ERECTOR = 1, 2, 3, 4, 5
LABEL_NAMES = {RECTUS: "rectus_abdominis", WALL: "abdominal_wall", PSOAS: "psoas_major", QL: "quadratus_lumborum",
               ERECTOR: "erector_spinae"}
SLICE_THICKNESSES_MM = (2.5, 3.0, 5.0)
IMAT_OFFSET_HU = 25.0  # IMAT streaks are fat plus partial volume with muscle
SMI_DEFINITION = ("total area of labels 1-5 (rectus, abdominal wall, psoas, quadratus lumborum, erector spinae; "
                  "IMAT streaks excluded) on the canonical slice nearest the L3 body centre, voxel count x sx x sy "
                  "in cm², divided by height² in m²; measured on the clean label map before noise")


def paint_slice(a: Anatomy, p: SlicePainter, polar: Polar, z: float) -> None:
    """One axial slice, painted from the outside in: body, thorax, bowel, organs, vessels, muscles, bone."""
    hu, spine, s = a.hu, a.spine, a.size
    u = spine.level_coordinate(z)
    rx, ry_ant, ry_post = outline(a, u)
    sn, pw = polar.sin, POSTERIOR_POWER
    r_ant = 1.0 / np.sqrt(polar.cos2 / rx**2 + polar.sin2 / ry_ant**2)
    r_post = (polar.cos_p / rx**pw + polar.sin_p / ry_post**pw) ** (-1 / pw)
    depth = np.where(sn > 0, r_post, r_ant) - polar.dist
    sat_ant, sat_lat, sat_post = a.sat
    d_in = depth - (sat_lat + (sat_ant - sat_lat) * np.clip(-sn, 0, 1) + (sat_post - sat_lat) * np.clip(sn, 0, 1))
    p.paint((FULL, depth >= 0), hu["skin"])
    p.paint((FULL, depth >= 2.0), hu["fat"])
    p.paint((FULL, d_in >= 0), hu["fat"] + 10.0)  # visceral fat is slightly denser
    cavity = d_in > 14.0 * s
    bx, by = spine.body_center(z)
    by_upright = by - 0.5 * max(spine.sacrum.top_mm - z, 0.0)  # organs do not follow the sacral tilt
    cav_rx, cav_ant, cav_post = a.cavity
    inner_ry = 0.5 * (ry_ant - sat_ant + ry_post - sat_post)
    rib_ring = (0.5 * ((ry_post - sat_post) - (ry_ant - sat_ant)), rx - sat_lat - 10.0, inner_ry - 10.0)
    below_dome = cavity
    if u < 20.6:  # thorax: diaphragm domes, lungs, heart
        below_dome = paint_thorax(a, p, z, u, bx, by, rib_ring) & cavity
    paint_bowel(a, p, z, u, below_dome)
    paint_organs(a, p, z, u, bx, by_upright, below_dome)
    paint_vessels(a, p, z, u, bx, by_upright)
    paint_muscles(a, p, polar, z, u, bx, by, by_upright, d_in)
    paint_imat(a, p, z)
    if u < 20.0:
        paint_ribs(p, spine, z, hu, rib_ring)
    paint_iliac_wings(p, spine, z, hu)
    vertebra = spine.vertebra_at(z)
    if vertebra is not None and vertebra.name == "sacrum":
        paint_sacrum(p, spine, z, hu)
    elif vertebra is not None:
        paint_vertebra(p, spine, vertebra, z, hu)
    elif spine.sacrum.top_mm < z < spine.vertebrae[0].bottom_mm:
        paint_disc(p, spine, z, hu)


def paint_muscles(a: Anatomy, p: SlicePainter, polar: Polar, z: float, u: float, bx: float, by: float,
                  by_upright: float, d_in: np.ndarray) -> None:
    """The five labelled groups, sized by the calibrated muscle scale, plus unlabelled neighbours."""
    hu, s, spine, m = a.hu, a.size, a.spine, a.muscle_scale
    muscle, lat, inside = hu["muscle"], polar.lat_deg, d_in >= 0
    below_crest = float(np.clip((spine.iliac_crest_mm - z) / 25.0, 0, 1))
    thorax = ramp(u, [18.0, 19.8], [1, 0])
    if thorax > 0:  # chest wall and latissimus dorsi: muscle that is not in the preset
        p.paint((FULL, inside & (d_in < 8.0 * thorax) & (lat > 10) & (lat < 160)), muscle)
    lat_dorsi = ramp(u, [13, 19, 21.5], [7.0, 7.0, 0.0])
    if lat_dorsi > 0:
        p.paint((FULL, inside & (d_in < lat_dorsi) & (lat > 110) & (lat < 150)), muscle)
    a0, a1 = 40.0, 125.0 - 45.0 * below_crest
    wall_t = 15.0 * s * m * ramp(u, [14, 17, 19], [0, 0.4, 1]) * (1 - 0.3 * below_crest)
    if wall_t > 0.5:
        taper = np.clip((lat - a0) / 10, 0, 1) * np.clip((a1 - lat) / 12, 0, 1)
        bulge = 0.65 + 0.35 * np.sin(np.clip((lat - a0) / (a1 - a0), 0, 1) * np.pi)
        t = wall_t * taper * bulge
        plane = 1.8
        for lo, hi in ((0.0, 0.36), (0.36, 0.76), (0.76, 1.0)):  # external, internal oblique, transversus
            offset = lo * t + (plane if lo > 0 else 0) + (plane if lo > 0.5 else 0)
            layer = inside & (t > 0.5) & (d_in >= offset) & (d_in < offset + (hi - lo) * t)
            p.paint((FULL, layer), muscle, label=WALL)
    rect_t = 10.0 * s * m * ramp(u, [16.3, 18.0], [0, 1])
    if rect_t > 0.5:
        lens = np.sqrt(np.clip(np.sin(np.clip((lat - 3.5) / (a0 + 4.0 - 3.5), 0, 1) * np.pi), 0, 1))
        p.paint((FULL, inside & (d_in < rect_t * lens) & (lens > 0.05)), muscle, label=RECTUS)
    hd, hw = spine.by_name["L3"].half_depth, spine.by_name["L3"].half_width
    e = np.sqrt(ramp(u, [13, 17, 20, 23, 24.5, 26, 27.5], [0.62, 0.72, 0.92, 1.0, 0.85, 0.5, 0.25]))
    erx, ery = 31.0 * s * m * e, 22.0 * s * m * e
    for side in (1, -1):
        p.paint(p.ellipse(bx + side * (5.0 + 0.9 * erx), by + hd + 34.0 * s, erx, ery), muscle, label=ERECTOR,
                within=inside)
    eq = np.sqrt(ramp(u, [18.7, 19.5, 21, 22.5, 23.3], [0, 0.35, 0.8, 1.0, 0.9])
                 * np.clip((z - spine.iliac_crest_mm + 4.0) / 14.0, 0, 1))
    if eq > 0.05:
        for side in (1, -1):
            p.paint(p.ellipse(bx + side * (hw + 36.0 * s), by + 16.0 * s, 19.0 * s * m * eq, 8.0 * s * m * eq, -28.0 * side),
                    muscle, label=QL)
    arc = iliac_arc(spine, z)
    if arc is not None:  # iliacus inside the wing, gluteus medius outside it (unlabelled)
        cx, cy, rx, ry, thick, post, ant = arc
        f = float(np.clip((spine.iliac_crest_mm - z) / 20.0, 0.3, 1.0))
        for side in (1, -1):
            angles = arc_angles(p, side * cx, cy, side)
            p.paint(p.ring(side * cx, cy, rx - thick, ry - thick, 16.0 * f), muscle,
                    within=(angles <= 0.8 * post) & (angles >= -ant))
            p.paint(p.ring(side * cx, cy, rx + 22.0 * f, ry + 22.0 * f, 22.0 * f), muscle,
                    within=(angles <= post) & (angles >= -0.5 * ant) & inside)
    ep = np.sqrt(ramp(u, [18.7, 19.5, 20.5, 22, 23.5, 25, 27], [0, 0.2, 0.55, 1.0, 1.3, 1.35, 1.3]))
    if ep > 0.05:
        prx, pry = 19.0 * s * m * ep, 16.0 * s * m * ep
        px = hw + prx * ramp(u, [19, 22, 24, 26], [0.55, 0.8, 0.95, 1.2]) + ramp(u, [22, 26], [0, 18])
        py = by_upright + ramp(u, [19, 22, 24, 26], [4, 0, -10, -30])
        for side in (1, -1):
            p.paint(p.ellipse(bx + side * px, py, prx, pry, -25.0 * side), muscle, label=PSOAS)


def paint_imat(a: Anatomy, p: SlicePainter, z: float) -> None:
    """Fat streaks inside the labelled muscles (more with age and myosteatosis); they lose the label."""
    inside = (p.labels >= RECTUS) & (p.labels <= ERECTOR)
    if not inside.any():
        return
    field_values = wave_field(a.imat_waves, p.x[inside], p.y[inside], z)
    fat = np.zeros_like(inside)
    fat[inside] = field_values > a.imat_threshold
    p.paint((FULL, fat), a.hu["fat"] + IMAT_OFFSET_HU)


def muscle_area_mm2(labels: np.ndarray, spacing: tuple[float, float, float]) -> float:
    return float(np.count_nonzero((labels >= RECTUS) & (labels <= ERECTOR))) * spacing[0] * spacing[1]


def calibrate_muscle_scale(a: Anatomy, frame: Frame, polar: Polar, z: float) -> float:
    """Choose the muscle scale so the five-label area at z matches SMI x height² (secant on log-log)."""
    target = a.subject.target_smi * a.subject.height_m**2 * 100.0
    scratch_frame = Frame((1, *frame.shape[1:]), frame.spacing, z, frame.rotation_deg, frame.shift_mm)
    scratch_frame._xy = frame.xy()

    def area(m: float) -> float:
        a.muscle_scale = m
        canvas = Canvas(scratch_frame.shape, a.hu["air"], ("vertebrae",))
        paint_slice(a, SlicePainter(canvas, scratch_frame, 0, polar.crop), polar, z)
        return muscle_area_mm2(canvas.labels, frame.spacing)

    m0, a0 = 1.0, area(1.0)
    exponent, m = 1.5, float(np.clip((target / max(a0, 1.0)) ** (1 / 1.5), 0.35, 2.5))
    for _ in range(3):
        a1 = area(m)
        if abs(a1 / target - 1) < 0.01 or abs(np.log(m / m0)) < 1e-3:
            break
        exponent = float(np.clip(np.log(max(a1, 1.0) / max(a0, 1.0)) / np.log(m / m0), 0.8, 2.5))
        m0, a0, m = m, a1, float(np.clip(m * (target / max(a1, 1.0)) ** (1 / exponent), 0.35, 2.5))
    return m


def scan_range(rng: np.random.Generator, spine: Spine, in_view: bool, sz: float) -> tuple[float, float, str]:
    """z extent: abdomen scans hold all of L3 plus margins; others are chest or pelvis scans missing it."""
    l3 = spine.by_name["L3"]
    if in_view:
        top_u = rng.uniform(16.3, 19.6) if rng.random() < 0.85 else rng.uniform(19.6, 21.0)
        top = max(spine.z_of_level(top_u), l3.top_mm + 2 * sz)
        bottom = min(rng.uniform(spine.sacrum.top_mm - 60.0, spine.z_of_level(23.4)), l3.bottom_mm - 2 * sz)
        return bottom, top, "abdomen"
    if rng.random() < 0.75:
        bottom = max(spine.z_of_level(rng.uniform(18.3, 21.0)), l3.top_mm + sz + 1.0)
        return bottom, spine.z_of_level(rng.uniform(13.3, 16.0)), "chest"
    top = min(spine.z_of_level(rng.uniform(23.3, 24.3)), l3.bottom_mm - sz - 1.0)
    return spine.sacrum.top_mm - rng.uniform(60.0, 100.0), top, "pelvis"


def _axial_frame(rng: np.random.Generator, a: Anatomy, nz: int, sz: float, bottom: float,
                 resolution: str) -> tuple[Frame, Polar]:
    """The in-plane grid around the body: random shift, rotation and a 2.0-3.5 mm pixel."""
    shift = (float(rng.uniform(-15, 15)), float(rng.uniform(-15, 10)))
    half = max(a.rx * 1.05, a.ry_ant, a.ry_post) + 15.0 + max(abs(shift[0]), abs(shift[1]))
    spacing_xy = max(float(rng.uniform(2.0, 3.5)), 2 * half / 168)
    if resolution == "low":
        spacing_xy *= 2
    n = int(np.ceil(2 * half / spacing_xy))
    frame = Frame((nz, n, n), (spacing_xy, spacing_xy, sz), bottom, float(rng.uniform(-8, 8)), shift)
    return frame, Polar.of(frame, max(a.rx * 1.05, a.ry_ant, a.ry_post) + 4.0)


def generate_l3_slice(rng: np.random.Generator, subject: Subject, resolution: str = "standard") -> tuple[RawCase, Anatomy]:
    """Only the axial slice through the L3 body centre: cohorts of hundreds of patients in seconds.

    Returns the anatomy as well, so a caller can add subject-specific texture to the muscle.
    """
    a = sample_anatomy(rng, subject)
    sz = float(rng.choice(SLICE_THICKNESSES_MM))
    l3 = a.spine.by_name["L3"]
    frame, polar = _axial_frame(rng, a, 1, sz, l3.center_mm, resolution)
    a.muscle_scale = calibrate_muscle_scale(a, frame, polar, l3.center_mm)
    canvas = Canvas(frame.shape, a.hu["air"], ("vertebrae",))
    paint_slice(a, SlicePainter(canvas, frame, 0, polar.crop), polar, l3.center_mm)
    pixel = frame.spacing[0] * frame.spacing[1]
    csa = {name: float(np.count_nonzero(canvas.labels[0] == lab)) * pixel for lab, name in LABEL_NAMES.items()}
    truth = {"index": {"name": "smi_cm2_m2", "value": sum(csa.values()) / 100.0 / subject.height_m**2,
                       "unit": "cm2/m2", "center": 45.0, "step": 10.0, "definition": SMI_DEFINITION},
             "contrast_phase": a.phase, "scan_region": "l3_slice", "muscle_scale": a.muscle_scale,
             "muscle_hu": subject.muscle_hu, "l3_center_slice_canonical": 0, "csa_mm2": csa,
             "total_csa_cm2": sum(csa.values()) / 100.0}
    raw = RawCase(modality="CT", image=canvas.image, labels=canvas.labels, label_names=dict(LABEL_NAMES),
                  spacing=frame.spacing, target_level="L3", levels={"L3": (0, 0)}, truth=truth)
    return raw, a


def generate(rng: np.random.Generator, subject: Subject, in_view: bool, resolution: str) -> RawCase:
    """One abdominal CT case in canonical (z, y, x) order, with muscle, vertebra labels and truth."""
    a = sample_anatomy(rng, subject)
    sz = float(rng.choice(SLICE_THICKNESSES_MM))
    bottom, top, scan_kind = scan_range(rng, a.spine, in_view, sz)
    nz = int(np.floor((top - bottom) / sz)) + 1
    frame, polar = _axial_frame(rng, a, nz, sz, bottom, resolution)
    l3 = a.spine.by_name["L3"]
    center_slice = int(round(frame.slice_of(l3.center_mm)))
    l3_in_view = in_view and 0 <= center_slice < nz
    a.muscle_scale = calibrate_muscle_scale(a, frame, polar, frame.z_mm(center_slice) if l3_in_view else l3.center_mm)
    canvas = Canvas(frame.shape, a.hu["air"], ("vertebrae",))
    for k in range(nz):
        paint_slice(a, SlicePainter(canvas, frame, k, polar.crop), polar, frame.z_mm(k))
    levels = {}
    for v in a.spine.vertebrae:
        ks = [k for k in range(nz) if v.contains(frame.z_mm(k))]
        if ks:
            levels[v.name] = (ks[0], ks[-1])
    truth = {"index": {"name": "smi_cm2_m2", "value": None, "unit": "cm2/m2", "center": 45.0, "step": 10.0,
                       "definition": SMI_DEFINITION},
             "contrast_phase": a.phase, "scan_region": scan_kind, "muscle_scale": a.muscle_scale,
             "muscle_hu": subject.muscle_hu, "oral_contrast": a.oral_contrast is not None}
    if l3_in_view:
        labels = canvas.labels[center_slice]
        pixel = frame.spacing[0] * frame.spacing[1]
        csa = {name: float(np.count_nonzero(labels == lab)) * pixel for lab, name in LABEL_NAMES.items()}
        total = sum(csa.values())
        truth["index"]["value"] = total / 100.0 / subject.height_m**2
        imat = np.count_nonzero(canvas.image[center_slice] == np.float32(a.hu["fat"] + IMAT_OFFSET_HU))
        truth.update(l3_center_slice_canonical=center_slice, csa_mm2=csa, total_csa_cm2=total / 100.0,
                     imat_mm2=float(imat) * pixel)
    landmarks = {}
    if bottom <= a.spine.iliac_crest_mm <= frame.z_mm(nz - 1):
        landmarks["iliac_crest"] = frame.slice_of(a.spine.iliac_crest_mm)
    return RawCase(modality="CT", image=canvas.image, labels=canvas.labels, label_names=dict(LABEL_NAMES),
                   spacing=frame.spacing, target_level="L3", levels=levels, landmarks=landmarks,
                   extra_labels={"vertebrae": (canvas.extra["vertebrae"], dict(VERTEBRA_LABEL_NAMES))}, truth=truth)
