"""Head-and-neck CT phantom (C3 preset): geometry and metadata the C3 slab model, the 2D muscle
model and the quantification will be trained and tested on."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from MuscleQuantLib.cli import main
from MuscleQuantLib.phantoms import neck_ct
from MuscleQuantLib.phantoms.base import ORIENTATIONS, PhantomCase, RawCase
from MuscleQuantLib.phantoms.registry import PhantomOptions, case_rng, generate_case
from MuscleQuantLib.phantoms.subject import Subject, sample_subject
from MuscleQuantLib.phantoms.vertebrae import VERTEBRA_LABELS

SEED = 11
C3 = VERTEBRA_LABELS["C3"]


@cache
def in_view_case(index: int, orientation: str = "LPS") -> PhantomCase:
    return generate_case("c3", SEED, index, PhantomOptions(in_view=True, orientation=orientation, resolution="low"))


@cache
def raw_case(index: int, in_view: bool = True) -> tuple[RawCase, Subject]:
    """The generator's clean drawing (no blur or noise), for properties of the anatomy itself."""
    rng = case_rng("c3", SEED, index)
    subject = sample_subject(rng)
    return neck_ct.generate(rng, subject, in_view, "low"), subject


def array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def slices_with(mask: np.ndarray) -> np.ndarray:
    return np.nonzero(mask.any(axis=(1, 2)))[0]


def test_same_seed_gives_identical_case() -> None:
    a = generate_case("c3", 5, 2, PhantomOptions(resolution="low"))
    b = generate_case("c3", 5, 2, PhantomOptions(resolution="low"))
    assert np.array_equal(array(a.image), array(b.image))
    assert np.array_equal(array(a.labels), array(b.labels))
    for name in ("vertebrae", "c3_section"):
        assert np.array_equal(array(a.extra_labels[name]), array(b.extra_labels[name]))
    assert a.metadata == b.metadata
    c = generate_case("c3", 6, 2, PhantomOptions(resolution="low"))
    assert array(c.image).shape != array(a.image).shape or not np.array_equal(array(c.image), array(a.image))


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_c3_vertebra_lies_in_the_c3_level_of_the_stored_image(orientation: str) -> None:
    case = in_view_case(0, orientation)
    level = case.metadata["levels"]["C3"]
    vertebrae = array(case.extra_labels["vertebrae"])
    c3_slices = slices_with(vertebrae == C3)
    assert c3_slices.min() == level["first_slice"] and c3_slices.max() == level["last_slice"]
    # The level's physical centre is where the C3 voxels are (the flips moved array and direction together).
    image = case.extra_labels["vertebrae"]
    zyx = np.argwhere(vertebrae == C3).mean(axis=0)
    centroid = np.array(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in zyx[::-1]]))
    axis = np.array(image.GetDirection()).reshape(3, 3)[:, 2]
    assert abs(float(np.dot(centroid - np.array(level["center_point_mm"]), axis))) < 6.0
    # C3 sits between C2 and C4, counted from the skull base.
    z_of = {n: case.metadata["levels"][n]["center_point_mm"] for n in ("C2", "C3", "C4")}
    along = {n: float(np.dot(z_of[n], axis)) for n in z_of}
    assert (along["C2"] - along["C3"]) * (along["C3"] - along["C4"]) > 0


@pytest.mark.parametrize("index", range(6))
def test_c3_section_is_a_33mm_slab_centred_on_the_reference(index: int) -> None:
    case = in_view_case(index)
    meta = case.metadata
    sz = meta["spacing_mm"][2]
    first, last = meta["levels"]["C3_section"]["first_slice"], meta["levels"]["C3_section"]["last_slice"]
    assert abs((last - first + 1) * sz - 33.0) <= sz
    reference = meta["landmarks"]["C3_reference"]["slice"]
    assert abs((first + last) / 2 - reference) <= 0.5
    c3 = meta["levels"]["C3"]
    assert c3["first_slice"] <= reference <= c3["last_slice"]
    section = array(case.extra_labels["c3_section"])
    assert list(slices_with(section > 0)) == list(range(first, last + 1))
    image = array(case.image)
    inside = image[section > 0]
    assert np.mean(inside > -500) > 0.9  # the body, not the air around it
    outside = image[first:last + 1][section[first:last + 1] == 0]
    assert np.mean(outside < -500) > 0.97  # and all of the body: outside it is air


def test_dens_of_c2_rises_into_the_c1_ring() -> None:
    for index in range(3):
        case = in_view_case(index)
        c1 = case.metadata["levels"]["C1"]
        vertebrae = array(case.extra_labels["vertebrae"])[c1["first_slice"]:c1["last_slice"] + 1]
        assert slices_with(vertebrae == VERTEBRA_LABELS["C2"]).size >= 1
        assert slices_with(vertebrae == VERTEBRA_LABELS["C1"]).size == c1["last_slice"] - c1["first_slice"] + 1


