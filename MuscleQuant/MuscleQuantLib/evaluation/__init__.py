"""Segmentation evaluation (SPEC 6): per-label metrics of a prediction against a reference, and
cohort agreement of volumes or areas. ``metrics`` measures, ``cases`` reads pairs, ``cohort`` pools
cases, ``cli`` is ``musclequant evaluate``."""
