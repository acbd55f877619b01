"""Batch discovery and series selection (issue 15 items 1-2): DICOM at any depth, mixed patients and
studies, image files and a CSV manifest; every series considered gets "chosen" or its reason; compressed
transfer syntaxes are read losslessly; patient data come from the manifest, else the DICOM header."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("highdicom", reason="batch needs the 'batch' extra (pip install -e .[batch])")

from MuscleQuantLib.batch.discover import discover  # noqa: E402
from MuscleQuantLib.batch.phantom_studies import ENCODABLE, StudySpec, write_study  # noqa: E402
from MuscleQuantLib.batch.reader import SeriesError, read_series  # noqa: E402
from MuscleQuantLib.batch.select import CHOSEN, select_series  # noqa: E402
from MuscleQuantLib.batch.settings import SelectionSettings  # noqa: E402
from MuscleQuantLib.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> tuple[Path, dict[str, StudySpec]]:
    root = tmp_path_factory.mktemp("studies")
    specs = [StudySpec("A", seed=1), StudySpec("B", seed=2, oblique_deg=12.0), StudySpec("C", seed=3, has_level=False),
             StudySpec("D", seed=4, thin_mm=1.0, thick_mm=3.0, length_mm=60.0)]
    for spec in specs:
        write_study(spec, root / "site" / spec.patient_id[:1].lower())  # nested at different depths
    # A second study of patient A, deeper in the tree.
    write_study(StudySpec("A", seed=11), root / "late" / "2026" / "again")
    return root, {f"{s.patient_id}:{s.seed}": s for s in specs}


def _by_description(choices):
    return {c.series.description: (c.status, c.reason) for c in choices}


def test_every_series_gets_chosen_or_its_reason(studies):
    root, specs = studies
    cases, problems = discover(root)
    assert problems == []
    assert sorted(c.patient_id for c in cases) == ["A", "A", "B", "C", "D"]  # two studies of A: two cases
    for case in cases:
        choices = select_series(case, "CT", SelectionSettings())
        seen = _by_description(choices)
        assert seen["thin"] == (CHOSEN, "") if case.patient_id != "D" else seen["thick"] == (CHOSEN, "")
        assert seen["localizer"] == ("rejected", "localizer (ImageType LOCALIZER)")
        assert seen["screen capture"] == ("rejected", "secondary capture")
        loser = "thick" if case.patient_id != "D" else "thin"
        assert seen[loser][0] == "candidate" and seen[loser][1].startswith("another series preferred")
        assert len(choices) == 4  # nothing silently dropped


def test_selection_follows_the_thickness_and_kernel_settings(studies):
    root, _ = studies
    case = next(c for c in discover(root)[0] if c.patient_id == "B")
    thick_first = _by_description(select_series(case, "CT", SelectionSettings(prefer_thickness_mm=5.0)))
    assert thick_first["thick"] == (CHOSEN, "") and thick_first["thin"][0] == "candidate"
    tight = _by_description(select_series(case, "CT", SelectionSettings(max_tilt_deg=5.0)))
    assert tight["thin"][0] == "rejected" and "not axial (slice normal 12 deg" in tight["thin"][1]
    assert tight["thick"] == (CHOSEN, "")
    assert _by_description(select_series(case, "MR", SelectionSettings()))["thin"] == (
        "rejected", "modality CT; the preset measures MR")
    few = _by_description(select_series(case, "CT", SelectionSettings(min_slices=100)))
    assert few["thin"] == ("rejected", "too few slices (60; at least 100)")


def test_patient_data_come_from_the_header_and_missing_values_stay_missing(tmp_path):
    write_study(StudySpec("H", height_m=None, weight_kg=72.5, age=61, sex="F"), tmp_path)
    (case,), _ = discover(tmp_path)
    assert case.patient == {"age": 61.0, "sex": "F", "weight_kg": 72.5}  # no height: not guessed
    assert case.patient_source == {"age": "dicom", "sex": "dicom", "weight_kg": "dicom"}


def test_manifest_overrides_header_and_sets_the_slice(studies, tmp_path):
    root, _ = studies
    folder = next(p for p in (root / "site").rglob("thin")).parent
    nifti = tmp_path / "scan.nii.gz"
    sitk.WriteImage(sitk.Image(8, 8, 8, sitk.sitkInt16), str(nifti))
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(f"patient_id,path,slice,height_m,sex\nX1,{folder},12,1.81,\nX2,scan.nii.gz,,,M\n",
                        encoding="utf-8")
    cases, problems = discover(manifest)
    assert problems == []
    x1, x2 = cases
    assert x1.slice_index == 12 and x1.patient["height_m"] == "1.81" and x1.patient_source["height_m"] == "manifest"
    assert x1.patient_source["sex"] == "dicom" and len(x1.series) == 4
    assert x2.series[0].kind == "file" and x2.patient == {"sex": "M"}


@pytest.mark.parametrize("text, message", [
    ("patient,path\nA,x\n", r"manifest lacks column\(s\) patient_id"),
    ("patient_id,path,slice\nA,x,five\n", "slice 'five' is not an integer"),
])
def test_bad_manifests_are_refused_in_one_line(tmp_path, text, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        discover(manifest)


@pytest.mark.parametrize("syntax", ENCODABLE)
def test_compressed_series_read_losslessly(tmp_path, syntax):
    reference = write_study(StudySpec("R", seed=5), tmp_path / "plain")
    compressed = write_study(StudySpec("R", seed=5, transfer_syntax=syntax), tmp_path / "packed")
    images = []
    for root, spec in ((tmp_path / "plain", reference), (tmp_path / "packed", compressed)):
        (case,), _ = discover(root)
        thin = next(s for s in case.series if s.key == spec.series_uids["thin"])
        assert thin.transfer_syntaxes == ((syntax,) if root.name == "packed" else ("1.2.840.10008.1.2.1",))
        images.append(sitk.GetArrayFromImage(read_series(thin).image))
    np.testing.assert_array_equal(images[0], images[1])


def test_stored_slices_map_to_their_source_files_on_an_oblique_series(studies):
    import pydicom

    root, _ = studies
    case = next(c for c in discover(root)[0] if c.patient_id == "B")
    thin = next(s for s in case.series if s.description == "thin")
    volume = read_series(thin)
    for k in (0, 17, len(volume.slices) - 1):
        ds = pydicom.dcmread(volume.slices[k].file)
        assert np.allclose(volume.image.TransformIndexToPhysicalPoint((0, 0, k)), ds.ImagePositionPatient, atol=0.01)
        np.testing.assert_allclose(sitk.GetArrayViewFromImage(volume.image)[k], ds.pixel_array * 1.0 - 1024.0)


def test_unreadable_series_give_reasons(tmp_path):
    spec = write_study(StudySpec("Z"), tmp_path)
    (case,), _ = discover(tmp_path)
    thin = next(s for s in case.series if s.key == spec.series_uids["thin"])
    victim = Path(sorted(thin.files)[3])
    victim.write_bytes(victim.read_bytes()[:-500])
    with pytest.raises(SeriesError, match="corrupt or undecodable pixel data"):
        read_series(thin)
    shutil.copy(thin.files[5], thin.files[6])  # the same slice twice
    victim.unlink()
    thin.files.remove(str(victim))
    with pytest.raises(SeriesError, match="share one position"):
        read_series(thin)


def test_enhanced_multiframe_series_reads_like_its_single_frame_source(tmp_path):
    """A legacy-converted enhanced CT (one file, per-frame positions) gives the same volume as its source."""
    import highdicom as hd
    import pydicom
    from pydicom.uid import generate_uid

    spec = write_study(StudySpec("E", seed=9, oblique_deg=12.0), tmp_path / "single")
    (case,), _ = discover(tmp_path / "single")
    thin = next(s for s in case.series if s.key == spec.series_uids["thin"])
    datasets = [pydicom.dcmread(p) for p in sorted(thin.files)]
    enhanced = hd.legacy.LegacyConvertedEnhancedCTImage(datasets, series_instance_uid=generate_uid(), series_number=7,
                                                        sop_instance_uid=generate_uid(), instance_number=1)
    folder = tmp_path / "enhanced" / "E"
    folder.mkdir(parents=True)
    enhanced.save_as(folder / "enhanced.dcm")
    (multi,), _ = discover(tmp_path / "enhanced")
    (series,) = multi.series
    assert series.frames == len(datasets) and len(series.files) == 1
    choice = select_series(multi, "CT", SelectionSettings())[0]
    assert choice.status == CHOSEN, choice.reason
    one, many = read_series(thin), read_series(series)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(one.image), sitk.GetArrayViewFromImage(many.image))
    assert np.allclose(one.image.GetDirection(), many.image.GetDirection(), atol=1e-6)
    assert np.allclose(one.image.GetOrigin(), many.image.GetOrigin(), atol=0.01)
    assert [s.frame for s in many.slices] == list(range(len(datasets)))  # frames were stored in slice order