def test_both_muscle_labels_at_the_reference_slice_with_plausible_csa() -> None:
    for index in range(4):
        raw, subject = raw_case(index)
        k = int(round(raw.landmarks["C3_reference"]))
        pixel = raw.spacing[0] * raw.spacing[1]
        areas = {lab: np.count_nonzero(raw.labels[k] == lab) * pixel for lab in (1, 2)}
        assert areas[1] > 800.0 and areas[2] > 150.0, areas
        assert raw.truth["csa_mm2"]["paravertebral_muscles"] == pytest.approx(areas[1])
        assert raw.truth["csa_mm2"]["sternocleidomastoid"] == pytest.approx(areas[2])
        assert raw.truth["index"]["value"] == pytest.approx(sum(areas.values()) / 100 / subject.height_m**2)
        # Both sternocleidomastoids: label 2 on each side of the spine.
        vertebra_x = np.argwhere(raw.extra_labels["vertebrae"][0][k] == C3)[:, 1].mean()
        scm_x = np.argwhere(raw.labels[k] == 2)[:, 1]
        assert (scm_x < vertebra_x).sum() > 20 and (scm_x > vertebra_x).sum() > 20
        muscle_hu = raw.image[k][raw.labels[k] > 0]
        assert np.all((muscle_hu >= -29) & (muscle_hu <= 150))


@pytest.mark.parametrize("index", range(8))
def test_out_of_view_cases_miss_c3(index: int) -> None:
    case = generate_case("c3", SEED, index, PhantomOptions(in_view=False, resolution="low"))
    meta = case.metadata
    assert meta["target_in_view"] is False
    assert "C3" not in meta["levels"] and "C3_section" not in meta["levels"]
    assert "C3_reference" not in meta["landmarks"]
    assert not np.any(array(case.extra_labels["vertebrae"]) == C3)
    assert not np.any(array(case.extra_labels["c3_section"]))
    assert meta["truth"]["index"]["value"] is None


def test_out_of_view_cases_are_head_or_chest_scans() -> None:
    kinds = {raw_case(i, in_view=False)[0].truth["scan"] for i in range(12)}
    assert kinds == {"head", "chest"}


def test_muscle_attenuation_outside_the_muscle_labels_near_the_muscles() -> None:
    """Nodes, glands, vessels, strap/tongue muscles, larynx: thresholding alone cannot find C3 muscle."""
    for index in range(3):
        raw, _ = raw_case(index)
        k = int(round(raw.landmarks["C3_reference"]))
        muscle = raw.labels[k] > 0
        near = ndimage.binary_dilation(muscle, iterations=max(1, int(round(15.0 / raw.spacing[0]))))
        muscle_range = (raw.image[k] >= -29) & (raw.image[k] <= 150)
        body = ndimage.binary_fill_holes(raw.image[k] > -500)
        under_skin = ndimage.binary_erosion(body, iterations=max(1, int(round(3.0 / raw.spacing[0]))))
        confounders = near & under_skin & muscle_range & ~muscle & (raw.extra_labels["vertebrae"][0][k] == 0)
        assert confounders.sum() > 0.12 * muscle.sum(), (confounders.sum(), muscle.sum())
        # Several separate structures, not one blob.
        _, count = ndimage.label(confounders)
        assert count >= 4


def test_index_follows_the_subjects_muscle_mass() -> None:
    values, smi = [], []
    for index in range(15):
        raw, subject = raw_case(index)
        values.append(raw.truth["index"]["value"])
        smi.append(subject.target_smi)
    assert np.corrcoef(values, smi)[0, 1] > 0.6
    center, step = neck_ct.INDEX_CENTER, neck_ct.INDEX_STEP
    assert abs(np.mean(values) - center) < 1.5 * step
    assert 0.4 * step < np.std(values) < 2.5 * step


def test_cli_writes_cases_on_identical_grids(tmp_path) -> None:
    out = tmp_path / "c3"
    assert main(["phantom", "--anatomy", "c3", "--n", "2", "--seed", "3", "--out", str(out)]) == 0
    images = sorted(out.glob("*_image.nii.gz"))
    assert len(images) == 2
    for image_path in images:
        case_id = image_path.name[: -len("_image.nii.gz")]
        reference = sitk.ReadImage(str(image_path))
        for suffix in ("labels", "vertebrae", "c3_section"):
            other = sitk.ReadImage(str(out / f"{case_id}_{suffix}.nii.gz"))
            assert other.GetSize() == reference.GetSize()
            assert np.allclose(other.GetSpacing(), reference.GetSpacing())
            assert np.allclose(other.GetOrigin(), reference.GetOrigin(), atol=1e-4)
            assert np.allclose(other.GetDirection(), reference.GetDirection(), atol=1e-6)
        assert (out / f"{case_id}.json").exists()
