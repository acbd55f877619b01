"""Radiomics deep survival: the Cox loss, training-set-only scaling, the model file, and the pipeline
end to end from phantoms through `musclequant radiomics` to `musclequant cohort deepsurv`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from lifelines import CoxPHFitter

from MuscleQuantLib.errors import InputError
from MuscleQuantSurvivalLib.deepsurv.modelfile import load_pipeline, save_pipeline
from MuscleQuantSurvivalLib.deepsurv.networks import cox_partial_likelihood_loss
from MuscleQuantSurvivalLib.deepsurv.training import FeatureScaler


def test_cox_loss_equals_lifelines_partial_likelihood():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    time = rng.exponential(np.exp(-0.7 * x))
    event = (rng.random(200) < 0.7).astype(float)
    fitter = CoxPHFitter().fit(pd.DataFrame({"x": x, "t": time, "e": event}), "t", "e")
    beta = float(fitter.params_["x"])
    loss = cox_partial_likelihood_loss(torch.tensor(beta * x), torch.tensor(time), torch.tensor(event))
    assert float(loss) * event.sum() == pytest.approx(-fitter.log_likelihood_, rel=1e-6)
    worse = cox_partial_likelihood_loss(torch.tensor(0.5 * beta * x), torch.tensor(time), torch.tensor(event))
    assert float(worse) > float(loss)  # the fitted coefficient maximises the likelihood


def test_scaler_learns_from_training_rows_only():
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0, np.nan], "constant": [5.0] * 4, "b": [0.0, 10.0, 20.0, 30.0]})
    scaler = FeatureScaler.fit(train)
    assert scaler.columns == ["a", "b"] and "constant" in scaler.dropped
    test = pd.DataFrame({"a": [np.nan, 1000.0], "b": [15.0, 15.0], "constant": [0.0, 0.0]})
    out = scaler.transform(test)
    assert out[0, 0] == pytest.approx((2.0 - 2.0) / np.std([1, 2, 3, 2]), abs=1e-6)  # missing → training median
    assert out[1, 0] == 5.0  # clipped at 5 SD, not rescaled by the test set


@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory):
    """A small texture cohort → features (original images only, for speed) → deepsurv, twice."""
    from MuscleQuantLib.cli import main

    root = tmp_path_factory.mktemp("deepsurv")
    cases = root / "cases"
    assert main(["phantom", "--texture-cohort", "90", "--seed", "5", "--out", str(cases), "--progress", "none"]) == 0
    features = root / "features.csv"
    assert main(["radiomics", "--dataset", str(cases), "--out", str(features), "--features", "original",
                 "--progress", "none"]) == 0
    outs = []
    for name in ("run1", "run2"):
        out = root / name
        code = main(["cohort", "deepsurv", str(cases / "clinical.csv"), "--measurements", str(cases / "measurements.csv"),
                     "--features", str(features), "--out", str(out), "--bootstrap", "20", "--seed", "1",
                     "--progress", "none"])
        assert code == 0
        outs.append(out)
    return cases, features, outs


def test_deepsurv_end_to_end_is_reproducible(cohort_run):
    cases, features, (first, second) = cohort_run
    metrics = pd.read_csv(first / "metrics.csv")
    assert set(metrics["set"]) == {"train", "internal", "external"}
    assert {"DeepSurv (radiomics)", "Golse", "Hamaguchi", "Yoo", "Carey", "Fujiwara"} <= set(metrics["score"])
    assert {"c_index", "c_index_ci_low", "c_index_ci_high", "auc_12m", "auc_24m", "logrank_p", "hr_high"} <= set(metrics)
    pd.testing.assert_frame_equal(metrics, pd.read_csv(second / "metrics.csv"))  # same seed, same result
    for name in ("km_train.png", "km_internal.png", "km_external.png", "c_index.png", "pca_definitions.png",
                 "risk.csv", "summary.json", "model/model.json"):
        assert (first / name).is_file(), name
    summary = json.loads((first / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["sets"]) == {"train", "internal", "external"}
    ds_train = metrics[(metrics["set"] == "train") & (metrics["kind"] == "deepsurv")]["c_index"].iloc[0]
    assert ds_train > 0.6  # it learned something on the patients it was fitted to


def test_saved_pipeline_reproduces_risks_and_refuses_damage(cohort_run, tmp_path):
    cases, features, (first, _) = cohort_run
    pipeline = load_pipeline(first / "model")
    table = pd.read_csv(features, dtype={"patient_id": str}).set_index("patient_id")
    risks = pd.read_csv(first / "risk.csv", dtype={"patient_id": str})
    again = pipeline.risk(table.loc[risks["patient_id"]])
    np.testing.assert_allclose(again, risks["risk"].to_numpy(), rtol=1e-5, atol=1e-6)
    copy = save_pipeline(pipeline, tmp_path / "copy")
    weights = copy / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt"):
        load_pipeline(copy)
    card = json.loads((first / "model" / "model.json").read_text(encoding="utf-8"))
    card["threshold_training_median"] = 0.0
    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "model.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(InputError, match="edited"):
        load_pipeline(edited)


def test_deepsurv_refuses_bad_input_with_one_line(cohort_run, tmp_path, run_cli):
    cases, features, _ = cohort_run
    base = ["cohort", "deepsurv", cases / "clinical.csv", "--measurements", cases / "measurements.csv"]
    code, _, err = run_cli(*base, "--features", tmp_path / "missing.csv", "--out", tmp_path / "o", "--progress", "none")
    assert code == 2 and "missing.csv" in err and "not found" in err
    clinical = pd.read_csv(cases / "clinical.csv")
    clinical.loc[0, "split"] = "validation"
    bad = tmp_path / "clinical.csv"
    clinical.to_csv(bad, index=False)
    code, _, err = run_cli("cohort", "deepsurv", bad, "--measurements", cases / "measurements.csv", "--features",
                           features, "--out", tmp_path / "o2", "--progress", "none")
    assert code == 2 and "'validation'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o2" / "metrics.csv").exists()


def test_a_failed_write_leaves_no_partial_run_and_keeps_the_earlier_one(cohort_run, tmp_path, run_cli, monkeypatch):
    """The model is written after the tables and figures: a full disk there must not leave them behind, nor
    replace an earlier run's files (--overwrite)."""
    import errno
    import shutil

    from MuscleQuantSurvivalLib.deepsurv import outputs

    cases, features, (first, _) = cohort_run
    earlier = tmp_path / "earlier"
    shutil.copytree(first, earlier)
    before = {p.relative_to(earlier): p.read_bytes() for p in earlier.rglob("*") if p.is_file()}

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs, "save_pipeline", full_disk)
    base = ["cohort", "deepsurv", cases / "clinical.csv", "--measurements", cases / "measurements.csv", "--features",
            features, "--bootstrap", "5", "--seed", "2", "--progress", "none"]
    code, _, err = run_cli(*base, "--out", tmp_path / "new")
    assert code == 2 and "no space left" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".new*"))
    code, _, err = run_cli(*base, "--out", earlier, "--overwrite")
    assert code == 2 and "no space left" in err
    assert {p.relative_to(earlier): p.read_bytes() for p in earlier.rglob("*") if p.is_file()} == before


