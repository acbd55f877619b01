"""Draw randomised synthetic head MRIs and write them as a phantom-style training folder
(``dataset.json`` with image, temporalis labels, ``head_structures`` map and metadata with the orbit
landmarks), which ``musclequant train`` reads for the temporalis model and the orbit level finder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ...fileio import write_json
from ..base import RawCase, _smooth_field_coarse, finalize
from ..head_anatomy import EYE_X, EYE_Y, EYE_Z, GLOBE_RADIUS, STRUCTURES, HeadPainter, draw_head
from ..head_mri import TEMPORALIS, _grid, _landmarks, _rotation, _sample_params
from ..registry import write_case
from ..subject import Subject, sample_subject
from .intensity import add_texture, smooth_volume, tissue_values
from .recipe import ABLATIONS, FULL, GENERATOR_VERSION, Recipe

ANATOMY = "temporalis"


def draw_head_case(rng: np.random.Generator, recipe: Recipe = FULL) -> tuple[RawCase, Subject]:
    """One randomised head MRI in canonical order (before ``finalize`` adds noise and orientation)."""
    subject = sample_subject(rng)
    in_view = bool(rng.random() < recipe.in_view_fraction)
    values, contrast = tissue_values(rng, recipe)
    scale, params = _sample_params(rng, subject)
    scale = float(np.clip(scale * rng.normal(1.0, recipe.head_scale_sd), 0.8, 1.2)) if recipe.head_scale_sd else scale
    pose = {"pitch_deg": float(rng.uniform(-12.0, 12.0)), "yaw_deg": float(rng.uniform(-6.0, 6.0)),
            "roll_deg": float(rng.uniform(-6.0, 6.0))}
    rotation = _rotation(pose["pitch_deg"], pose["yaw_deg"], pose["roll_deg"])
    resolution = "low" if rng.random() < recipe.low_resolution_fraction else "standard"
    shape, spacing, z0, center = _grid(rng, resolution, scale, in_view, rotation)
    painter = HeadPainter(shape, spacing, z0, center, rotation, scale, values["air"])
    draw_head(painter, values, params)
    landmarks = _landmarks(painter) if in_view else {}
    image, labels, structures = painter.image, painter.labels, painter.structures
    design: dict[str, Any] = {"contrast": contrast, "head_scale": scale, "resolution": resolution, **pose}
    if recipe.texture:
        image = add_texture(image, rng)
    if recipe.elastic_mm > 0 or recipe.anisotropy > 0:
        image, labels, structures = _deform(image, labels, structures, spacing, rng, recipe)
    if recipe.partial_volume:
        sigma_z = float(rng.uniform(0.2, 0.6))
        image = ndimage.gaussian_filter(image, (sigma_z, 0.3, 0.3))
    if recipe.bias_max > 0:
        image = image * np.exp(_smooth_field_coarse(rng, image.shape, float(rng.uniform(0.0, recipe.bias_max))))
    image = image + float(rng.uniform(0.0, 0.04)) * smooth_volume(rng, image.shape, 0.6)
    if in_view and rng.random() < recipe.face_cut_fraction:
        row = painter.to_index((EYE_X, EYE_Y, EYE_Z))[1] + rng.uniform(-0.9, 0.4) * GLOBE_RADIUS * scale / spacing[1]
        cut = max(int(round(row)), 0)
        image[:, :cut], labels[:, :cut], structures[:, :cut] = values["air"], 0, 0
        design["face_cut_row"] = cut
    raw = RawCase(modality="MR", image=np.clip(image, 0.0, None).astype(np.float32), labels=labels,
                  label_names={TEMPORALIS: "temporalis"}, spacing=spacing, target_level="superior_orbital_quarter",
                  landmarks=landmarks,
                  extra_labels={"head_structures": (structures, {i: n for n, i in STRUCTURES.items()})},
                  truth={"design": design})
    return raw, subject


def _deform(image: np.ndarray, labels: np.ndarray, structures: np.ndarray, spacing: tuple[float, float, float],
            rng: np.random.Generator, recipe: Recipe) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-plane elastic warp plus independent left-right / front-back scaling (head shape); slices
    stay where they are, so the orbit landmarks keep their slice indices."""
    nz, ny, nx = image.shape
    coarse = (max(2, nz // 8), 5, 5)
    fields = []
    for axis, n in ((1, ny), (2, nx)):
        small = rng.normal(0.0, recipe.elastic_mm / spacing[2 - axis], coarse)
        field = ndimage.zoom(small, (nz / coarse[0], ny / coarse[1], nx / coarse[2]), order=1)[:nz, :ny, :nx]
        stretch = float(np.exp(rng.normal(0.0, recipe.anisotropy)))
        ramp = (np.arange(n, dtype=np.float32) - (n - 1) / 2) * (1.0 / stretch - 1.0)
        fields.append(field + (ramp[None, :, None] if axis == 1 else ramp[None, None, :]))
    zz, yy, xx = np.meshgrid(np.arange(nz, dtype=np.float32), np.arange(ny, dtype=np.float32),
                             np.arange(nx, dtype=np.float32), indexing="ij")
    coords = np.stack([zz, yy + fields[0], xx + fields[1]])
    warped_image = ndimage.map_coordinates(image, coords, order=1, mode="nearest")
    warped_labels = ndimage.map_coordinates(labels, coords, order=0, mode="nearest")
    warped_structures = ndimage.map_coordinates(structures, coords, order=0, mode="nearest")
    return warped_image, warped_labels, warped_structures


def head_recipe(recipe: Any) -> Recipe:
    """This generator's recipe for ``recipe``: its own, or the one of the same ablation name when the
    caller passes another generator's recipe (the training script names ablations, not generators)."""
    if recipe is None:
        return FULL
    if isinstance(recipe, Recipe):
        return recipe
    from ..synth import ABLATIONS as OTHER

    name = next((k for k, v in OTHER.items() if v == recipe), None)
    if name not in ABLATIONS:
        raise ValueError(f"recipe {name or recipe!r} has no head-MRI counterpart (choose one of {sorted(ABLATIONS)})")
    return ABLATIONS[name]


def write_training_folder(out: str | Path, n: int, seed: int, recipe: Any = FULL) -> dict[str, Any]:
    """``n`` head MRIs drawn from ``seed`` into ``out`` (phantom-style case files and ``dataset.json``)."""
    recipe = head_recipe(recipe)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        raw, subject = draw_head_case(rng, recipe)
        case = finalize(raw, f"synth_head_{i:05d}", ANATOMY, subject, rng)
        entries.append(write_case(case, out))
    manifest = {"kind": "synthetic_training", "anatomy": ANATOMY, "seed": seed, "n": n,
                "generator": "MuscleQuantLib.phantoms.synth_head", "generator_version": GENERATOR_VERSION,
                "recipe": recipe.to_dict(), "cases": entries}
    write_json(out / "dataset.json", manifest)
    return manifest
