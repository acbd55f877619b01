"""The shipped orbit-finder and temporalis starter models on a real T1 head MRI (validation only, never
training data): Debian's insighttoolkit5-examples ``KmeansTest_T1UCharRaw.nii.gz``, whose field of view
cuts the front of the globes. The finder may say "not found" with a reason, but never puts a level
outside the orbits; the temporalis is outlined on both sides, lateral to the temporal bone.

The file is found through ``MUSCLEQUANT_ITK_T1`` or the extracted package under /work/coord/itk or
~/.cache/musclequant/itk-examples (``.ci/run`` fetches it best-effort); without it the test is skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))
import realmr_head  # noqa: E402

REAL_T1 = realmr_head.find_file()
pytestmark = pytest.mark.skipif(REAL_T1 is None, reason="real T1 head MRI (insighttoolkit5-examples "
                                "KmeansTest_T1UCharRaw.nii.gz) not found: set MUSCLEQUANT_ITK_T1")


@pytest.fixture(scope="module")
def report() -> dict:
    import torch

    from MuscleQuantLib.models.starter import starter_for

    torch.set_num_threads(1)
    temporalis, finder = starter_for("temporalis"), starter_for("orbit_level")
    assert temporalis is not None and finder is not None, "the temporalis and orbit starter models must ship"
    return realmr_head.evaluate(REAL_T1, realmr_head.USER_SLICE, model=temporalis, level_model=finder)


def test_orbit_finder_never_gives_a_level_outside_the_orbits(report) -> None:
    from MuscleQuantLib.levels.specs import spec_for

    levels = report["levels"]
    if levels["found"]:
        assert set(levels["levels"]) == {"superior_orbital_quarter", "mid_orbit", "orbital_roof"}
        assert levels["all_levels_inside_orbits"], levels
        assert levels["confidence"] >= spec_for("orbit_level").min_confidence
    else:
        assert levels["reason"], "a level that is not found must say why"
        assert not levels["levels"]


def test_temporalis_on_both_sides_lateral_to_the_temporal_bone(report) -> None:
    temporalis = report["temporalis"]
    for side in ("left", "right"):
        assert temporalis[side]["area_mm2"] > 0, f"no temporalis on the {side}"
        assert temporalis[side]["lateral_to_bone"], (side, temporalis[side])
    assert report["plausibility"]["status"] in ("ok", "needs_review")