def test_cohort_report_gains_a_deepsurv_section(cohort_run, tmp_path, run_cli):
    cases, features, _ = cohort_run
    out = tmp_path / "report"
    code, _, err = run_cli("cohort", "report", cases / "clinical.csv", "--measurements", cases / "measurements.csv",
                           "--features", features, "--bootstrap", "20", "--out", out, "--progress", "none")
    assert code == 0, err
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Radiomics deep survival" in html and "DeepSurv C-index" in html and "Not done" not in html
    for stem in ("deepsurv_km_train", "deepsurv_km_external", "deepsurv_c_index", "deepsurv_pca_definitions"):
        assert f"data-figure='{stem}'" in html, stem
    assert (out / "tables" / "deepsurv_metrics.csv").is_file() and (out / "deepsurv_model" / "model.json").is_file()
    config = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert config["deepsurv"]["features"] == str(features.resolve())
    code, _, err = run_cli("cohort", "report", "--config", out / "run.json", "--out", tmp_path / "again",
                           "--progress", "none")
    assert code == 0, err
    assert pd.read_csv(tmp_path / "again" / "tables" / "deepsurv_metrics.csv").equals(
        pd.read_csv(out / "tables" / "deepsurv_metrics.csv"))


def test_feature_extraction_gives_the_same_values_twice(tmp_path, run_cli):
    cases = tmp_path / "cases"
    assert run_cli("phantom", "--texture-cohort", "20", "--seed", "8", "--out", cases, "--progress", "none")[0] == 0
    one = cases / "tex_s8_0003"
    tables = []
    for name in ("a.csv", "b.csv"):
        code, _, err = run_cli("radiomics", f"{one}_image.nii.gz", f"{one}_labels.nii.gz", "--metadata", f"{one}.json",
                               "--out", tmp_path / name, "--progress", "none")
        assert code == 0, err
        tables.append(pd.read_csv(tmp_path / name))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
    assert tables[0].shape == (1, 1 + 2 * 1311)  # paper profile: 1,311 features per region, muscle and psoas
    assert tables[0]["patient_id"].iloc[0] == "tex_s8_0003"
    settings = json.loads((tmp_path / "a.settings.json").read_text(encoding="utf-8"))
    assert settings["pyradiomics"] == "v3.0.1" and settings["settings"]["name"] == "paper"
    assert settings["cases"]["tex_s8_0003"]["slice_rule"].startswith("metadata level L3")


