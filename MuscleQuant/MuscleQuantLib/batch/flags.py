"""Plausibility flags of one result (issue 14's checks, ``MuscleQuantLib.plausibility``). Where that package
is not installed the result says ``not_checked`` instead of pretending to be fine."""

from __future__ import annotations

from typing import Any

import SimpleITK as sitk

NOT_CHECKED = {"status": "not_checked", "flags": [], "checks": [], "skipped": {"all": "plausibility checks not "
               "installed"}, "ranges": None}


def plausibility(image: sitk.Image, labels: sitk.Image, preset: str, summary: dict[str, Any],
                 slice_index: int | None) -> dict[str, Any]:
    """The ``plausibility`` block of the segmentation and measurement JSON."""
    try:
        from ..plausibility import run_checks
    except ImportError:
        return dict(NOT_CHECKED)
    return run_checks(image, labels, preset, summary, slice_index=slice_index).block()


def row_columns(block: dict[str, Any]) -> dict[str, Any]:
    """plausibility_status, plausibility_flag_count, plausibility_flags for the table."""
    try:
        from ..plausibility import row_columns as columns
    except ImportError:
        return {"plausibility_status": block["status"], "plausibility_flag_count": 0, "plausibility_flags": ""}
    return columns(block)
