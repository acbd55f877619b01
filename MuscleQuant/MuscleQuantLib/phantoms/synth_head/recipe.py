"""The data recipe of the randomised head generator; a model card records it with
``GENERATOR_VERSION``, and the ablation switches one element off at a time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Bump when a change to the generator changes the images drawn for a seed.
GENERATOR_VERSION = "1.0.0"


@dataclass(frozen=True)
class Recipe:
    intensity: str = "synthseg"  # "synthseg": random value per tissue class per image; "fixed": the phantom's T1 table
    random_contrast_fraction: float = 0.3  # synthseg: share of images whose tissue values ignore T1 ranges
    gadolinium_fraction: float = 0.5  # realistic T1 images with enhancing vessels and mucosa (else unenhanced)
    texture: bool = True  # smooth random texture within every tissue
    bias_max: float = 0.45  # SD (log units) of the extra smooth bias field, drawn per image up to this
    elastic_mm: float = 3.0  # SD of the in-plane elastic displacement
    anisotropy: float = 0.07  # SD of independent left-right / front-back head scaling (head shape)
    head_scale_sd: float = 0.05  # extra SD of the overall head size beyond the phantom's
    low_resolution_fraction: float = 0.7  # share drawn at 2-3.2 mm pixels (else 1-1.6 mm)
    partial_volume: bool = True  # through-plane blur of thick slices
    face_cut_fraction: float = 0.3  # share whose field of view cuts the front of the face (through the globes)
    in_view_fraction: float = 0.85  # the rest are upper-brain slabs without the orbits (finder negatives)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"generator_version": GENERATOR_VERSION}


FULL = Recipe()
ABLATIONS: dict[str, Recipe] = {
    "full": FULL,
    "no_intensity_randomisation": dataclasses.replace(FULL, intensity="fixed", texture=False, bias_max=0.0),
    "no_shape_randomisation": dataclasses.replace(FULL, elastic_mm=0.0, anisotropy=0.0, head_scale_sd=0.0),
    "no_face_cut": dataclasses.replace(FULL, face_cut_fraction=0.0),
}
