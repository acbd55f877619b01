"""Plausibility flags (issue 14 item 3): they fire on implausible results, stay quiet on real anatomy.

Real CT: ``example_ct_sm`` with TotalSegmentator labels (``example_seg``), stored slices 0-9 are L2.
Phantoms: held-out cases (a seed no training uses) judged with their true label maps.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case
from MuscleQuantLib.plausibility import available_presets, load_ranges, row_columns, run_checks
from MuscleQuantLib.plausibility.flags import Range
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.quantify.report import column_info
from MuscleQuantLib.training.data import target_stored_slice

# TotalSegmentator v2 ids (example_seg README) -> L3 preset output names
REFERENCE_MUSCLES = {86: "erector_spinae_left", 87: "erector_spinae_right", 88: "psoas_major_left",
                     89: "psoas_major_right"}
LIVER = 5
HELD_OUT_SEED = 9100


@pytest.fixture(scope="module")
def real_ct(shared_data):
    image = sitk.ReadImage(str(shared_data / "example_ct_sm.nii.gz"))
    seg = sitk.ReadImage(str(shared_data / "example_seg.nii.gz"))
    return image, seg, sitk.GetArrayFromImage(seg)


def _label_map(seg: sitk.Image, array: np.ndarray, extra: dict[int, int] | None = None) -> tuple[sitk.Image, dict]:
    """Reference muscles as preset labels 1-4 (plus organs relabelled as one of them)."""
    out = np.zeros(array.shape, np.uint16)
    values = {name: i + 1 for i, name in enumerate(REFERENCE_MUSCLES.values())}
    for ts_id, name in REFERENCE_MUSCLES.items():
        out[array == ts_id] = values[name]
    for ts_id, value in (extra or {}).items():
        out[array == ts_id] = value
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(seg)
    return image, {v: n for n, v in values.items()}


def test_liver_labelled_as_psoas_is_flagged(real_ct):
    """The failure the issue measured (liver outlined as psoas) without a model: psoas area and position fire."""
    image, seg, array = real_ct
    labels, names = _label_map(seg, array, {LIVER: 4})  # liver -> psoas_major_right (the liver is on the right)
    result = run_checks(image, labels, "l3", slice_index=5, label_names=names)
    fired = {(f.check, f.label): f for f in result.flags}
    assert ("area", "psoas_major_right") in fired
    assert fired[("area", "psoas_major_right")].value > 3500
    position = fired[("position", "psoas_major_right")]
    assert position.severity == "error" and position.value > 0.5
    assert ("symmetry", "psoas_major") in fired
    assert result.block()["status"] == "needs_review"
    for flag in result.flags:  # every flag names the check, the value, the expected range and the reason
        entry = flag.to_dict()
        assert set(entry) >= {"check", "label", "value", "expected", "reason", "severity"}
        assert entry["reason"] and len(entry["expected"]) == 2
    json.dumps(result.block())  # JSON-ready
    # The true reference muscles on the same slice are quiet: it is the liver that is flagged.
    clean, _ = _label_map(seg, array)
    assert run_checks(image, clean, "l3", slice_index=5, label_names=names).flags == []


def test_reference_muscles_raise_no_area_or_position_flag(real_ct):
    """TotalSegmentator's erector spinae and psoas on the L2 slices are real muscle: no area or position flag
    (slice 9, the top of the psoas at 126 mm², is below the 150 mm² L3-level floor and is left out)."""
    image, seg, array = real_ct
    labels, names = _label_map(seg, array)
    for k in range(9):
        flags = run_checks(image, labels, "l3", slice_index=k, label_names=names).flags
        assert [f for f in flags if f.check in ("area", "area_fraction", "position")] == [], (k, flags)


def _held_out(preset: str, index: int):
    spec = get_preset(preset)
    # Clinical in-plane resolution for the trunk (the low-resolution option's 5-7 mm pixels crumble the thin
    # abdominal wall into slivers); head and thigh at low resolution to keep the test short.
    resolution = "standard" if preset in ("l3", "c3") else "low"
    case = generate_case(spec.phantom_anatomy, HELD_OUT_SEED, index, PhantomOptions(in_view=True, resolution=resolution))
    level = target_stored_slice(case.metadata, spec) if spec.spatial_dims == 2 else None
    return case, {int(k): v for k, v in case.metadata["label_names"].items()}, None if level is None else round(level)


@pytest.mark.parametrize("preset", ["l3", "c3", "temporalis", "thigh"])
def test_quiet_on_held_out_phantoms(preset):
    """True label maps of 10 held-out in-distribution phantoms: at most 1 flagged (>= 90 % quiet)."""
    flagged = []
    for index in range(10):
        case, names, k = _held_out(preset, index)
        result = run_checks(case.image, case.labels, preset, slice_index=k, label_names=names)
        assert "size" in result.checks and "components" in result.checks
        if result.flags:
            flagged.append((case.case_id, [f.short() for f in result.flags]))
    assert len(flagged) <= 1, flagged


@pytest.fixture(scope="module")
def l3_phantom():
    case, names, k = _held_out("l3", 0)
    labels = sitk.GetArrayFromImage(case.labels)
    assert not run_checks(case.image, case.labels, "l3", slice_index=k, label_names=names).flags
    return case, names, k, labels


def _with(case, array):
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(case.labels)
    return image


def _fired(case, names, k, array, **kwargs) -> set[tuple[str, str | None]]:
    return {(f.check, f.label) for f in run_checks(case.image, _with(case, array), "l3", slice_index=k,
                                                    label_names=names, **kwargs).flags}


def test_each_check_fires_on_its_defect(l3_phantom):
    """Break one property of a correct phantom label map at a time; the matching check fires."""
    case, names, k, labels = l3_phantom
    psoas, erector, rectus = 3, 5, 1
    # Erector spinae moved to the front of the abdomen: position.
    moved = labels.copy()
    moved[k][moved[k] == erector] = 0
    rows, cols = np.nonzero(labels[k] == erector)
    shift = int(np.ptp(np.nonzero(labels[k] > 0)[0]) * 0.6)
    moved[k][rows - shift, cols] = erector
    assert ("position", "erector_spinae_left") in _fired(case, names, k, moved)
    # Psoas erased: the declared label is absent.
    x_mid = labels.shape[2] / 2
    gone = labels.copy()
    gone[k][gone[k] == psoas] = 0
    assert ("area", "psoas_major_left") in _fired(case, names, k, gone)
    # Three quarters of one erector spinae removed: symmetry.
    thin = labels.copy()
    r, c = np.nonzero(labels[k] == erector)
    right = c <= x_mid
    cut_rows = r[right] > np.percentile(r[right], 25)
    thin[k][r[right][cut_rows], c[right][cut_rows]] = 0
    assert ("symmetry", "erector_spinae") in _fired(case, names, k, thin)
    # Fragmented rectus: stripes of background cut it into many pieces.
    cut = labels.copy()
    band = cut[k]
    rr, cc = np.nonzero(band == rectus)
    band[rr[cc % 4 == 0], cc[cc % 4 == 0]] = 0
    assert {f[0] for f in _fired(case, names, k, cut) if f[1] and f[1].startswith("rectus")} >= {"components"}
    # A label placed in fat or air: intensity.
    image_array = sitk.GetArrayFromImage(case.image)
    fat = labels.copy()
    fat[k][(image_array[k] < -300) & (fat[k] == 0)] = erector
    fired = _fired(case, names, k, fat)
    assert any(check in ("intensity", "area") and label and label.startswith("erector") for check, label in fired)


def test_level_confidence_and_missing_image(l3_phantom):
    case, names, k, _ = l3_phantom
    summary = {"slice": {"index": k, "chosen_by": "finder", "level": {"confidence": 0.3, "slice_index": k}}}
    flags = run_checks(case.image, case.labels, "l3", summary, label_names=names).flags
    assert [(f.check, f.severity) for f in flags] == [("level_confidence", "warning")]
    summary["slice"]["level"]["confidence"] = 0.9
    assert run_checks(case.image, case.labels, "l3", summary, label_names=names).flags == []
    # Without the image only label-based checks run; they say what was skipped.
    result = run_checks(None, case.labels, "l3", slice_index=k, label_names=names)
    assert "position" in result.skipped and "intensity" in result.skipped and "position" not in result.checks
    assert result.block()["status"] == "ok"


def test_unknown_preset_is_not_checked():
    image = sitk.Image(8, 8, 1, sitk.sitkUInt8)
    block = run_checks(None, image, "custom").block()
    assert block["status"] == "not_checked" and block["flags"] == []
    assert row_columns(block)["plausibility_status"] == "not_checked"


def test_ranges_files_are_complete():
    """Every muscle preset has ranges with sources, covering all of its muscle labels; ranges are ordered."""
    assert set(available_presets()) >= {"l3", "c3", "temporalis", "thigh"}
    for name in ("l3", "c3", "temporalis", "thigh"):
        ranges = load_ranges(name)
        preset = get_preset(name)
        assert {label.name for label in preset.labels} <= set(ranges.labels), name
        assert ranges.sources and ranges.modality == preset.modality and ranges.spatial_dims == preset.spatial_dims
        for label in ranges.labels.values():
            for rng in (label.size, label.fraction, label.max_components):
                if rng:
                    _ordered(rng)
    assert Range((1, 2), (0, 3)).judge(1.5) is None
    assert Range((1, 2), (0, 3)).judge(2.5) == "warning" and Range((1, 2), (0, 3)).judge(4) == "error"
    assert Range((1, None)).judge(float("nan")) == "warning"


def _ordered(rng: Range) -> None:
    lo, hi = rng.warn
    assert lo is None or hi is None or lo <= hi
    if rng.error:
        assert (rng.error[0] is None or lo is None or rng.error[0] <= lo)
        assert (rng.error[1] is None or hi is None or rng.error[1] >= hi)


def test_quantify_row_and_json_carry_the_flags(real_ct, shared_data, tmp_path, run_cli):
    """quantify: a flagged case is needs_review in the CSV row and the JSON; the columns are documented."""
    image, seg, array = real_ct
    labels, names = _label_map(seg, array, {LIVER: 4})
    sitk.WriteImage(labels, str(tmp_path / "labels.nii.gz"))
    code, _, err = run_cli("quantify", shared_data / "example_ct_sm.nii.gz", tmp_path / "labels.nii.gz",
                           "--out", tmp_path / "out", "--preset", "l3", "--slice", "5", "--patient-id", "liver",
                           "--label-names", ",".join(f"{v}={n}" for v, n in names.items()), "--no-qa",
                           "--progress", "none")
    assert code == 0, err
    row = pd.read_csv(tmp_path / "out" / "measurements.csv").iloc[0]
    assert row["plausibility_status"] == "needs_review" and row["plausibility_flag_count"] >= 2
    assert "position:psoas_major_right(error)" in row["plausibility_flags"]
    record = json.loads((tmp_path / "out" / "liver.json").read_text(encoding="utf-8"))
    assert record["plausibility"]["status"] == "needs_review"
    assert any(f["check"] == "area" and f["label"] == "psoas_major_right" for f in record["plausibility"]["flags"])
    for column in ("plausibility_status", "plausibility_flag_count", "plausibility_flags"):
        assert column_info(column) is not None


def test_quantify_totalsegmentator_reference_is_ok(shared_data, tmp_path, run_cli):
    """Real-scan sanity through quantify: TotalSegmentator's autochthon/iliopsoas mapped onto the L3 labels
    (--label-map-from) on L2 slice 5 are real muscle, so the case is not flagged."""
    code, _, err = run_cli("quantify", shared_data / "example_ct_sm.nii.gz", shared_data / "example_seg.nii.gz",
                           "--out", tmp_path, "--preset", "l3", "--slice", "5", "--label-map-from", "totalsegmentator",
                           "--patient-id", "reference", "--no-qa", "--progress", "none")
    assert code == 0, err
    row = pd.read_csv(tmp_path / "measurements.csv").iloc[0]
    assert row["plausibility_status"] == "ok" and row["plausibility_flag_count"] == 0
    record = json.loads((tmp_path / "reference.json").read_text(encoding="utf-8"))
    assert {"size", "position", "intensity"} <= set(record["plausibility"]["checks"])


def test_thigh_muscle_on_the_wrong_side_of_the_femur_is_flagged():
    """3D position: with the hamstring and quadriceps names swapped, biceps femoris lies in front of the femur."""
    case, names, _ = _held_out("thigh", 0)
    result = run_checks(case.image, case.labels, "thigh", label_names=names)
    assert "bone_position" in result.checks and "position" not in result.checks
    assert not [f for f in result.flags if f.check == "position"]
    by_name = {n: v for v, n in names.items()}
    swapped = {**names, by_name["biceps_femoris"]: "rectus_femoris", by_name["rectus_femoris"]: "biceps_femoris"}
    fired = {(f.check, f.label) for f in run_checks(case.image, case.labels, "thigh", label_names=swapped).flags}
    assert {("position", "biceps_femoris_left"), ("position", "biceps_femoris_right")} <= fired
    assert ("position", "rectus_femoris_left") in fired
