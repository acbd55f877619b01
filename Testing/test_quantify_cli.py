"""``musclequant quantify`` end to end: outputs, units, bad patient data, model card, phantoms."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from quantify_synthetic import canonical_case, stored

from MuscleQuantLib.cli import main
from MuscleQuantLib.errors import InputError, UnitError
from MuscleQuantLib.quantify import QuantifyOptions, make_patient, quantify_images
from MuscleQuantLib.quantify.report import column_info


@pytest.fixture()
def case_files(tmp_path):
    image, labels, truth = canonical_case()
    img, lab = stored([image, labels], "RAS")
    sitk.WriteImage(img, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(lab, str(tmp_path / "labels.nii.gz"))
    (tmp_path / "names.json").write_text(json.dumps({"1": "psoas_major", "2": "erector_spinae_left"}), encoding="utf-8")
    (tmp_path / "card.json").write_text(json.dumps({"id": "l3-unet-v1", "weights": {"sha256": "ab" * 32}}), encoding="utf-8")
    return tmp_path, truth


def run(tmp_path, *extra):
    return main(["--progress", "none", "quantify", str(tmp_path / "ct.nii.gz"), str(tmp_path / "labels.nii.gz"),
                 "--out", str(tmp_path / "out"), "--label-names", str(tmp_path / "names.json"), *extra])


def test_outputs_carry_units_slice_spacing_hu_range_and_model(case_files):
    tmp_path, truth = case_files
    code = run(tmp_path, "--patient-id", "p1", "--sex", "male", "--height", "1.80", "--weight", "80", "--age", "61",
               "--model-card", str(tmp_path / "card.json"))
    assert code == 0
    out = tmp_path / "out"
    record = json.loads((out / "p1.json").read_text(encoding="utf-8"))
    assert record["slice"]["index"] == truth["slice"] and record["slice"]["spacing_mm"] == pytest.approx([0.8, 0.7, 3.0])
    assert record["hu_range"]["min"] == -29 and record["hu_range"]["max"] == 150
    assert record["model"] == {"id": "l3-unet-v1", "sha256": "ab" * 32, "source": str(tmp_path / "card.json")}
    assert record["values"]["csa_total_cm2"] == {"value": pytest.approx(truth["total_mm2"] / 100), "unit": "cm2"}
    assert record["values"]["smi_cm2_m2"]["unit"] == "cm2/m2"
    assert record["sarcopenia"]["prado_smi"]["status"] == "sarcopenic"  # a tiny phantom: SMI far below 52.4
    csv = pd.read_csv(out / "measurements.csv")
    assert list(csv["patient_id"]) == ["p1"] and csv.loc[0, "model_id"] == "l3-unet-v1"
    undocumented = [c for c in csv.columns if column_info(c) is None]
    assert not undocumented
    assert (out / "columns.json").exists()
    assert (out / "p1_qa.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second case adds a row; re-running the first replaces its row
    assert run(tmp_path, "--patient-id", "p2", "--no-qa") == 0
    assert run(tmp_path, "--patient-id", "p1", "--height", "1.5", "--no-qa") == 0
    csv = pd.read_csv(out / "measurements.csv").set_index("patient_id")
    assert sorted(csv.index) == ["p1", "p2"] and csv.loc["p1", "height_m"] == 1.5


def test_bad_patient_data_gives_one_message_per_field_and_the_measurement_still_comes_out(case_files, capsys):
    tmp_path, truth = case_files
    code = main(["--progress", "text", "quantify", str(tmp_path / "ct.nii.gz"), str(tmp_path / "labels.nii.gz"),
                 "--out", str(tmp_path / "out"), "--label-names", str(tmp_path / "names.json"),
                 "--patient-id", "bad", "--height", "175", "--sex", "X", "--age", "70"])
    assert code == 0
    err = capsys.readouterr().err
    assert "height: 175 is above 3 m: height must be in metres" in err
    assert "sex: 'X' is not a recognised code; use M (male) or F (female)" in err
    assert "weight: not given" in err
    record = json.loads((tmp_path / "out" / "bad.json").read_text(encoding="utf-8"))
    assert record["values"]["csa_total_mm2"]["value"] == pytest.approx(truth["total_mm2"])
    assert record["values"]["smi_cm2_m2"]["value"] is None
    assert "height" in record["not_available"]["smi_cm2_m2"] and "175" in record["not_available"]["smi_cm2_m2"]
    assert record["sarcopenia"]["prado_smi"]["status"] == "not_applicable"
    assert "height" in record["sarcopenia"]["prado_smi"]["reason"]
    assert record["sarcopenia"]["yoo_psoas_density"]["status"] == "not_applicable"  # measured, but sex refused
    assert "sex" in record["sarcopenia"]["yoo_psoas_density"]["reason"]
    assert set(record["patient"]["problems"]) == {"height", "sex"}
    assert record["patient"]["age_y"] == 70
    code = main(["--progress", "none", "quantify", str(tmp_path / "ct.nii.gz"), str(tmp_path / "labels.nii.gz"),
                 "--out", str(tmp_path / "strict"), "--height", "175", "--strict-patient"])
    assert code == 2 and not (tmp_path / "strict").exists()


def test_patient_field_validation():
    with pytest.raises(UnitError, match="height: 175 is above 3 m"):
        make_patient(height=175, strict=True)
    with pytest.raises(UnitError, match="weight: 70000 is outside"):
        make_patient(weight=70000, strict=True)
    with pytest.raises(InputError, match="age: 'old' is not a number"):
        make_patient(age="old", strict=True)
    patient = make_patient(age=50, sex="f", height="1.62", weight=55)
    assert (patient.sex, patient.height_m, patient.bmi) == ("F", 1.62, pytest.approx(55 / 1.62**2))
    assert make_patient(height=3.0).height_m == 3.0 and "height" in make_patient(height=3.01).problems


def test_c3_case_gets_swartz_l3_smi(case_files):
    tmp_path, truth = case_files
    (tmp_path / "names.json").write_text(json.dumps({"1": "paravertebral_muscles", "2": "sternocleidomastoid"}), encoding="utf-8")
    assert run(tmp_path, "--preset", "c3", "--patient-id", "c3", "--sex", "F", "--age", "50", "--weight", "60",
               "--height", "1.6", "--no-qa") == 0
    values = json.loads((tmp_path / "out" / "c3.json").read_text(encoding="utf-8"))["values"]
    l3 = 27.304 + 1.363 * truth["total_mm2"] / 100 - 0.671 * 50 + 0.640 * 60 + 26.442 * 1
    assert values["l3_csa_from_c3_cm2"]["value"] == pytest.approx(l3)
    assert values["l3_smi_from_c3_cm2_m2"]["value"] == pytest.approx(l3 / 1.6**2)
    assert values["sarcopenia_prado_smi"]["value"] == "not_applicable"
    assert values["sarcopenia_wendrich_smi_from_c3"]["value"] == "sarcopenic"  # 23.2 <= 43.2


HAVE_PHANTOMS = importlib.util.find_spec("MuscleQuantLib.phantoms.abdomen_ct") is not None


@pytest.mark.skipif(not HAVE_PHANTOMS, reason="phantom generators not available")
@pytest.mark.parametrize("anatomy, orientation", [("l3", "RAS"), ("l3", "feet_first"), ("temporalis", "oblique")])
def test_phantom_case_matches_numpy_and_generator_truth(tmp_path, anatomy, orientation):
    from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case, write_case

    case = generate_case(anatomy, 3, 0, PhantomOptions(in_view=True, orientation=orientation, resolution="low"))
    files = write_case(case, tmp_path)
    out = tmp_path / "out"
    assert main(["--progress", "none", "quantify", str(tmp_path / files["image"]), str(tmp_path / files["labels"]),
                 "--out", str(out), "--preset", anatomy, "--metadata", str(tmp_path / files["metadata"])]) == 0
    record = json.loads((out / f"{case.case_id}.json").read_text(encoding="utf-8"))
    k = record["slice"]["index"]
    assert record["slice"]["rule"].startswith("metadata")
    hu = sitk.GetArrayFromImage(case.image).astype(float)[k]
    lab = sitk.GetArrayFromImage(case.labels)[k]
    pixel = np.prod(case.image.GetSpacing()[:2])
    truth = case.metadata["truth"]
    if anatomy == "l3":
        muscle = (lab > 0) & (hu >= -29) & (hu <= 150)
        assert record["values"]["csa_total_mm2"]["value"] == pytest.approx(muscle.sum() * pixel)
        assert record["values"]["muscle_hu_mean"]["value"] == pytest.approx(hu[muscle].mean())
        canonical = truth["l3_center_slice_canonical"]
        nz = case.image.GetSize()[2]
        truth_slice = nz - 1 - canonical if orientation == "feet_first" else canonical
        names = {int(v): n for v, n in case.metadata["label_names"].items()}
        at_truth = quantify_images(case.image, case.labels, QuantifyOptions(preset="l3", slice_index=truth_slice,
                                                                            label_names=names), make_patient())
        for name, area in truth["csa_mm2"].items():  # the generator's clean outline areas
            assert at_truth.record["labels"][name]["slice"]["outline_mm2"] == pytest.approx(area)
    else:
        assert record["values"]["csa_total_mm2"]["value"] == pytest.approx((lab > 0).sum() * pixel)
        tmt = truth["tmt_orbital_roof_mm"]
        for side in ("left", "right"):  # the generator uses 2*max(EDT)-pixel: within one pixel of ours
            assert record["values"][f"tmt_{side}_mm"]["value"] == pytest.approx(tmt[side], abs=pixel ** 0.5 + 0.01)
