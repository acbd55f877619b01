"""Synthetic T1 post-contrast head MRI for the temporalis preset (Mi et al., Br J Cancer 2022).

The head (drawn in :mod:`.head_anatomy`) is pitched, yawed and rolled about its centre, so the
orbits are not aligned with the slices, and placed in a scanner grid with a random field of view,
in-plane spacing, slice thickness and z-extent. Out-of-view cases are upper-brain slabs that miss
the orbits.

Landmarks (``RawCase.landmarks``, fractional canonical slice indices, slice 0 most caudal):

- ``mid_orbit``: centre of the globes, mean of both eyes.
- ``globe_top`` / ``globe_bottom``: highest / lowest point of the globes, mean of both eyes.
- ``orbital_roof``: roof of the bony orbit, i.e. the underside of the orbital-roof plate, taken
  directly above each globe centre; mean of both sides.
- ``superior_orbital_quarter``: halfway between ``orbital_roof`` and ``mid_orbit``; the level
  where temporalis CSA is maximal in the paper, and the preset's target level.

Truth (``RawCase.truth``), measured on the label array at the nearest slice to a landmark, sides
split by the head's mid-sagittal plane, left = patient's left = larger canonical x:

- CSA (mm²) per side at ``superior_orbital_quarter`` and ``mid_orbit``; the index is their mean at
  ``superior_orbital_quarter``.
- TMT (temporal muscle thickness, mm) per side at ``orbital_roof``: the diameter of the largest
  disc inscribed in that side's muscle cross-section (it touches skull and fascia, so it is the
  maximal thickness perpendicular to the skull, as Furtner measures by hand). Discretised as
  ``2 * (max(EDT) - sub/2)`` on the mask upsampled 4x in-plane, EDT in mm to the nearest background
  sub-pixel centre, ``sub`` = pixel / 4: a band N pixels thick gives N - 1/4 pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .base import RawCase
from .head_anatomy import (
    ARCH_Z,
    CRANIUM_CENTER_Y,
    CRANIUM_RADII,
    EYE_X,
    EYE_Y,
    EYE_Z,
    GLOBE_RADIUS,
    ORBIT_CENTER,
    ORBIT_RADII,
    ORBIT_YAW_DEG,
    STRUCTURES,
    HeadPainter,
    HeadParams,
    draw_head,
)
from .subject import Subject
from .tissues import sample_mr_values

# Mean and SD of the index over 50 simulated in-view subjects (seed 0, standard resolution): 689 and 135 mm2.
INDEX_CENTER_MM2 = 690.0
INDEX_STEP_MM2 = 135.0
SLICE_THICKNESSES_MM = (1.0, 1.5, 2.0, 3.0, 5.0)
SLICE_THICKNESS_WEIGHTS = (0.25, 0.15, 0.2, 0.2, 0.2)
MAX_IN_PLANE_PIXELS = 200
MAX_SLICES = 120  # keeps a case near 200 x 200 x 100 voxels (generation time)
TEMPORALIS = 1
TMT_UPSAMPLE = 4
SCALP_MM = 8.0  # typical soft tissue over the vertex, to place the top of the scan


def _rotation(pitch_deg: float, yaw_deg: float, roll_deg: float) -> np.ndarray:
    """Head frame -> scanner: pitch about x (nodding), roll about y, yaw about z."""
    p, r, y = np.deg2rad([pitch_deg, roll_deg, yaw_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(r), 0, np.sin(r)], [0, 1, 0], [-np.sin(r), 0, np.cos(r)]])
    rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def orbital_roof_height(side: int) -> float:
    """Head-frame z of the orbit cavity's roof directly above the globe centre of one side."""
    ox, oy, oz = ORBIT_CENTER
    dx, dy = side * (EYE_X - ox), EYE_Y - oy
    c, s = np.cos(np.deg2rad(side * ORBIT_YAW_DEG)), np.sin(np.deg2rad(side * ORBIT_YAW_DEG))
    u, w = c * dx + s * dy, -s * dx + c * dy
    rx, ry, rz = ORBIT_RADII
    return float(oz + rz * np.sqrt(1.0 - (u / rx) ** 2 - (w / ry) ** 2))


