"""Synthetic contrast-enhanced head-and-neck CT for the C3 preset (Naser et al. 2022).

Labels: 1 paravertebral muscles (longus, scalenes, levator scapulae, splenius, semispinalis and
multifidus, suboccipitals, trapezius), 2 sternocleidomastoid, each over its whole 3D extent.
Extra label maps: "vertebrae" (C1..T6 bodies and posterior elements, shared label values) and
"c3_section" (the body inside the skin within the 33 mm slab centred on mid-C3, the target of the
paper's stage-1 network).

What makes it hard, as in real scans: C3 is one of several similar vertebrae and must be found by
counting from the skull base (heights, discs, lordosis and head flexion vary); many unlabelled
structures have muscle attenuation next to the labelled muscles (tongue, pterygoid and strap
muscles, pharyngeal wall, larynx, oesophagus, lymph nodes, glands, thyroid cartilage, unenhanced
veins in arterial phase, the cord); out-of-view cases are head CTs ending above C3 or chest CTs
starting below it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import neck_anatomy as na
from .base import RawCase
from .neck_painter import NeckPainter, SliceArtist
from .shapes import Canvas, Frame
from .subject import Subject
from .tissues import sample_ct_values
from .vertebrae import VERTEBRA_LABELS

LABEL_NAMES = {1: "paravertebral_muscles", 2: "sternocleidomastoid"}
SECTION_NAME = "C3_section"
SECTION_THICKNESS_MM = 33.0
INDEX_NAME = "c3_muscle_index_cm2_m2"
# Mean and SD of the index over 60 simulated in-view subjects (case_rng("c3", 0, 0..59), standard
# resolution): 10.4 ± 2.1 cm²/m² (men 11.9, women 9.2; r = 0.94 with the subject's L3 SMI).
INDEX_CENTER = 10.4
INDEX_STEP = 2.1
SLICE_THICKNESSES = (1.0, 2.0, 2.5, 3.0)
SLICE_THICKNESS_WEIGHTS = (0.2, 0.3, 0.25, 0.25)
MAX_INPLANE_PX = 200
CONTRAST_PHASES = ("venous", "arterial")
CONTRAST_WEIGHTS = (0.7, 0.3)

__all__ = ["INDEX_CENTER", "INDEX_STEP", "INDEX_NAME", "LABEL_NAMES", "generate"]


def _tissue_values(rng: np.random.Generator, phase: str, muscle_hu: float) -> dict[str, float]:
    """Per-case HU of every structure; several deliberately fall in the muscle range (−29…150)."""
    v = sample_ct_values(rng, phase, muscle_hu)
    unenhanced_blood = float(rng.normal(42.0, 5.0))
    venous_fraction = 1.0 if phase == "venous" else float(rng.uniform(0.1, 0.5))  # veins fill late
    v.update(
        other_muscle=muscle_hu + float(rng.normal(0.0, 4.0)),
        artery=v["blood"],
        vein=unenhanced_blood + venous_fraction * (v["blood"] - unenhanced_blood) * float(rng.uniform(0.8, 1.0)),
        teeth=float(rng.uniform(1500.0, 2500.0)),
        dense_bone=float(rng.uniform(1100.0, 1600.0)),
        posterior_bone=0.5 * (v["cortical_bone"] + v["cancellous_bone"]),
        mucosa=float(rng.uniform(35.0, 80.0)),
        parotid=float(rng.uniform(-40.0, 30.0)),  # fatty to muscle-like with age
        submandibular=float(rng.uniform(40.0, 90.0)),
        thyroid_isthmus=v["thyroid"],
        larynx=muscle_hu + float(rng.uniform(-5.0, 20.0)),
        oesophagus=muscle_hu + float(rng.uniform(-5.0, 10.0)),
    )
    return v


def _scan_range(rng: np.random.Generator, geometry: na.NeckGeometry, in_view: bool) -> tuple[float, float, str]:
    """Body z of the lowest and highest slice, and what kind of scan it is."""
    verts = geometry.vertebrae
    half = SECTION_THICKNESS_MM / 2
    if in_view:
        top = float(rng.uniform(verts["C1"].z_top - 5.0, geometry.z_skull_base + 45.0))
        bottom = float(rng.uniform(verts["T2"].z_bottom, verts["C7"].z_mid))
        return min(bottom, -half - 6.0), max(top, half + 6.0), "neck"
    if rng.random() < 0.8:  # head CT ending at or above C1-C2
        lowest = max(verts["C2"].z_mid, verts["C3"].z_top + 6.0, half + 4.0)
        bottom = float(rng.uniform(lowest, geometry.z_skull_base + 15.0))
        return bottom, bottom + float(rng.uniform(110.0, 180.0)), "head"
    top = float(rng.uniform(verts["C7"].z_bottom, min(verts["C6"].z_mid, verts["C3"].z_bottom - 6.0, -half - 4.0)))
    return top - float(rng.uniform(90.0, 150.0)), top, "chest"


def _section_slices(reference: float, sz: float) -> tuple[int, int]:
    """Slices of the 33 mm slab centred on the reference: as many as fit, symmetric about it."""
    n = max(1, int(round(SECTION_THICKNESS_MM / sz)))
    first = int(round(reference - (n - 1) / 2))
    return first, first + n - 1


def generate(rng: np.random.Generator, subject: Subject, in_view: bool, resolution: str) -> RawCase:
    """Draw one neck CT in canonical (z, y, x) order; see the module docstring for the contents."""
    geometry = na.sample_geometry(rng, subject)
    phase = str(rng.choice(CONTRAST_PHASES, p=CONTRAST_WEIGHTS))
    values = _tissue_values(rng, phase, subject.muscle_hu)
    z_low, z_high, kind = _scan_range(rng, geometry, in_view)
    sz = float(rng.choice(SLICE_THICKNESSES, p=SLICE_THICKNESS_WEIGHTS))
    spacing_xy = float(rng.uniform(1.2, 2.2))
    fov = float(rng.uniform(320.0, 400.0) if kind == "chest" else rng.uniform(200.0, 270.0))
    n = int(np.clip(round(fov / spacing_xy), 96, MAX_INPLANE_PX))
    spacing_xy = fov / n if kind == "chest" else spacing_xy
    if resolution == "low":
        spacing_xy, n = spacing_xy * 2.0, n // 2
    nz = int(np.floor((z_high - z_low) / sz)) + 1
    shift = (float(rng.normal(0.0, 5.0)), float(rng.normal(0.0, 5.0)) + (0.0 if kind != "head" else 15.0))
    frame = Frame((nz, n, n), (spacing_xy, spacing_xy, sz), z_low, float(rng.normal(0.0, 3.0)), shift)
    canvas = Canvas(frame.shape, values["air"], ("vertebrae",))
    painter = NeckPainter(SliceArtist(canvas, frame), geometry, values, rng)

    reference = frame.slice_of(0.0)
    section = np.zeros(frame.shape, dtype=np.uint8)
    first, last = _section_slices(reference, sz) if in_view else (1, 0)
    for k in range(nz):
        outline = painter.paint_slice(k, frame.z_mm(k))
        if first <= k <= last:
            section[k][outline] = 1

    levels = {name: (min(ks), max(ks)) for name, ks in painter.body_slices.items()}
    landmarks: dict[str, float] = {}
    truth: dict[str, Any] = {"scan": kind, "contrast_phase": phase}
    value = None
    if in_view:
        levels[SECTION_NAME] = (first, last)
        landmarks["C3_reference"] = float(reference)
        k_ref = int(round(reference))
        pixel_mm2 = spacing_xy * spacing_xy
        csa = {LABEL_NAMES[lab]: float(np.count_nonzero(canvas.labels[k_ref] == lab) * pixel_mm2) for lab in LABEL_NAMES}
        value = sum(csa.values()) / 100.0 / subject.height_m**2
        truth.update(reference_slice=k_ref, csa_mm2=csa, total_csa_mm2=sum(csa.values()),
                     section_thickness_mm=(last - first + 1) * sz)
    truth["index"] = {
        "name": INDEX_NAME,
        "value": value,
        "unit": "cm2/m2",
        "center": INDEX_CENTER,
        "step": INDEX_STEP,
        "definition": "C3 skeletal muscle CSA (paravertebral muscles + both sternocleidomastoids, labels 1+2) "
                      "on the canonical reference slice (mid-C3 body), cm², divided by height² (m²)",
    }
    vertebra_names = {VERTEBRA_LABELS[name]: name for name in na.SPINE}
    return RawCase(
        modality="CT",
        image=canvas.image,
        labels=canvas.labels,
        label_names=dict(LABEL_NAMES),
        spacing=(spacing_xy, spacing_xy, sz),
        target_level="C3",
        levels=levels,
        landmarks=landmarks,
        extra_labels={"vertebrae": (canvas.extra["vertebrae"], vertebra_names),
                      "c3_section": (section, {1: SECTION_NAME})},
        truth=truth,
    )
