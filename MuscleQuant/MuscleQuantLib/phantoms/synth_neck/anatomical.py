"""Training folders of anatomical phantoms at full resolution with per-image scanner randomisation.

The cheap route to the neck and thigh starter models: not a SynthSeg generator (no label-map-first
drawing, no random intensity per tissue class, since these phantoms do not expose tissue classes), but
the anatomical phantoms — per-case tissue HU with organs and glands inside the muscle range, habitus
from BMI, contrast phase, blur, noise, 2.5–5 mm slices — drawn at the resolution the models work at
(the level finders' "low" phantoms are 2–7 mm in-plane, coarser than the C3 and thigh networks), with
a per-image HU calibration (kVp, scanner) and extra noise (reconstruction kernel, dose). Contrast beyond
that comes from the random intensity curve per training patch (``StarterSpec.contrast_curve``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ...fileio import write_json
from ..registry import PhantomOptions, generate_case, write_case

GENERATOR_VERSION = "0.1.0"


@dataclasses.dataclass(frozen=True)
class Recipe:
    resolution: str = "standard"  # phantom resolution ("low" doubles the in-plane spacing)
    hu_scale: tuple[float, float] = (0.92, 1.08)  # per-image HU gain about water (kVp, calibration)
    hu_offset: tuple[float, float] = (-12.0, 12.0)  # per-image HU offset
    extra_noise_sd: tuple[float, float] = (0.0, 15.0)  # HU, on top of the phantom's own 6–22 HU

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"generator_version": GENERATOR_VERSION}


FULL = Recipe()


def randomise_scanner(image: sitk.Image, rng: np.random.Generator, recipe: Recipe) -> sitk.Image:
    """The same anatomy as another scanner would show it: HU gain and offset, then extra noise."""
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    body = array > -900.0  # air stays air: a gain on −1000 HU would move the whole background
    gain, offset = rng.uniform(*recipe.hu_scale), rng.uniform(*recipe.hu_offset)
    array[body] = array[body] * gain + offset
    array += rng.normal(0.0, rng.uniform(*recipe.extra_noise_sd), array.shape).astype(np.float32)
    out = sitk.GetImageFromArray(np.clip(np.rint(array), -1024, 3071).astype(np.int16))
    out.CopyInformation(image)
    return out


def write_anatomical_folder(out: str | Path, n: int, seed: int, recipe: Recipe, anatomy: str, in_view: bool | None,
                            generator: str) -> dict[str, Any]:
    """``n`` phantoms of ``anatomy`` from ``seed`` with scanner randomisation into ``out`` (phantom layout:
    images, label maps, metadata with the true levels, and ``dataset.json`` with the recipe)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not isinstance(recipe, Recipe):  # another generator's recipe (the training script's default): use ours
        recipe = FULL
    options = PhantomOptions(in_view=in_view, resolution=recipe.resolution)
    entries = []
    for i in range(n):
        case = generate_case(anatomy, seed, i, options)
        rng = np.random.default_rng(np.random.SeedSequence([seed, i, 7301]))
        case.image = randomise_scanner(case.image, rng, recipe)
        entries.append(write_case(case, out))
    manifest = {"kind": "synthetic_training", "anatomy": anatomy, "seed": seed, "n": n, "generator": generator,
                "generator_version": GENERATOR_VERSION, "recipe": recipe.to_dict(), "cases": entries}
    write_json(out / "dataset.json", manifest)
    return manifest