def _sample_params(rng: np.random.Generator, subject: Subject) -> tuple[float, HeadParams]:
    """Head scale and tissue sizes of one subject; muscle follows ``subject.muscle_scale``."""
    male = subject.sex == "M"
    scale = (1.0 if male else 0.95) * (subject.height_m / (1.76 if male else 1.63)) ** 0.3
    scale = float(np.clip(scale * rng.normal(1.0, 0.025), 0.86, 1.12))
    peak = (13.0 if male else 11.0) * subject.muscle_scale**0.85 * float(rng.lognormal(0.0, 0.08))
    asymmetry = rng.normal(0.0, 0.04, size=2)
    params = HeadParams(
        temporalis_peak_mm=(peak * float(np.exp(asymmetry[0])), peak * float(np.exp(asymmetry[1]))),
        masseter_mm=float((15.0 if male else 13.0) * subject.muscle_scale**0.5 * rng.uniform(0.9, 1.1)),
        scalp_fat_mm=float(np.clip(3.5 + 0.25 * (subject.bmi - 25.0) + rng.normal(0.0, 0.6), 1.5, 8.0)),
        skin_mm=float(rng.uniform(1.6, 2.4)),
        skull_mm=float(rng.uniform(5.5, 7.5)),
    )
    return scale, params


def _scanner_z(rotation: np.ndarray, scale: float, point: tuple[float, float, float]) -> float:
    return float((rotation @ (np.asarray(point) * scale))[2])


def _z_range(rng: np.random.Generator, rotation: np.ndarray, scale: float, in_view: bool) -> tuple[float, float]:
    """Scanner z (head centre = 0) of the lowest and highest slice."""
    a, b, c_up, _ = CRANIUM_RADII
    radii = np.array([a + SCALP_MM, b + SCALP_MM, c_up + SCALP_MM]) * scale
    vertex = _scanner_z(rotation, scale, (0.0, CRANIUM_CENTER_Y, 0.0)) + float(np.linalg.norm(rotation[2] * radii))
    top = vertex + float(rng.uniform(-2.0, 6.0))
    roofs = [_scanner_z(rotation, scale, (s * EYE_X, EYE_Y, orbital_roof_height(s))) for s in (-1, 1)]
    if not in_view:
        return max(roofs) + float(rng.uniform(15.0, 40.0)), top
    arches = [_scanner_z(rotation, scale, (s * 62.0, y, ARCH_Z)) for s in (-1, 1) for y in (-55.0, 10.0)]
    bottom = min(arches) - float(rng.uniform(12.0, 30.0))
    if rng.random() < 0.35:  # a slab that stops in the upper brain
        top = min(top, max(roofs) + float(rng.uniform(50.0, 90.0)))
    return bottom, top


def _grid(rng: np.random.Generator, resolution: str, scale: float, in_view: bool, rotation: np.ndarray):
    """Field of view, spacing and head position in the scanner, as an MR technologist would vary them."""
    fov = float(rng.uniform(158.0, 260.0))
    n = min(MAX_IN_PLANE_PIXELS, int(np.ceil(fov / rng.uniform(1.0, 1.6))))  # pixel <= 1.6 mm
    if resolution == "low":
        n //= 2
    pixel = fov / n
    thickness = float(rng.choice(SLICE_THICKNESSES_MM, p=SLICE_THICKNESS_WEIGHTS))
    half = fov / 2.0
    room_x = max(0.0, half - 76.0 * scale)
    shift_x = float(np.clip(rng.uniform(-8.0, 8.0), -room_x, room_x))
    shift_y = max(float(rng.uniform(-8.0, 8.0)), -half + 94.0 * scale)  # keep the face, crop the occiput
    bottom, top = _z_range(rng, rotation, scale, in_view)
    nz = min(int(np.ceil((top - bottom) / thickness)) + 1, MAX_SLICES)  # thin slices: a partial-head slab
    return (nz, n, n), (pixel, pixel, thickness), bottom, (shift_x, shift_y, 0.0)


def _landmarks(p: HeadPainter) -> dict[str, float]:
    """Orbit landmarks as fractional canonical slices (means of both sides)."""
    eyes = [p.to_index((s * EYE_X, EYE_Y, EYE_Z))[0] for s in (-1, 1)]
    roofs = [p.to_index((s * EYE_X, EYE_Y, orbital_roof_height(s)))[0] for s in (-1, 1)]
    mid, roof = float(np.mean(eyes)), float(np.mean(roofs))
    radius = GLOBE_RADIUS * p.scale / p.spacing[2]
    return {"globe_bottom": mid - radius, "mid_orbit": mid, "superior_orbital_quarter": (mid + roof) / 2,
            "globe_top": mid + radius, "orbital_roof": roof}


