"""The whole-thigh CT phantom: label table, anatomy (z-ranges, arrangement, symmetry), coverage,
truth values and the CLI round trip. Cases are small ("low") except one standard case."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.cli import main as cli_main
from MuscleQuantLib.imageio import same_grid
from MuscleQuantLib.phantoms import thigh_ct
from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case
from MuscleQuantLib.phantoms.subject import sample_subject
from MuscleQuantLib.phantoms.thigh_anatomy import (
    FEMUR_LABEL,
    LABEL_NAMES,
    MUSCLE_BY_NAME,
    MUSCLE_GROUPS,
    MUSCLES,
)

SPEC_ORDER = (
    "sartorius", "rectus_femoris", "vastus_lateralis", "vastus_intermedius", "vastus_medialis",
    "adductor_longus", "adductor_brevis", "adductor_magnus", "gracilis", "pectineus",
    "semitendinosus", "semimembranosus", "biceps_femoris",
    "gluteus_maximus", "gluteus_medius", "gluteus_minimus", "tensor_fasciae_latae", "piriformis",
    "obturator_internus", "obturator_externus", "quadratus_femoris",
    "iliacus", "iliopsoas", "psoas", "abdominal_oblique", "rectus_abdominis", "multifidus",
)
QUADRICEPS = ("rectus_femoris", "vastus_lateralis", "vastus_intermedius", "vastus_medialis")
HAMSTRINGS = ("semitendinosus", "semimembranosus", "biceps_femoris")


def make_case(seed: int, in_view: bool = True, resolution: str = "low"):
    rng = np.random.default_rng(seed)
    subject = sample_subject(rng)
    return subject, thigh_ct.generate(rng, subject, in_view, resolution)


@pytest.fixture(scope="module")
def standard_case():
    return make_case(11, True, "standard")[1]


def label_of(name: str) -> int:
    return MUSCLE_BY_NAME[name].label


def height_t(raw, k: float) -> float:
    """Fraction of the knee-joint (0) to iliac-crest (1) distance of slice ``k``."""
    knee, crest = raw.levels["knee_joint"][0], raw.levels["iliac_crest"][0]
    return (k - knee) / (crest - knee)


def slice_at(raw, t: float) -> int:
    knee, crest = raw.levels["knee_joint"][0], raw.levels["iliac_crest"][0]
    return int(round(knee + t * (crest - knee)))


def split_column(labels: np.ndarray) -> float:
    """x index between the two femurs: the body midline, whatever the shift and rotation."""
    zs, ys, xs = np.nonzero(labels == FEMUR_LABEL)
    middle = xs.mean()
    return (xs[xs < middle].mean() + xs[xs >= middle].mean()) / 2


def test_label_table_follows_the_spec():
    assert tuple(m.name for m in MUSCLES) == SPEC_ORDER
    assert [m.label for m in MUSCLES] == list(range(1, 28))
    assert LABEL_NAMES[28] == "femur" and LABEL_NAMES[29] == "iliac_bone" and len(LABEL_NAMES) == 29
    assert tuple(MUSCLE_GROUPS) == ("anterior", "medial", "posterior", "gluteal", "other")
    assert sum(MUSCLE_GROUPS.values(), ()) == SPEC_ORDER
    assert MUSCLE_GROUPS["posterior"] == HAMSTRINGS


def test_standard_case_has_every_label_and_fits_the_size_budget(standard_case):
    raw = standard_case
    assert set(np.unique(raw.labels)) == set(range(30))
    assert raw.label_names == LABEL_NAMES
    nz, ny, nx = raw.image.shape
    assert nz <= 170 and ny <= 120 and nx <= 170
    sx, sy, sz = raw.spacing
    assert 2.5 <= sx == sy <= 4.0 and sz in (3.0, 5.0)
    assert raw.target_level == "thigh" and raw.levels["thigh"] == (raw.levels["knee_joint"][0],
                                                                    raw.levels["iliac_crest"][1])
    length = (raw.levels["thigh"][1] - raw.levels["thigh"][0]) * sz
    assert 380 - sz <= length <= 480 + sz
    for name in ("femoral_head", "lesser_trochanter", "knee_joint"):
        assert name in raw.levels


def test_generation_is_deterministic_per_seed():
    _, a = make_case(5)
    _, b = make_case(5)
    _, c = make_case(6)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert a.truth == b.truth and a.levels == b.levels
    assert a.image.shape != c.image.shape or not np.array_equal(a.labels, c.labels)


def test_muscles_stay_within_their_table_z_range(standard_case):
    raw = standard_case
    tolerance = 1.0 / (raw.levels["iliac_crest"][0] - raw.levels["knee_joint"][0])  # one slice
    for muscle in MUSCLES:
        slices = np.nonzero((raw.labels == muscle.label).any(axis=(1, 2)))[0]
        heights = [height_t(raw, k) for k in slices]
        assert min(heights) >= muscle.t_range[0] - tolerance, muscle.name
        assert max(heights) <= muscle.t_range[1] + tolerance, muscle.name
    mid = raw.labels[raw.levels["mid_thigh"][0]]
    for absent in ("psoas", "multifidus", "rectus_abdominis", "iliacus", "gluteus_maximus", "piriformis"):
        assert not (mid == label_of(absent)).any(), absent
    for present in (*QUADRICEPS, *HAMSTRINGS, "adductor_magnus", "gracilis", "sartorius"):
        assert (mid == label_of(present)).any(), present
    top = raw.labels[slice_at(raw, 0.97)]
    for present in ("psoas", "multifidus", "iliacus", "gluteus_medius"):
        assert (top == label_of(present)).any(), present
    assert (raw.labels[slice_at(raw, 0.08)] == label_of("vastus_medialis")).any()


def test_femur_lies_between_quadriceps_and_hamstrings_at_mid_thigh(standard_case):
    raw = standard_case
    labels = raw.labels[raw.levels["mid_thigh"][0]]
    middle = split_column(raw.labels)
    ys, xs = np.indices(labels.shape)
    for side in (xs < middle, xs >= middle):
        def centroid(names, side=side):
            mask = np.isin(labels, [label_of(n) for n in names] if names else [FEMUR_LABEL]) & side
            assert mask.any(), names
            return ys[mask].mean(), abs(xs[mask].mean() - middle)
        femur_y, femur_x = centroid(())
        quad_y, _ = centroid(QUADRICEPS)
        ham_y, _ = centroid(HAMSTRINGS)
        _, adductor_x = centroid(("adductor_magnus", "gracilis"))
        _, lateralis_x = centroid(("vastus_lateralis",))
        assert quad_y < femur_y - 5 and ham_y > femur_y + 5  # y grows posteriorly
        assert adductor_x < femur_x < lateralis_x  # adductors medial, vastus lateralis lateral


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_left_and_right_muscle_volumes_match(seed):
    _, raw = make_case(seed)
    middle = split_column(raw.labels)
    muscle = (raw.labels >= 1) & (raw.labels <= 27)
    columns = np.nonzero(muscle)[2]
    right, left = int((columns < middle).sum()), int((columns >= middle).sum())
    assert abs(left - right) / ((left + right) / 2) < 0.15


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_out_of_view_cases_lack_the_thigh_level(index):
    case = generate_case("thigh", 21, index, PhantomOptions(in_view=False, resolution="low"))
    meta = case.metadata
    assert "thigh" not in meta["levels"] and meta["target_in_view"] is False
    assert meta["truth"]["index"]["value"] is None
    labels = sitk.GetArrayFromImage(case.labels)
    assert ((labels >= 1) & (labels <= 27)).any()  # what is there is still labelled


def test_truth_volumes_come_from_the_label_map():
    subject, raw = make_case(8)
    voxel_cm3 = float(np.prod(raw.spacing)) / 1000
    counts = np.bincount(raw.labels.ravel(), minlength=30)
    for muscle in MUSCLES:
        assert raw.truth["muscle_volumes_cm3"][muscle.name] == pytest.approx(counts[muscle.label] * voxel_cm3, abs=0.01)
    index = raw.truth["index"]
    assert index["name"] == thigh_ct.INDEX_NAME and index["unit"] == "cm3/m2"
    assert index["value"] == pytest.approx(counts[1:28].sum() * voxel_cm3 / subject.height_m**2, rel=1e-4)
    assert index["center"] == thigh_ct.INDEX_CENTER and index["step"] == thigh_ct.INDEX_STEP


def test_volume_index_follows_the_subjects_muscle_mass():
    cases = [generate_case("thigh", 4, i, PhantomOptions(in_view=True, resolution="low")) for i in range(10)]
    index = [c.metadata["truth"]["index"]["value"] for c in cases]
    smi = [c.metadata["subject"]["target_smi"] for c in cases]
    assert np.corrcoef(index, smi)[0, 1] > 0.6


def test_cli_writes_cases_that_read_back_on_one_grid(tmp_path):
    out = tmp_path / "thigh"
    code = cli_main(["--progress", "none", "phantom", "--anatomy", "thigh", "--n", "1", "--seed", "3",
                     "--out", str(out), "--resolution", "low"])
    assert code == 0
    dataset = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    entry = dataset["cases"][0]
    image = sitk.ReadImage(str(out / entry["image"]))
    labels = sitk.ReadImage(str(out / entry["labels"]))
    assert same_grid(image, labels)
    meta = json.loads((out / entry["metadata"]).read_text(encoding="utf-8"))
    assert meta["anatomy"] == "thigh" and meta["label_names"]["28"] == "femur"
    assert list(image.GetSize()) == meta["size"]
    assert int(sitk.GetArrayFromImage(labels).max()) <= 29
