"""The data recipe of the randomised generator: which randomisation elements are on. A model card
records the recipe and ``GENERATOR_VERSION``; the ablation switches one element off at a time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Bump when a change to the generator changes the images drawn for a seed.
# 1.1.0 adds organ contact (``organ_contact``); with it at 0, as in FULL, every draw is 1.0.0's.
# ``midline_contact`` (0 in FULL: every draw unchanged) adds an organ in a wide linea alba.
GENERATOR_VERSION = "1.1.0"


@dataclass(frozen=True)
class Recipe:
    intensity: str = "synthseg"  # "synthseg": random value per tissue per image; "fixed": one HU per tissue
    random_contrast_fraction: float = 0.3  # synthseg: share of images whose tissue values ignore CT ranges
    organs: bool = True  # liver, spleen, kidneys, stomach, pancreas, bowel (gas/stool/contrast), vessels
    organ_wobble: float = 0.35  # outline harmonics of organs (0: plain ellipses)
    organ_contact: float = 0.0  # share of draws with an organ against a muscle (kidney-psoas, liver-rectus, ...)
    midline_contact: float = 0.0  # share of draws with a wide linea alba and an organ in it against the fat
    anatomy: bool = True  # muscle size and position follow the vertebral level, ribs, crura, iliac crests
    habitus: bool = True  # thin to obese, sarcopenic to muscular, arms beside the body, table
    artefacts: bool = True  # blur, noise, partial volume, streaks, metal, resampling to 0.6-3.5 mm
    elastic_px: float = 4.0  # SD of the elastic displacement (mm on the 1 mm drawing grid)
    levels: tuple[float, float] = (1.2, 4.4)  # vertebral levels drawn: 1 = L1 centre … 4 = L4 centre

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"generator_version": GENERATOR_VERSION}


FULL = Recipe()
ABLATIONS: dict[str, Recipe] = {
    "full": FULL,
    "no_intensity_randomisation": dataclasses.replace(FULL, intensity="fixed"),
    "no_organs": dataclasses.replace(FULL, organs=False),
    "no_muscle_anatomy": dataclasses.replace(FULL, anatomy=False),
    "no_habitus": dataclasses.replace(FULL, habitus=False),
}
# Named recipes a starter may be trained with (``StarterSpec.recipe``): the ablations and the additions.
RECIPES: dict[str, Recipe] = ABLATIONS | {"organ_contact": dataclasses.replace(FULL, organ_contact=0.6),
                                          "midline_contact": dataclasses.replace(FULL, midline_contact=0.5)}