def _side_masks(p: HeadPainter, k: int) -> dict[str, np.ndarray]:
    muscle = p.labels[k] == TEMPORALIS
    return {"right": muscle & (p.x[k] < 0), "left": muscle & (p.x[k] > 0)}


def inscribed_thickness_mm(mask: np.ndarray, pixel_mm: float) -> float:
    """Diameter of the largest disc inscribed in a 2D mask (see module docstring), 0 if empty."""
    if not mask.any():
        return 0.0
    rows, cols = np.nonzero(mask)
    crop = np.pad(mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1], 1)
    fine = np.repeat(np.repeat(crop, TMT_UPSAMPLE, axis=0), TMT_UPSAMPLE, axis=1)
    sub = pixel_mm / TMT_UPSAMPLE
    return float(2.0 * (ndimage.distance_transform_edt(fine, sampling=sub).max() - 0.5 * sub))


def _truth(p: HeadPainter, landmarks: dict[str, float], params: HeadParams, scale: float,
           pose: dict[str, float]) -> dict:
    pixel_area = p.spacing[0] * p.spacing[1]
    design = {"head_scale": scale, "temporalis_peak_thickness_mm": {"right": params.temporalis_peak_mm[0],
                                                                     "left": params.temporalis_peak_mm[1]},
              "masseter_thickness_mm": params.masseter_mm, "scalp_fat_mm": params.scalp_fat_mm, **pose}
    index = {"name": "temporalis_csa_mm2", "value": None, "unit": "mm2", "center": INDEX_CENTER_MM2,
             "step": INDEX_STEP_MM2,
             "definition": "mean of left and right temporalis CSA (mm2) on the axial slice nearest to the "
                           "superior orbital quarter (halfway between orbital roof and mid-orbit)"}
    truth: dict = {"index": index, "design": design, "tmt_definition": " ".join(__doc__.split("- TMT")[1].split())}
    if not landmarks:
        return truth
    slices = {name: int(round(landmarks[name])) for name in ("superior_orbital_quarter", "mid_orbit", "orbital_roof")}
    for level in ("superior_orbital_quarter", "mid_orbit"):
        masks = _side_masks(p, slices[level])
        truth[f"csa_{level}_mm2"] = {side: float(m.sum() * pixel_area) for side, m in masks.items()}
    truth["tmt_orbital_roof_mm"] = {side: inscribed_thickness_mm(m, p.spacing[0])
                                    for side, m in _side_masks(p, slices["orbital_roof"]).items()}
    truth["slices"] = slices
    index["value"] = float(np.mean(list(truth["csa_superior_orbital_quarter_mm2"].values())))
    return truth


def generate(rng: np.random.Generator, subject: Subject, in_view: bool, resolution: str) -> RawCase:
    """One head MRI: T1 post-gad intensities, temporalis label, orbit landmarks and true CSA/TMT."""
    values = sample_mr_values(rng)
    scale, params = _sample_params(rng, subject)
    pose = {"pitch_deg": float(rng.uniform(-12.0, 12.0)), "yaw_deg": float(rng.uniform(-6.0, 6.0)),
            "roll_deg": float(rng.uniform(-6.0, 6.0))}
    rotation = _rotation(pose["pitch_deg"], pose["yaw_deg"], pose["roll_deg"])
    shape, spacing, z0, center = _grid(rng, resolution, scale, in_view, rotation)
    painter = HeadPainter(shape, spacing, z0, center, rotation, scale, values["air"])
    draw_head(painter, values, params)
    landmarks = _landmarks(painter) if in_view else {}
    truth = _truth(painter, landmarks, params, scale, {**pose, "head_center_mm": list(center)})
    return RawCase(
        modality="MR",
        image=painter.image,
        labels=painter.labels,
        label_names={TEMPORALIS: "temporalis"},
        spacing=spacing,
        target_level="superior_orbital_quarter",
        landmarks=landmarks,
        extra_labels={"head_structures": (painter.structures, {i: n for n, i in STRUCTURES.items()})},
        truth=truth,
    )
