"""A measurement of labels a starter model drew says so (issue 16 item 4): the quantify JSON and the CSV row
carry the starter notice — from the segmentation summary beside the label map, a starter model card, or an
engine summary passed as metadata — so a synthetic-data draft is never read as a clinical measurement."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import SimpleITK as sitk
from quantify_synthetic import canonical_case, stored

from MuscleQuantLib.cli import main
from MuscleQuantLib.models.starter import STARTER_NOTICE, starter_for
from MuscleQuantLib.quantify import QuantifyOptions, make_patient, quantify_images
from MuscleQuantLib.quantify.report import column_info

NAMES = {"1": "psoas_major", "2": "erector_spinae_left"}


@pytest.fixture()
def case(tmp_path):
    image, labels, _ = canonical_case()
    img, lab = stored([image, labels], "RAS")
    sitk.WriteImage(img, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(lab, str(tmp_path / "ct_labels.nii.gz"))  # named as segment names its output
    (tmp_path / "names.json").write_text(json.dumps(NAMES), encoding="utf-8")
    return tmp_path


def _summary(folder, **extra) -> None:
    summary = {"preset": "l3", "labels": [{"value": int(k), "name": v} for k, v in NAMES.items()], **extra}
    (folder / "ct_segmentation.json").write_text(json.dumps(summary), encoding="utf-8")


def _quantify(folder, *extra: str) -> tuple[dict, pd.DataFrame]:
    code = main(["--progress", "none", "quantify", str(folder / "ct.nii.gz"), str(folder / "ct_labels.nii.gz"),
                 "--out", str(folder / "out"), "--patient-id", "p1", "--no-qa", *extra])
    assert code == 0
    record = json.loads((folder / "out" / "p1.json").read_text(encoding="utf-8"))
    return record, pd.read_csv(folder / "out" / "measurements.csv", keep_default_na=False)


@pytest.mark.parametrize("names", ["from the summary", "--label-names"])
def test_starter_summary_puts_the_notice_in_the_json_and_the_csv_row(case, names):
    _summary(case, notice=STARTER_NOTICE)
    record, table = _quantify(case, *(["--label-names", str(case / "names.json")] if names != "from the summary" else []))
    assert record["notice"] == STARTER_NOTICE and record["model"]["notice"] == STARTER_NOTICE
    assert record["values"]["model_notice"]["value"] == STARTER_NOTICE
    assert table.loc[0, "model_notice"] == STARTER_NOTICE
    assert column_info("model_notice") is not None  # documented in columns.json


def test_other_models_leave_the_notice_empty(case):
    _summary(case)
    record, table = _quantify(case)
    assert "notice" not in record and "notice" not in record["model"]
    assert table.loc[0, "model_notice"] == ""


def test_starter_model_card_gives_the_notice(case):
    _summary(case)
    card = {"model_id": "l3-starter", "card_sha256": "ab" * 32, "training": {"starter": True}}
    (case / "card.json").write_text(json.dumps(card), encoding="utf-8")
    record, table = _quantify(case, "--model-card", str(case / "card.json"))
    assert record["notice"] == STARTER_NOTICE and table.loc[0, "model_notice"] == STARTER_NOTICE


def test_python_api_takes_the_notice_from_an_engine_summary_as_metadata():
    image, labels, truth = canonical_case()
    img, lab = stored([image, labels], "LPS")
    metadata = {"notice": STARTER_NOTICE}
    result = quantify_images(img, lab, QuantifyOptions(slice_index=truth["slice"], metadata=metadata,
                                                       label_names={1: "psoas_major"}), make_patient())
    assert result.row["model_notice"] == STARTER_NOTICE and result.record["notice"] == STARTER_NOTICE
    plain = quantify_images(img, lab, QuantifyOptions(slice_index=truth["slice"], label_names={1: "psoas_major"}),
                            make_patient())
    assert plain.row["model_notice"] is None and "notice" not in plain.record


def test_segment_with_the_shipped_starter_then_quantify_carries_the_notice(shared_data, tmp_path, monkeypatch):
    """End to end on the real CT (validation use only): the shipped L3 starter labels a slice, quantify measures it."""
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    model = starter_for("l3")
    assert model is not None
    assert main(["--progress", "none", "segment", str(shared_data / "example_ct_sm.nii.gz"), "--model", str(model),
                 "--slice", "5", "--out", str(tmp_path / "seg"), "--device", "cpu"]) == 0
    assert main(["--progress", "none", "quantify", str(shared_data / "example_ct_sm.nii.gz"),
                 str(tmp_path / "seg" / "example_ct_sm_labels.nii.gz"), "--out", str(tmp_path / "q"), "--slice", "5",
                 "--patient-id", "real", "--no-qa"]) == 0
    record = json.loads((tmp_path / "q" / "real.json").read_text(encoding="utf-8"))
    table = pd.read_csv(tmp_path / "q" / "measurements.csv", keep_default_na=False)
    assert record["notice"] == STARTER_NOTICE and table.loc[0, "model_notice"] == STARTER_NOTICE
