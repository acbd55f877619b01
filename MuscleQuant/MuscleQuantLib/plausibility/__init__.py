"""Plausibility flags on every segmentation (issue 14): is this result anatomically believable?

A network trained on phantoms can outline liver as psoas on a real scan and report it with the same
confidence as a good result. These checks compare every label with what a real body allows (sizes
against published ranges and body size, left/right symmetry, position relative to the body outline and
the spine, muscle-like signal, number of pieces, level-finder confidence) and return flags; any flag
makes the result ``needs_review``. Ranges are data per preset (``ranges_<preset>.json``)."""

from .check import PlausibilityResult, check_segmentation, run_checks
from .flags import STATUS_NOT_CHECKED, STATUS_OK, STATUS_REVIEW, Flag, plausibility_block, row_columns
from .ranges import available_presets, load_ranges

__all__ = ["STATUS_NOT_CHECKED", "STATUS_OK", "STATUS_REVIEW", "Flag", "PlausibilityResult", "available_presets",
           "check_segmentation", "load_ranges", "plausibility_block", "row_columns", "run_checks"]
