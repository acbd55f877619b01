"""``musclequant batch`` end to end on a small phantom cohort with bad studies (issue 15 items 1-5, 8):
each bad study becomes a row with its reason and the batch goes on; every series considered is listed;
re-running skips finished cases and re-runs only changed ones; models load once per worker; DICOM SEG and
SR read back with highdicom, reference their sources, carry the terminology and overlay an oblique source
slice exactly; approved corrections replace automatic values with provenance and survive re-runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

pytest.importorskip("highdicom", reason="batch needs the 'batch' extra (pip install -e .[batch])")

import batch_helpers as H  # noqa: E402

from MuscleQuantLib.batch import worker  # noqa: E402
from MuscleQuantLib.batch.phantom_studies import StudySpec, write_study  # noqa: E402
from MuscleQuantLib.batch.review import merge_approved, review_queue  # noqa: E402
from MuscleQuantLib.batch.run import run_batch  # noqa: E402
from MuscleQuantLib.batch.settings import BatchSettings  # noqa: E402
from MuscleQuantLib.errors import InputError  # noqa: E402

EXPECTED = {  # patient -> (status, reason fragment)
    "GOOD": ("done", ""), "OBL": ("done", ""), "RLE": ("done", ""), "FALLBACK": ("done", ""),
    "NOLEVEL": ("excluded", "level not in view (no slab in the field of view)"),
    "CORRUPT": ("excluded", "corrupt or undecodable pixel data"),
    "BADTS": ("excluded", "unsupported transfer syntax 1.2.840.10008.1.2.4.100"),
    "EMPTY": ("excluded", "empty series: the file holds no pixel data"),
    "NOSERIES": ("excluded", "no matching series (2 considered: localizer (ImageType LOCALIZER); secondary capture)"),
}


def _truncate(folder: Path, index: int = 3) -> None:
    victim = sorted(folder.glob("*.dcm"))[index]
    victim.write_bytes(victim.read_bytes()[:-700])


def write_bad_and_good(root: Path) -> dict[str, StudySpec]:
    """The test cohort: four measurable studies and one of each kind of bad study."""
    import pydicom

    specs = {name: write_study(StudySpec(name, seed=i, **kw), root) for i, (name, kw) in enumerate([
        ("GOOD", {}), ("OBL", {"oblique_deg": 12.0}), ("RLE", {"transfer_syntax": "1.2.840.10008.1.2.5"}),
        ("FALLBACK", {}), ("NOLEVEL", {"has_level": False}), ("CORRUPT", {}),
        ("BADTS", {"transfer_syntax": "1.2.840.10008.1.2.4.100"}), ("EMPTY", {}), ("NOSERIES", {})])}
    _truncate(root / "FALLBACK" / "thin")  # the thick series is measured instead
    for series in ("thin", "thick"):
        _truncate(root / "CORRUPT" / series)
        shutil.rmtree(root / "NOSERIES" / series)
        for path in (root / "EMPTY" / series).glob("*.dcm"):
            ds = pydicom.dcmread(path)
            del ds.PixelData
            ds.save_as(path)
    (root / "notes.dcm").write_bytes(b"not a DICOM file at all")
    return specs


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return H.tiny_l3_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> tuple[Path, dict[str, StudySpec]]:
    root = tmp_path_factory.mktemp("cohort")
    return root, write_bad_and_good(root)


def settings_for(out: Path, model: Path, **kw) -> BatchSettings:
    H.ensure_importable()
    return BatchSettings(preset="l3", out=out, model=model, level_finder=H.LEVEL_FINDER,
                         **{"dicom_seg": True, "dicom_sr": True, **kw})


@pytest.fixture(scope="module")
def batch(cohort, model, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("batch")
    worker._CACHE.clear()
    loads_before = worker.LOADS["count"]
    summary = run_batch(cohort[0], settings_for(out, model))
    summary["model_loads"] = worker.LOADS["count"] - loads_before
    return out, summary


def _table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "measurements.csv", dtype={"patient_id": str})


def test_every_study_is_a_row_with_its_status_and_reason(batch):
    out, summary = batch
    table = _table(out).set_index("patient_id")
    assert sorted(table.index) == sorted(EXPECTED)
    for patient, (status, reason) in EXPECTED.items():
        assert table.loc[patient, "status"] == status, (patient, table.loc[patient, "reason"])
        if reason:
            assert reason in table.loc[patient, "reason"], (patient, table.loc[patient, "reason"])
    assert (summary["done"], summary["excluded"], summary["failed"]) == (4, 5, 0)
    assert summary["model_loads"] == 1  # one worker (this process), one load for nine cases


def test_missing_patient_data_make_indices_not_applicable_and_radiomics_run_per_case(model, tmp_path):
    root = tmp_path / "in"
    write_study(StudySpec("NOHEIGHT", height_m=None), root)
    out = tmp_path / "out"
    pytest.importorskip("radiomics", reason="PyRadiomics (optional) is not installed")
    run_batch(root, settings_for(out, model, dicom_seg=False, dicom_sr=False, radiomics="original"))
    row = _table(out).iloc[0]
    assert row["status"] == "done" and np.isnan(row["smi_cm2_m2"]) and row["csa_total_cm2"] > 0
    case = json.loads((out / "cases" / row["case_id"] / "case.json").read_text(encoding="utf-8"))
    assert "height" in case["reasons_not_available"]["smi_cm2_m2"]
    features = pd.read_csv(out / "radiomics.csv", dtype={"patient_id": str})  # optional radiomics, item 3
    assert list(features["patient_id"]) == ["NOHEIGHT"] and "muscle_original_firstorder_Mean" in features
    assert case["outputs"]["radiomics"] == "radiomics.csv"


def test_series_table_lists_every_series_with_chosen_or_reason(batch, cohort):
    out, _ = batch
    specs = cohort[1]
    series = pd.read_csv(out / "series.csv", dtype=str).fillna("")
    status = {row.series_uid: (row.status, row.reason) for row in series.itertuples() if row.series_uid}
    for name in ("GOOD", "OBL", "RLE"):
        uids = specs[name].series_uids
        assert status[uids["thin"]] == ("chosen", "")
        assert status[uids["thick"]][0] == "candidate"
        assert status[uids["localizer"]] == ("rejected", "localizer (ImageType LOCALIZER)")
        assert status[uids["sc"]] == ("rejected", "secondary capture")
    fallback = specs["FALLBACK"].series_uids
    assert status[fallback["thin"]][0] == "rejected" and "corrupt" in status[fallback["thin"]][1]
    assert status[fallback["thick"]] == ("chosen", "")
    nolevel = specs["NOLEVEL"].series_uids
    assert status[nolevel["thin"]][1].startswith("level not in view")
    assert status[nolevel["thick"]][1].startswith("level not in view")
    unreadable = series[series["description"].str.endswith("notes.dcm")]
    assert len(unreadable) == 1 and unreadable["reason"].iloc[0].startswith("unreadable DICOM file")


def test_case_folders_are_complete_and_nothing_is_left_half_written(batch):
    out, _ = batch
    cases = out / "cases"
    assert not [p for p in cases.iterdir() if p.name.startswith(".")]
    for folder in cases.iterdir():
        state = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        for name in state["outputs"].values():
            assert (folder / name).is_file(), (folder.name, name)
        if state["status"] == "done":
            assert {"labels", "measurements", "qa", "thumbnail", "dicom_seg", "dicom_sr"} <= set(state["outputs"])
            # plausibility is checked once per case: the row, the segmentation and measurement JSON agree
            block = json.loads((folder / "segmentation.json").read_text(encoding="utf-8"))["plausibility"]
            measured = json.loads((folder / "measurements.json").read_text(encoding="utf-8"))
            assert measured["plausibility"] == block
            assert state["row"]["plausibility_status"] == block["status"]
            assert state["row"]["plausibility_flag_count"] == len(block["flags"])


def test_rerun_skips_finished_cases_and_reruns_only_changed_ones(batch, cohort, model, tmp_path):
    out, _ = batch
    root = tmp_path / "in"
    shutil.copytree(cohort[0], root)
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    before = _table(copy)
    # The input moved (same bytes): a state keyed on content still matches.
    summary = run_batch(root, settings_for(copy, model))
    assert (summary["ran"], summary["skipped_current"]) == (0, 9)
    pd.testing.assert_frame_equal(_table(copy), before)
    localizer = next((root / "GOOD" / "localizer").glob("*.dcm"))
    localizer.write_bytes(localizer.read_bytes() + b"\0\0")  # any changed input file re-runs its case
    summary = run_batch(root, settings_for(copy, model))
    assert (summary["ran"], summary["skipped_current"]) == (1, 8)
    after = _table(copy)  # same pixels, same measurements; only the source path moved
    pd.testing.assert_frame_equal(after.drop(columns="source"), before.drop(columns="source"))
    assert (after["source"].fillna("") != before["source"].fillna("")).sum() == 1


def test_dicom_seg_and_sr_read_back_and_overlay_the_oblique_source_exactly(batch, cohort):
    import highdicom as hd
    import pydicom

    from MuscleQuantLib.presets.terminology import terminology_for

    out, _ = batch
    spec = cohort[1]["OBL"]
    row = _table(out).set_index("patient_id").loc["OBL"]
    folder = out / "cases" / row["case_id"]
    seg = hd.seg.segread(folder / "seg.dcm")
    k = int(row["slice_index"])
    sources = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p)
               for p in (cohort[0] / "OBL" / "thin").glob("*.dcm")}
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == spec.series_uids["thin"] and seg.StudyInstanceUID == \
        next(iter(sources.values())).StudyInstanceUID
    (instance,) = referenced.ReferencedInstanceSequence
    source = sources[instance.ReferencedSOPInstanceUID]
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "labels.nii.gz")))
    assert np.allclose(seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient,
                       source.ImageOrientationPatient)
    assert abs(float(source.ImageOrientationPatient[5])) > 0.2  # the source really is oblique
    for number, frame in enumerate(seg.PerFrameFunctionalGroupsSequence, start=1):
        assert np.allclose(frame.PlanePositionSequence[0].ImagePositionPatient, source.ImagePositionPatient)
        derivation = frame.DerivationImageSequence[0].SourceImageSequence[0]
        assert derivation.ReferencedSOPInstanceUID == instance.ReferencedSOPInstanceUID
        segment = frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        np.testing.assert_array_equal(seg.pixel_array[number - 1] > 0, labels[k] == segment)
    for description in seg.SegmentSequence:
        term = terminology_for(description.SegmentLabel)
        assert description.SegmentedPropertyTypeCodeSequence[0].CodeValue == term.type.code
        assert description.SegmentedPropertyCategoryCodeSequence[0].CodeValue == term.category.code
        modifier = description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0]
        assert modifier.CodeValue == term.type_modifier.code
    sr = hd.sr.srread(folder / "sr.dcm")
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    referenced_sops = {i.ReferencedSOPInstanceUID for s in evidence for i in s.ReferencedSOPSequence}
    assert spec.series_uids["thin"] in {s.SeriesInstanceUID for s in evidence}
    assert instance.ReferencedSOPInstanceUID in referenced_sops and seg.SOPInstanceUID in referenced_sops
    (group,) = sr.content.get_image_measurement_groups()
    values = {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()}
    assert values["Area"] == (pytest.approx(row["csa_total_cm2"]), "cm2")
    assert values["Attenuation Coefficient"] == (pytest.approx(row["muscle_hu_mean"]), "[hnsf'U]")
    assert values["Skeletal muscle index"][1] == "cm2/m2"
    assert group.finding_sites[0].value.meaning == "L3 vertebra"


def test_approved_correction_replaces_the_row_with_provenance_and_survives_reruns(batch, cohort, model, tmp_path):
    out, _ = batch
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    row = _table(copy).set_index("patient_id").loc["GOOD"]
    folder = copy / "cases" / row["case_id"]
    automatic = sitk.ReadImage(str(folder / "labels.nii.gz"))
    array = sitk.GetArrayFromImage(automatic)
    array[array == array[array > 0].min()] = 0  # the reviewer erases one label
    corrected = sitk.GetImageFromArray(array)
    corrected.CopyInformation(automatic)
    path = tmp_path / "approved.nii.gz"
    sitk.WriteImage(corrected, str(path))
    queue = review_queue(copy)
    assert [q["patient_id"] for q in queue if q["flagged"]] + [q["patient_id"] for q in queue if not q["flagged"]] \
        == [q["patient_id"] for q in queue] and len(queue) == 4  # flagged first; only measured cases
    assert Path(next(q for q in queue if q["patient_id"] == "GOOD")["labels"]) == folder / "labels.nii.gz"
    first = merge_approved(copy, row["case_id"], path, "Dr Review")
    second = merge_approved(copy, row["case_id"], path, "Dr Second")
    assert (first["version"], second["version"]) == (1, 2) and (folder / "review" / "v1" / "approval.json").exists()
    assert 0 < first["dice_auto_vs_approved"] < 1
    approved = _table(copy).set_index("patient_id").loc["GOOD"]
    assert approved["review_status"] == "approved" and approved["approved_by"] == "Dr Second"
    assert approved["csa_total_cm2"] < row["csa_total_cm2"] and approved["review_version"] == 2
    assert next(q for q in review_queue(copy) if q["patient_id"] == "GOOD")["review_status"] == "approved"
    assert _table(copy).set_index("patient_id").loc["OBL", "review_status"] == "automatic"
    # The gallery is re-drawn with the table: the approved card says so and shows the approved area.
    page = (copy / "gallery.html").read_text(encoding="utf-8")
    card = page.split(f'data-case="{row["case_id"]}"')[1].split('<div class="case')[0]
    assert "approved v2 by Dr Second" in card and f"csa_total_cm2 = {approved['csa_total_cm2']:.2f}" in card
    assert page.count('class="review"') == 1 and "approved v" not in (out / "gallery.html").read_text(encoding="utf-8")
    # A new model re-runs every case; the approval stays and still wins in the table.
    other = H.tiny_l3_model(tmp_path / "model2", seed=1)
    summary = run_batch(cohort[0], settings_for(copy, other))
    assert summary["ran"] == 9
    after = _table(copy).set_index("patient_id").loc["GOOD"]
    assert after["review_status"] == "approved" and after["csa_total_cm2"] == approved["csa_total_cm2"]
    assert (folder / "review" / "v2" / "labels.nii.gz").exists()
    with pytest.raises(InputError, match="approver"):
        merge_approved(copy, row["case_id"], path, " ")


def test_cli_finds_levels_with_an_installed_model_or_says_none_is_there(run_cli, cohort, model, tmp_path,
                                                                        monkeypatch):
    from MuscleQuantLib.batch import worker as worker_module

    worker_module._CACHE.clear()
    source = tmp_path / "one"
    write_study(StudySpec("LV", seed=3), source)
    blind = H.tiny_l3_model(tmp_path / "blind", preset_name="l3_level", zero=True)
    code, _, err = run_cli("--progress", "none", "batch", source, "--preset", "l3", "--model", model,
                           "--level-model", blind, "--out", tmp_path / "a", "--no-qa")
    assert code == 0, err
    row = _table(tmp_path / "a").iloc[0]
    assert row["status"] == "excluded" and row["reason"].startswith("level not in view")
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "empty_cache"))
    # no shipped starter finder either (issue 14 ships one, which a fresh install would use)
    monkeypatch.setattr("MuscleQuantLib.models.starter.STARTER_DIR", tmp_path / "no_starters")
    code, _, err = run_cli("--progress", "none", "batch", source, "--preset", "l3", "--model", model,
                           "--out", tmp_path / "b", "--no-qa")
    assert code == 0, err
    row = _table(tmp_path / "b").iloc[0]
    assert row["status"] == "excluded" and "no l3_level level model is installed" in row["reason"]
    assert "manifest 'slice' column" in row["reason"]


def test_cli_runs_a_manifest_with_slices_and_refuses_bad_usage(run_cli, cohort, model, tmp_path):
    folder = cohort[0] / "GOOD" / "thin"
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"patient_id,path,slice,height_m\nM1,{folder},30,1.70\nM2,{folder},999,\n", encoding="utf-8")
    code, out, err = run_cli("--progress", "json", "batch", manifest, "--preset", "l3", "--model", model,
                             "--out", tmp_path / "o")
    assert code == 0, err
    done = json.loads(out.strip().splitlines()[-1])
    assert done["stage"] == "done" and done["result"]["done"] == 1 and done["result"]["excluded"] == 1
    table = _table(tmp_path / "o").set_index("patient_id")
    assert table.loc["M1", "slice_index"] == 30 and table.loc["M1", "slice_chosen_by"] == "manifest"
    assert "manifest slice 999 is outside the series" in table.loc["M2", "reason"]
    code, _, err = run_cli("--progress", "none", "batch", tmp_path / "nowhere", "--preset", "l3", "--model", model, "--out", tmp_path / "x")
    assert code == 2 and "input not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("--progress", "none", "batch", manifest, "--preset", "l3", "--model", model,
                           "--out", tmp_path / "y",
                           "--cluster", "slurm")
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        assert code == 2 and "--cluster needs dask-jobqueue" in err


def test_cluster_option_building_and_jobqueue_class_choice(monkeypatch):
    """--cluster slurm|pbs|sge: options become dask-jobqueue arguments (one single-threaded worker process per
    job by default), and the class matches the scheduler kind (a stand-in module records the call)."""
    import sys
    import types

    from MuscleQuantLib.batch.cli import cluster_options
    from MuscleQuantLib.batch.dask_executor import cluster_kwargs, make_cluster

    options = cluster_options(["queue=short", "memory=8GiB", "cores=2", "job-extra-directives=--exclusive"])
    assert cluster_kwargs(options) == {"cores": 2, "processes": 1, "memory": "8GiB", "queue": "short",
                                       "job_extra_directives": "--exclusive"}
    with pytest.raises(InputError, match="KEY=VALUE"):
        cluster_options(["queue"])
    made = []
    fake = types.ModuleType("dask_jobqueue")
    for name in ("SLURMCluster", "PBSCluster", "SGECluster"):
        setattr(fake, name, lambda name=name, **kw: made.append((name, kw)) or name)
    monkeypatch.setitem(sys.modules, "dask_jobqueue", fake)
    assert make_cluster("pbs", {"queue": "q"}) == "PBSCluster"
    assert made == [("PBSCluster", {"cores": 1, "processes": 1, "memory": "4GiB", "queue": "q"})]
    with pytest.raises(InputError, match="unknown cluster kind"):
        make_cluster("lsf", {})


def test_without_model_batch_uses_the_shipped_starter_or_says_what_to_do(run_cli, tmp_path, monkeypatch):
    """Like ``segment``: no --model means the newest installed model, on a fresh install the starter."""
    import json

    from MuscleQuantLib.models.starter import starter_for

    source = tmp_path / "one"
    write_study(StudySpec("ST", seed=5), source)
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "fresh_cache"))
    code, _, err = run_cli("--progress", "none", "batch", source, "--preset", "l3", "--out", tmp_path / "a",
                           "--no-qa")
    assert code == 0, err
    settings = json.loads((tmp_path / "a" / "run.json").read_text(encoding="utf-8"))["settings"]
    assert Path(settings["model"]) == starter_for("l3")
    from MuscleQuantLib.models.starter import STARTER_NOTICE

    rows = pd.read_csv(tmp_path / "a" / "measurements.csv")
    measured = rows[rows["status"] == "done"]
    assert len(measured) and (measured["model_notice"] == STARTER_NOTICE).all()  # every starter row says it is a draft
    monkeypatch.setattr("MuscleQuantLib.models.starter.STARTER_DIR", tmp_path / "no_starters")
    code, _, err = run_cli("--progress", "none", "batch", source, "--preset", "l3", "--out", tmp_path / "b")
    assert code == 2 and "--model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
