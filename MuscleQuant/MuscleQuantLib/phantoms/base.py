"""What every phantom generator returns, and the shared finishing steps: partial-volume blur,
scanner noise (CT) or bias field and Rician noise (MR), random storage orientation, metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .shapes import smooth_field
from .subject import Subject

ORIENTATIONS = ("LPS", "RAS", "feet_first", "oblique")
ORIENTATION_WEIGHTS = (0.35, 0.35, 0.1, 0.2)


@dataclass
class RawCase:
    """A generator's clean drawing in canonical index order.

    Arrays are (z, y, x) with x towards the patient's left, y posterior and z superior (identity
    LPS direction). Levels are inclusive canonical slice ranges; landmarks are fractional slices.
    """

    modality: str  # "CT" or "MR"
    image: np.ndarray
    labels: np.ndarray
    label_names: dict[int, str]
    spacing: tuple[float, float, float]  # (sx, sy, sz) mm
    target_level: str  # the level the preset measures ("L3", "C3", "superior_orbital_quarter", "thigh")
    levels: dict[str, tuple[int, int]] = field(default_factory=dict)
    landmarks: dict[str, float] = field(default_factory=dict)
    extra_labels: dict[str, tuple[np.ndarray, dict[int, str]]] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)  # anatomy-specific true values


@dataclass
class PhantomCase:
    """A finished case: images on one grid plus JSON-ready metadata."""

    case_id: str
    image: sitk.Image
    labels: sitk.Image
    extra_labels: dict[str, sitk.Image]
    metadata: dict[str, Any]


@dataclass(frozen=True)
class CTScanner:
    """A fixed CT scanner (blur and noise), for cohorts whose sites differ in image quality."""

    noise_sd_hu: float
    blur_mm: float


def _blur_and_noise(raw: RawCase, rng: np.random.Generator,
                    scanner: CTScanner | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """Scanner effects: partial volume (blur), then noise; MR also gets a smooth bias field.

    Without ``scanner`` blur and noise are drawn per case (every scanner differs)."""
    sx, sy, sz = raw.spacing
    blur_mm = float(rng.uniform(0.6, 1.4)) if scanner is None else scanner.blur_mm
    sigma = (blur_mm / sz * 0.5, blur_mm / sy, blur_mm / sx)  # slices are thicker: less z blur in voxels
    image = ndimage.gaussian_filter(raw.image.astype(np.float32), sigma)
    if raw.modality == "CT":
        noise_sd = float(rng.uniform(6.0, 22.0)) if scanner is None else scanner.noise_sd_hu
        image = image + rng.normal(0.0, noise_sd, image.shape).astype(np.float32)
        image = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
        return image, {"noise_sd_hu": noise_sd, "blur_mm": blur_mm}
    bias_strength = float(rng.uniform(0.05, 0.25))
    bias = np.exp(_smooth_field_coarse(rng, image.shape, bias_strength))
    noise_sd = float(rng.uniform(0.015, 0.05))
    real = image * bias + rng.normal(0.0, noise_sd, image.shape)
    imag = rng.normal(0.0, noise_sd, image.shape)
    image = np.sqrt(real**2 + imag**2)  # Rician magnitude noise
    image = np.clip(np.rint(image * 1000.0), 0, 32767).astype(np.int16)
    return image, {"noise_sd": noise_sd, "bias_field_sd": bias_strength, "blur_mm": blur_mm}


def _smooth_field_coarse(rng: np.random.Generator, shape: tuple[int, ...], amplitude: float, factor: int = 4) -> np.ndarray:
    """A bias field is smooth on the scale of the head: draw it at 1/``factor`` size and upsample
    (same look, ~50x cheaper than filtering the full volume with a very wide Gaussian)."""
    small = tuple(max(2, -(-n // factor)) for n in shape)
    field = smooth_field(rng, small, sigma_vox=max(small) / 4, amplitude=amplitude)
    zoom = [n / m for n, m in zip(shape, small, strict=True)]
    return ndimage.zoom(field, zoom, order=1, mode="nearest", grid_mode=True)[tuple(slice(0, n) for n in shape)]


def _oriented(arrays: list[np.ndarray], spacing: tuple[float, float, float], orientation: str,
              rng: np.random.Generator) -> tuple[list[np.ndarray], tuple[float, ...], tuple[float, ...], dict[str, Any]]:
    """Store the canonical arrays with a scanner-like direction matrix.

    Flips keep the anatomy at the same physical place (array and direction change together);
    'oblique' tilts the grid in space, as an angled acquisition does.
    """
    signs = {"LPS": (1, 1, 1), "RAS": (-1, -1, 1), "feet_first": (1, 1, -1), "oblique": (1, 1, 1)}[orientation]
    direction = np.diag(signs).astype(float)
    info: dict[str, Any] = {}
    if orientation == "oblique":
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = np.deg2rad(float(rng.uniform(5.0, 15.0)))
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        direction = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
        info = {"oblique_axis": axis.tolist(), "oblique_angle_deg": float(np.rad2deg(angle))}
    out = []
    for array in arrays:
        a = array
        if signs[0] < 0:
            a = a[:, :, ::-1]
        if signs[1] < 0:
            a = a[:, ::-1, :]
        if signs[2] < 0:
            a = a[::-1, :, :]
        out.append(np.ascontiguousarray(a))
    nz, ny, nx = arrays[0].shape
    # The canonical voxel (0,0,0) sits at physical (0,0,0) shifted so the volume is centred on the origin.
    canonical_origin = -0.5 * np.array([(nx - 1) * spacing[0], (ny - 1) * spacing[1], (nz - 1) * spacing[2]])
    size = np.array([nx, ny, nz])
    first_index = np.where(np.array(signs) < 0, size - 1, 0)  # canonical index of the stored voxel (0,0,0)
    origin = canonical_origin + first_index * np.array(spacing)
    if orientation == "oblique":
        origin = direction @ canonical_origin
    return out, tuple(float(v) for v in origin), tuple(float(v) for v in direction.ravel()), info


def finalize(raw: RawCase, case_id: str, anatomy: str, subject: Subject, rng: np.random.Generator,
             orientation: str | None = None, ct_scanner: CTScanner | None = None) -> PhantomCase:
    """Add scanner effects and a storage orientation; translate levels to the stored grid."""
    image_array, scanner = _blur_and_noise(raw, rng, ct_scanner)
    if orientation is None:
        orientation = str(rng.choice(ORIENTATIONS, p=ORIENTATION_WEIGHTS))
    extra_names = sorted(raw.extra_labels)
    arrays = [image_array, raw.labels] + [raw.extra_labels[n][0] for n in extra_names]
    arrays, origin, direction, orient_info = _oriented(arrays, raw.spacing, orientation, rng)
    images = []
    for i, array in enumerate(arrays):
        if i > 0:
            array = array.astype(np.uint8 if int(array.max(initial=0)) <= 255 else np.uint16)
        img = sitk.GetImageFromArray(array)
        img.SetSpacing(raw.spacing)
        img.SetOrigin(origin)
        img.SetDirection(direction)
        images.append(img)
    nz = raw.image.shape[0]
    z_flipped = orientation == "feet_first"

    def stored_slice(k: float) -> float:
        return (nz - 1 - k) if z_flipped else k

    def slice_center_mm(k: float) -> list[float]:
        _, ny, nx = raw.image.shape
        return [float(v) for v in images[0].TransformContinuousIndexToPhysicalPoint(((nx - 1) / 2, (ny - 1) / 2, float(k)))]

    levels = {}
    for name, (k0, k1) in raw.levels.items():
        a, b = sorted((stored_slice(k0), stored_slice(k1)))
        center = (a + b) / 2
        levels[name] = {"first_slice": int(a), "last_slice": int(b), "center_slice": center,
                        "center_point_mm": slice_center_mm(center)}
    landmarks = {name: {"slice": stored_slice(k), "point_mm": slice_center_mm(stored_slice(k))}
                 for name, k in raw.landmarks.items()}
    target_in_view = raw.target_level in levels or raw.target_level in landmarks
    metadata = {
        "case_id": case_id,
        "anatomy": anatomy,
        "modality": raw.modality,
        "orientation": orientation,
        **orient_info,
        "size": list(images[0].GetSize()),
        "spacing_mm": list(raw.spacing),
        "origin_mm": list(origin),
        "direction": list(direction),
        "label_names": {str(k): v for k, v in sorted(raw.label_names.items())},
        "extra_label_maps": {n: {str(k): v for k, v in sorted(raw.extra_labels[n][1].items())} for n in extra_names},
        "target_level": raw.target_level,
        "target_in_view": target_in_view,
        "levels": levels,
        "landmarks": landmarks,
        "scanner": scanner,
        "subject": subject.to_dict(),
        "truth": raw.truth,
    }
    return PhantomCase(case_id, images[0], images[1], dict(zip(extra_names, images[2:], strict=True)), metadata)