@pytest.mark.slow
def test_deepsurv_finds_the_texture_signal_only_when_it_is_there(tmp_path, run_cli):
    """Same images (same seed), two survival truths: texture HR 2 per SD, and texture HR 1 (control).

    DeepSurv must beat every traditional definition on the external set (paired-bootstrap CI of the
    C-index difference above 0) with the signal, and must not without it.
    """
    folders = {}
    for name, hr in (("texture", "2"), ("control", "1")):
        folders[name] = tmp_path / name
        code, _, err = run_cli("phantom", "--texture-cohort", "400", "--seed", "1", "--texture-hr", hr,
                               "--out", folders[name], "--progress", "none")
        assert code == 0, err
    sample = "tex_s1_0123_image.nii.gz"
    assert (folders["texture"] / sample).read_bytes() == (folders["control"] / sample).read_bytes()
    features = tmp_path / "features.csv"  # identical images: one feature table serves both truths
    code, _, err = run_cli("radiomics", "--dataset", folders["texture"], "--out", features, "--features", "fast",
                           "--progress", "none")
    assert code == 0, err
    verdicts = {}
    for name, folder in folders.items():
        code, _, err = run_cli("cohort", "deepsurv", folder / "clinical.csv", "--measurements",
                               folder / "measurements.csv", "--features", features, "--out", tmp_path / f"ds_{name}",
                               "--bootstrap", "200", "--progress", "none")
        assert code == 0, err
        verdicts[name] = json.loads((tmp_path / f"ds_{name}" / "summary.json").read_text(encoding="utf-8"))["sets"]
    assert verdicts["texture"]["external"]["deepsurv_beats_every_definition"], verdicts["texture"]["external"]
    assert not verdicts["control"]["external"]["deepsurv_beats_every_definition"], verdicts["control"]["external"]


def test_radiomics_refuses_bad_input_without_writing(tmp_path, run_cli):
    import SimpleITK as sitk

    cases = tmp_path / "cases"
    assert run_cli("phantom", "--texture-cohort", "20", "--seed", "9", "--out", cases, "--progress", "none")[0] == 0
    one = cases / "tex_s9_0000"
    empty = sitk.Image(sitk.ReadImage(f"{one}_labels.nii.gz"))
    empty = sitk.Multiply(empty, 0)
    sitk.WriteImage(empty, str(tmp_path / "empty_labels.nii.gz"))
    out = tmp_path / "f.csv"
    code, _, err = run_cli("radiomics", f"{one}_image.nii.gz", tmp_path / "empty_labels.nii.gz", "--out", out,
                           "--progress", "none")
    assert code == 2 and "empty_labels.nii.gz" in err and "no muscle" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = run_cli("radiomics", f"{one}_image.nii.gz", f"{one}_labels.nii.gz", "--out", tmp_path / "f.txt",
                           "--progress", "none")
    assert code == 2 and ".csv" in err
    code, _, err = run_cli("radiomics", "--dataset", cases, "--out", out, "--features", "nonsense", "--progress", "none")
    assert code == 2 and "--features" in err
