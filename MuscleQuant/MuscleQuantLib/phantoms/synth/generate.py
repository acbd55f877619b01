"""Draw randomised synthetic L3-region training slices and write them as a training folder
(``dataset.json`` + image/label pairs) that ``musclequant train`` reads like any other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ...fileio import write_json
from ...imageio import CT_AIR_OR_FAT_HU
from .abdomen import draw_abdomen
from .artefacts import scanner
from .classes import T, l3_training_labels
from .habitus import draw_habitus
from .intensity import paint_intensities
from .recipe import FULL, GENERATOR_VERSION, Recipe

DRAW_MM = 1.0  # pixel size of the drawing grid


@dataclass
class SynthSlice:
    image: np.ndarray  # (H, W) int16 HU
    labels: np.ndarray  # (H, W) uint8 preset classes
    spacing: float  # mm, square pixels
    info: dict[str, float]


def draw_l3_slice(rng: np.random.Generator, recipe: Recipe = FULL) -> SynthSlice:
    """One random axial slice between L1 and L4 with its five-group muscle labels."""
    hab = draw_habitus(rng, recipe)
    canvas, info = draw_abdomen(rng, recipe, hab, DRAW_MM)
    image = paint_intensities(canvas.labels, rng, recipe, DRAW_MM)
    image, tissues, spacing = scanner(image, canvas.labels, rng, recipe, DRAW_MM)
    if np.round(image.min()) > CT_AIR_OR_FAT_HU:  # random contrast left nothing air- or fat-like: readers refuse such a
        image = np.where(tissues == T.AIR, -1000.0, image)  # CT, so the air around the body is air (no draws)
    labels = l3_training_labels(tissues)
    image, labels = _field_of_view(image, labels, spacing, rng, recipe)
    return SynthSlice(np.clip(np.round(image), -1024, 3071).astype(np.int16), labels, spacing, info)


def _field_of_view(image: np.ndarray, labels: np.ndarray, spacing: float, rng: np.random.Generator,
                   recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """Crop (or pad with air) to a square reconstruction field of view of 340-500 mm."""
    fov = rng.uniform(340.0, 500.0) if recipe.artefacts else 420.0
    n = int(round(fov / spacing))
    h, w = image.shape
    cy = h // 2 + int(rng.normal(0.0, 10.0 / spacing))
    cx = w // 2 + int(rng.normal(0.0, 10.0 / spacing))
    out_image = np.full((n, n), -1024.0, dtype=np.float32)
    out_labels = np.zeros((n, n), dtype=np.uint8)
    r0, c0 = cy - n // 2, cx - n // 2
    rs, cs = slice(max(r0, 0), min(r0 + n, h)), slice(max(c0, 0), min(c0 + n, w))
    ro, co = slice(rs.start - r0, rs.stop - r0), slice(cs.start - c0, cs.stop - c0)
    out_image[ro, co] = image[rs, cs]
    out_labels[ro, co] = labels[rs, cs]
    return out_image, out_labels


def write_training_folder(out: str | Path, n: int, seed: int, recipe: Recipe = FULL) -> dict[str, Any]:
    """``n`` slices drawn from ``seed`` into ``out`` (image/label NIfTI pairs and ``dataset.json``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(n):
        sample = draw_l3_slice(rng, recipe)
        case_id = f"synth_{i:05d}"
        for array, suffix in ((sample.image, "image"), (sample.labels, "labels")):
            img = sitk.GetImageFromArray(array[None])
            img.SetSpacing((sample.spacing, sample.spacing, 3.0))
            sitk.WriteImage(img, str(out / f"{case_id}_{suffix}.nii.gz"))
        entries.append({"case_id": case_id, "image": f"{case_id}_image.nii.gz", "labels": f"{case_id}_labels.nii.gz"})
    manifest = {"kind": "synthetic_training", "anatomy": "l3", "seed": seed, "n": n,
                "generator": "MuscleQuantLib.phantoms.synth", "generator_version": GENERATOR_VERSION,
                "recipe": recipe.to_dict(), "cases": entries}
    write_json(out / "dataset.json", manifest)
    return manifest
