"""The vertebra ladder (L3) and the structure anchor (orbits) without training: ladder labels from
metadata, the ordered fit that counts from distinctive vertebrae, and globes as the mid-orbit anchor and
the explicit "orbits present" decision."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.levels.anchors import find_anchor
from MuscleQuantLib.levels.find import LevelResult, apply_anchor, read_ladder, read_profile
from MuscleQuantLib.levels.ladder import fit_ladder, slice_probabilities
from MuscleQuantLib.levels.specs import LEVEL_SPECS
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.presets.l3_level import LADDER
from MuscleQuantLib.training.data import ladder_labels

L3 = LEVEL_SPECS["l3_level"]
ORBIT = LEVEL_SPECS["orbit_level"]
NAMES = list(LADDER)
# network slices (3 mm) of each body, caudal to cranial; discs between
BODIES = (("sacrum", 0, 9), ("L5", 13, 22), ("L4", 26, 35), ("L3", 39, 48), ("L2", 52, 61), ("L1", 65, 74))


def ladder_probabilities(bodies=BODIES, nz: int = 75, shift: int = 0, sure: float = 0.6) -> np.ndarray:
    """(C, Z, Y, X) class probabilities of a 4×4 slice with a 2×2 spine: each body slice names its
    vertebra (moved ``shift`` classes up the ladder, as a network that miscounts would) with probability
    ``sure``, the rest spread over the other vertebrae; disc slices are background."""
    p = np.zeros((len(NAMES) + 1, nz, 4, 4))
    p[0] = 1.0
    for name, a, b in bodies:
        c = NAMES.index(name) if name == "sacrum" else min(NAMES.index(name) + shift, len(NAMES) - 1)
        p[0, a : b + 1, 1:3, 1:3] = 0.0
        p[1:, a : b + 1, 1:3, 1:3] = (1.0 - sure) / (len(NAMES) - 1)
        p[c + 1, a : b + 1, 1:3, 1:3] = sure
    return p


def test_ladder_labels_name_each_vertebra_and_fold_the_ends_into_the_ladder():
    source = np.zeros((30, 8, 8), dtype=np.uint8)
    source[2:10, 3:5, 3:5] = 23  # L4
    source[12:20, 3:5, 3:5] = 22  # L3
    source[24:, 3:5, 3:5] = 16  # T9: above the ladder's top class
    vertebrae = sitk.GetImageFromArray(source)
    preset = get_preset("l3_level")
    labels = sitk.GetArrayFromImage(ladder_labels(vertebrae, {}, preset))
    value = {label.name: label.value for label in preset.labels}
    assert (labels[2:10, 3:5, 3:5] == value["L4"]).all() and (labels[12:20, 3:5, 3:5] == value["L3"]).all()
    assert (labels[24:, 3:5, 3:5] == value["T11"]).all()
    assert not labels[source == 0].any()  # discs and soft tissue stay background


def test_ladder_fit_recovers_the_sequence_and_reads_l3_at_its_body_centre():
    p = ladder_probabilities()
    per_slice, enough = slice_probabilities(p, np.ones(p.shape[1:], bool))
    ladder = fit_ladder(L3, NAMES, per_slice, enough, 3.0)
    assert ladder.segment("L3") == (39, 48) and ladder.segment("sacrum") == (0, 9)
    result = read_ladder(L3, "L3", NAMES, p, np.ones(p.shape[1:], bool), 3.0)
    assert result.found and result.method.startswith("vertebra-ladder")
    assert result.levels["L3"]["network_z"] == pytest.approx(43.5, abs=0.6)


def test_ladder_counts_from_the_sacrum_when_the_lumbar_evidence_is_split():
    """Lumbar slices half vote one vertebra too high (L4 looks like L3): the sacrum and the body
    lengths keep the count, so L3 stays where it is."""
    p = ladder_probabilities(sure=0.35) + ladder_probabilities(shift=1, sure=0.3)
    p /= p.sum(axis=0)
    body = np.ones(p.shape[1:], bool)
    assert fit_ladder(L3, NAMES, *slice_probabilities(p, body), 3.0).segment("L3") == (39, 48)
    result = read_ladder(replace(L3, min_confidence=0.1), "L3", NAMES, p, body, 3.0)
    assert result.found and result.levels["L3"]["network_z"] == pytest.approx(43.5, abs=1.0)
    clean = ladder_probabilities()
    assert result.confidence < read_ladder(L3, "L3", NAMES, clean, body, 3.0).confidence  # hesitation shows


def test_scan_without_l3_on_the_ladder_is_not_found_and_names_what_it_shows():
    chest = (("L1", 0, 8), ("T12", 12, 20), ("T11", 24, 59))
    p = ladder_probabilities(chest, nz=60)
    result = read_ladder(L3, "L3", NAMES, p, np.ones(p.shape[1:], bool), 3.0)
    assert not result.found and "L1–T11" in result.reason and "not found" in result.message()


def globes(centres_x_mm=(40.0, 100.0), z_mm: float = 40.0, radius: float = 12.0) -> np.ndarray:
    """(C, Z, Y, X) orbit-model probabilities on a 5 × 5 × 2 mm grid: spheres of globe class 4."""
    z, y, x = np.mgrid[0:40, 0:28, 0:28] * np.array([2.0, 5.0, 5.0])[:, None, None, None]
    p = np.zeros((5, 40, 28, 28))
    for cx in centres_x_mm:
        p[4][(z - z_mm) ** 2 + (y - 70.0) ** 2 + (x - cx) ** 2 <= radius**2] = 0.9
    return p


def test_globe_pair_anchors_mid_orbit_and_scales_the_roof():
    names = ["orbit_slab", "cranial", "caudal", "globe"]
    weak_slab = read_profile(ORBIT, "superior_orbital_quarter", np.zeros(40), np.zeros(40), 2.0)
    anchor = find_anchor(ORBIT, names, globes(), (5.0, 5.0, 2.0))
    assert anchor.present and anchor.network_z == pytest.approx(20.0, abs=0.1)
    assert anchor.radius_mm == pytest.approx(12.0, abs=1.5)
    result = apply_anchor(ORBIT, "superior_orbital_quarter", weak_slab, anchor, 2.0)
    assert result.found and result.method.endswith("globe-anchor")  # the globes decide, not the slab
    z = {name: level["network_z"] for name, level in result.levels.items()}
    assert z["mid_orbit"] == pytest.approx(20.0, abs=0.1)
    assert z["orbital_roof"] - z["mid_orbit"] == pytest.approx(ORBIT.anchor_span * anchor.radius_mm / 2.0)
    assert z["superior_orbital_quarter"] == pytest.approx((z["mid_orbit"] + z["orbital_roof"]) / 2)


@pytest.mark.parametrize("centres", [(), (70.0,), (40.0, 55.0)])  # none, one globe, two blobs side by side
def test_without_a_plausible_pair_of_globes_the_orbits_are_not_in_view(centres):
    names = ["orbit_slab", "cranial", "caudal", "globe"]
    prob = np.zeros(40)
    prob[20:29] = 1.0  # however slab-like the profile
    slab = read_profile(ORBIT, "superior_orbital_quarter", prob, prob, 2.0)
    anchor = find_anchor(
        ORBIT, names, globes(centres, radius=7.0 if len(centres) == 2 else 12.0), (5.0, 5.0, 2.0)
    )
    result = apply_anchor(ORBIT, "superior_orbital_quarter", slab, anchor, 2.0)
    assert isinstance(result, LevelResult) and not result.found and "globes" in result.reason


def test_a_tall_strip_is_not_a_globe():
    """Pieces much taller than a globe (a strip along a field-of-view edge) never anchor the orbits, and the
    reason names the pieces it saw."""
    names = ["orbit_slab", "cranial", "caudal", "globe"]
    p = np.zeros((5, 40, 28, 28))
    for x in (8, 20):  # two 5 x 5 mm columns 60 mm apart, 70 mm tall: the right volume, the wrong shape
        p[4, 2:37, 2:4, x:x + 2] = 0.9
    anchor = find_anchor(ORBIT, names, p, (5.0, 5.0, 2.0))
    assert not anchor.present and anchor.pieces_mm3
    weak_slab = read_profile(ORBIT, "superior_orbital_quarter", np.zeros(40), np.zeros(40), 2.0)
    result = apply_anchor(ORBIT, "superior_orbital_quarter", weak_slab, anchor, 2.0)
    assert not result.found and "largest pieces" in result.reason
