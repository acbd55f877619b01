"""Hostile-input suite (issue 17): bad files, fields and options for every engine command and the case
store. Each case must end in exit 2 with one line naming the file or field and the reason, and leave
no output behind (the case's output folder stays empty or absent)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from hostile_helpers import dicom_series, l3_arrays, listing, one_line_error, untrained_model, write_image


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Every input the cases need, built once (tiny files: the suite runs in seconds)."""
    d = tmp_path_factory.mktemp("hostile")
    image, labels = l3_arrays()
    w = {"d": d, "img": write_image(d / "ct.nii.gz", image), "lab": write_image(d / "labels.nii.gz", labels)}
    w["model"] = untrained_model(d / "model")
    w["empty"] = d / "empty.nii.gz"
    w["empty"].write_bytes(b"")
    w["text"] = d / "text.nii.gz"
    w["text"].write_text("patient_id,age\n1,2\n", encoding="utf-8")
    whole = w["img"].read_bytes()
    w["trunc"] = d / "trunc.nii.gz"
    w["trunc"].write_bytes(gzip.compress(gzip.decompress(whole)[:2000]))
    w["junk"] = d / "junk.nii"
    w["junk"].write_bytes(np.random.default_rng(0).integers(0, 255, 4000, dtype=np.uint8).tobytes())
    rgb = sitk.Compose(*(sitk.GetImageFromArray(image.astype(np.uint8)) for _ in range(3)))
    sitk.WriteImage(rgb, str(d / "rgb.nrrd"))
    w["rgb"] = d / "rgb.nrrd"
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(image)] * 3), str(d / "vol4d.nii.gz"))
    w["vol4d"] = d / "vol4d.nii.gz"
    w["flat"] = write_image(d / "flat.nii.gz", image[1])
    w["nodicom"] = d / "nodicom"
    w["nodicom"].mkdir()
    (w["nodicom"] / "readme.txt").write_text("no images here", encoding="utf-8")
    two = d / "twoseries"
    dicom_series(two, [0, 5, 10])
    dicom_series(two / "b", [0, 5, 10])
    for f in (two / "b").iterdir():
        f.rename(two / f"b_{f.name}")
    w["twoseries"] = two
    w["mha_zero"] = d / "zero.mha"
    w["mha_zero"].write_text("ObjectType = Image\nNDims = 3\nDimSize = 4 4 3\nElementSpacing = 0 1 1\n"
                             "ElementType = MET_SHORT\nElementDataFile = LOCAL\n", encoding="utf-8")
    with open(w["mha_zero"], "ab") as f:
        f.write(b"\0" * 96)
    w["mha_nan_origin"] = d / "nanorigin.mha"
    w["mha_nan_origin"].write_text("ObjectType = Image\nNDims = 3\nDimSize = 4 4 3\nOffset = nan 0 0\n"
                                   "ElementSpacing = 1 1 1\nElementType = MET_SHORT\nElementDataFile = LOCAL\n", encoding="utf-8")
    with open(w["mha_nan_origin"], "ab") as f:
        f.write(b"\0" * 96)
    w["lab_grid"] = write_image(d / "lab_grid.nii.gz", labels, spacing=(2.5, 2.0, 5.0))
    w["lab_float"] = write_image(d / "lab_float.nii.gz", labels.astype(np.float32) * 0.5)
    w["lab_neg"] = write_image(d / "lab_neg.nii.gz", np.where(labels > 0, -3, 0).astype(np.int16))
    w["lab_zero"] = write_image(d / "lab_zero.nii.gz", np.zeros_like(labels))
    w["windowed"] = write_image(d / "windowed.nii.gz", np.clip((image + 160) / 400 * 255, 0, 255).astype(np.uint8))
    w["garbage_json"] = d / "garbage.json"
    w["garbage_json"].write_text("{not json", encoding="utf-8")
    w["array_json"] = d / "array.json"
    w["array_json"].write_text("[1, 2]", encoding="utf-8")
    w["names_bad"] = d / "names_bad.json"
    w["names_bad"].write_text(json.dumps({"psoas": "psoas_major"}), encoding="utf-8")
    w["card_noid"] = d / "card.json"
    w["card_noid"].write_text(json.dumps({"weights": {"sha256": "00"}}), encoding="utf-8")
    w["map_bad"] = d / "map_bad.json"
    w["map_bad"].write_text(json.dumps({"map": {"88": "gluteus_maximus"}}), encoding="utf-8")
    w["map_empty"] = d / "map_empty.json"
    w["map_empty"].write_text(json.dumps({"source": "x"}), encoding="utf-8")
    w["meta_names"] = d / "meta_names.json"
    w["meta_names"].write_text(json.dumps({"label_names": ["psoas"]}), encoding="utf-8")
    w["meta_slice"] = d / "meta_slice.json"
    w["meta_slice"].write_text(json.dumps({"target_level": "L3", "levels": {"L3": {"center_slice": "middle"}}}), encoding="utf-8")
    w["file"] = d / "a_file"
    w["file"].write_text("x", encoding="utf-8")
    w["pt"] = d / "weights.pt"
    w["pt"].write_bytes(b"\x80\x04pickle")
    w["nomodel"] = d / "nomodel"
    w["nomodel"].mkdir()
    nolabels = d / "nolabels"
    nolabels.mkdir()
    write_image(nolabels / "c0_image.nii.gz", image)
    w["nolabels"] = nolabels
    nantrain = d / "nantrain"
    nantrain.mkdir()
    for n in range(2):
        write_image(nantrain / f"c{n}_image.nii.gz", np.full(image.shape, np.nan, np.float32))
        write_image(nantrain / f"c{n}_labels.nii.gz", labels)
    w["nantrain"] = nantrain
    nometa = d / "nometa"
    nometa.mkdir()
    write_image(nometa / "c0_image.nii.gz", image)
    (nometa / "dataset.json").write_text(json.dumps({"cases": [{"case_id": "c0", "image": "c0_image.nii.gz",
                                                                "labels": "c0_image.nii.gz", "metadata": "c0.json"}]}), encoding="utf-8")
    w["nometa"] = nometa
    busy = d / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("someone else's work", encoding="utf-8")
    w["busy"] = busy
    phantom_done = d / "phantom_done"
    phantom_done.mkdir()
    (phantom_done / "dataset.json").write_text("{}", encoding="utf-8")
    w["phantom_done"] = phantom_done
    seg = sitk.GetImageFromArray(labels)
    seg.SetSpacing((3.0, 2.0, 5.0))
    seg.SetMetaData("Segment0_Name", "psoas_major")
    seg.SetMetaData("Segment0_LabelValue", "3")
    sitk.WriteImage(seg, str(d / "grid.seg.nrrd"))
    w["seg_grid"] = d / "grid.seg.nrrd"
    plain = sitk.GetImageFromArray(labels)
    plain.SetSpacing((2.0, 2.0, 5.0))
    sitk.WriteImage(plain, str(d / "plain.seg.nrrd"))
    w["seg_plain"] = d / "plain.seg.nrrd"
    w["mr"] = write_image(d / "mr.nii.gz", (image + 1000).astype(np.int16))
    w["nan_ct"] = write_image(d / "nan_ct.nii.gz", np.full(image.shape, np.nan, np.float32))
    w["existing_out"] = d / "existing.nii.gz"
    w["existing_out"].write_bytes(b"previous")
    w["pairs_garbage"] = d / "pairs.csv"
    w["pairs_garbage"].write_text("a,b\n1,2\n", encoding="utf-8")
    return w


def store_case(action: str):
    """A case-store action that must be refused (the case store has no command: InputError is its exit 2)."""
    def run(w: dict[str, Path], out: Path) -> None:
        from MuscleQuantLib.slicer_bridge.casestore import Approval, CaseStore

        labels = l3_arrays()[1]
        write = lambda path: sitk.WriteImage(sitk.GetImageFromArray(labels), str(path))  # noqa: E731
        store = CaseStore(out)
        if action == "no_approver":
            store.approve(Approval("c1", "   ", write, labels, None, {3: "psoas_major"}, None, {}))
        elif action == "no_file":
            store.approve(Approval("c1", "Dr A", lambda path: None, labels, None, {3: "psoas_major"}, None, {}))
        elif action == "empty_id":
            store.approve(Approval("***", "Dr A", write, labels, None, {3: "psoas_major"}, None, {}))
        elif action == "export_empty":
            store.export_measurements(out / "all.csv")
        elif action == "path_id":
            store.approve(Approval("../../c1", "Dr A", write, labels, None, {3: "psoas_major"}, None, {}))
    return run


# (case id, command line with {placeholders} or a case-store action, words the one-line message must hold)
CASES = [
    # phantom
    ("phantom-n-zero", "phantom --anatomy l3 --n 0 --out {out}", ["--n"]),
    ("phantom-n-negative", "phantom --anatomy l3 --n -3 --out {out}", ["--n"]),
    ("phantom-cohort-zero", "phantom --anatomy l3 --cohort 0 --out {out}", ["--cohort"]),
    ("phantom-texture-small", "phantom --texture-cohort 5 --out {out}", ["--texture-cohort"]),
    ("phantom-texture-hr-nan", "phantom --texture-cohort 30 --texture-hr nan --out {out}", ["--texture-hr"]),
    ("phantom-no-anatomy", "phantom --out {out}", ["--anatomy"]),
    ("phantom-no-images-alone", "phantom --anatomy l3 --no-images --out {out}", ["--no-images"]),
    ("phantom-out-is-file", "phantom --anatomy l3 --out {file}", ["a_file", "not a folder"]),
    ("phantom-seed-negative", "phantom --anatomy c3 --seed -7 --out {out}", ["--seed"]),
    ("phantom-existing-dataset", "phantom --anatomy l3 --out {phantom_done}", ["phantom_done", "already holds"]),
    # info
    ("info-missing", "info {d}/nothing.nii.gz", ["nothing.nii.gz", "not found"]),
    ("info-empty-file", "info {empty}", ["empty.nii.gz", "empty file"]),
    ("info-text-as-nifti", "info {text}", ["text.nii.gz"]),
    ("info-truncated", "info {trunc}", ["trunc.nii.gz", "truncated"]),
    ("info-random-bytes", "info {junk}", ["junk.nii", "not a readable image"]),
    ("info-rgb", "info {rgb}", ["rgb.nrrd", "components"]),
    ("info-4d", "info {vol4d}", ["vol4d.nii.gz", "4D image"]),
    ("info-no-dicom", "info {nodicom}", ["nodicom", "no DICOM series"]),
    ("info-two-series", "info {twoseries}", ["twoseries", "--series-uid"]),
    ("info-wrong-series", "info {twoseries} --series-uid 1.2.3", ["twoseries", "1.2.3"]),
    ("info-spacing-zero", "info {mha_zero}", ["zero.mha", "spacing"]),
    ("info-origin-nan", "info {mha_nan_origin}", ["nanorigin.mha", "origin"]),
    # convert
    ("convert-bad-suffix", "convert {img} {out}/x.png", ["x.png", "unsupported output format"]),
    ("convert-exists", "convert {img} {existing_out}", ["existing.nii.gz", "already exists"]),
    ("convert-parent-is-file", "convert {img} {file}/x.nii.gz", ["a_file", "not a folder"]),
    ("convert-2d", "convert {flat} {out}/x.nii.gz", ["flat.nii.gz", "2D image"]),
    ("convert-truncated", "convert {trunc} {out}/x.nii.gz", ["trunc.nii.gz", "truncated"]),
    # quantify
    ("quantify-grid", "quantify {img} {lab_grid} --out {out}", ["lab_grid.nii.gz", "not on the image grid"]),
    ("quantify-float-labels", "quantify {img} {lab_float} --out {out}", ["lab_float.nii.gz", "non-integer"]),
    ("quantify-negative-labels", "quantify {img} {lab_neg} --out {out}", ["labels", "non-negative"]),
    ("quantify-no-muscle", "quantify {img} {lab_zero} --out {out}", ["labels", "no muscle"]),
    ("quantify-slice-high", "quantify {img} {lab} --out {out} --slice 99", ["--slice", "outside"]),
    ("quantify-slice-negative", "quantify {img} {lab} --out {out} --slice -1", ["--slice", "outside"]),
    ("quantify-hu-words", "quantify {img} {lab} --out {out} --hu-range abc", ["--hu-range"]),
    ("quantify-hu-empty", "quantify {img} {lab} --out {out} --hu-range 100,10", ["--hu-range", "empty"]),
    ("quantify-height-cm", "quantify {img} {lab} --out {out} --height 175 --strict-patient", ["height"]),
    ("quantify-names-inline", "quantify {img} {lab} --out {out} --label-names 1=a,b", ["--label-names"]),
    ("quantify-names-keys", "quantify {img} {lab} --out {out} --label-names {names_bad}", ["--label-names",
                                                                                          "integers"]),
    ("quantify-meta-garbage", "quantify {img} {lab} --out {out} --metadata {garbage_json}", ["garbage.json",
                                                                                            "metadata"]),
    ("quantify-meta-array", "quantify {img} {lab} --out {out} --metadata {array_json}", ["array.json", "object"]),
    ("quantify-meta-names", "quantify {img} {lab} --out {out} --metadata {meta_names}", ["label_names"]),
    ("quantify-meta-slice", "quantify {img} {lab} --out {out} --metadata {meta_slice}", ["metadata",
                                                                                        "not a number"]),
    ("quantify-card-noid", "quantify {img} {lab} --out {out} --model-card {card_noid}", ["card.json", "id"]),
    ("quantify-out-file", "quantify {img} {lab} --out {file}", ["a_file", "not a folder"]),
    ("quantify-map-unknown", "quantify {img} {lab} --out {out} --label-map-from nosuchtool", ["--label-map-from"]),
    ("quantify-map-target", "quantify {img} {lab} --out {out} --label-map-from {map_bad}", ["--label-map-from",
                                                                                           "gluteus_maximus"]),
    ("quantify-map-empty", "quantify {img} {lab} --out {out} --label-map-from {map_empty}", ["map_empty.json",
                                                                                            "map"]),
    ("quantify-map-preset", "quantify {img} {lab} --out {out} --preset c3 --label-map-from totalsegmentator",
     ["--label-map-from", "c3"]),
    ("quantify-hidden-id", "quantify {img} {lab} --out {out} --patient-id .hidden", ["--patient-id"]),
    ("quantify-tmt-slice", "quantify {mr} {lab} --out {out} --preset temporalis --tmt-slice 50 --slice 1 "
     "--label-names 3=temporalis_left,5=temporalis_right", ["--tmt-slice"]),
    ("quantify-seg-grid", "quantify {img} {seg_grid} --out {out}", ["grid.seg.nrrd", "spacing"]),
    ("quantify-seg-plain", "quantify {img} {seg_plain} --out {out}", ["plain.seg.nrrd", "Segment"]),
    ("quantify-windowed", "quantify {windowed} {lab} --out {out}", ["windowed.nii.gz", "Hounsfield"]),
    ("quantify-midline-inf", "quantify {img} {lab} --out {out} --midline-mm inf", ["--midline-mm"]),
    # segment
    ("segment-no-model", "segment {img} --model {d}/missing --out {out} --slice 1", ["missing", "not found"]),
    ("segment-empty-model", "segment {img} --model {nomodel} --out {out} --slice 1", ["nomodel", "model.json"]),
    ("segment-pickle", "segment {img} --model {pt} --out {out} --slice 1", ["weights.pt"]),
    ("segment-preset", "segment {img} --model {model} --out {out} --slice 1 --preset c3", ["--preset", "c3"]),
    ("segment-slice-high", "segment {img} --model {model} --out {out} --slice 99", ["--slice", "outside"]),
    ("segment-slice-negative", "segment {img} --model {model} --out {out} --slice -2", ["--slice", "negative"]),
    ("segment-windowed", "segment {windowed} --model {model} --out {out} --slice 1", ["windowed.nii.gz",
                                                                                      "Hounsfield"]),
    ("segment-device", "segment {img} --model {model} --out {out} --slice 1 --device gpu0", ["--device"]),
    ("segment-truncated", "segment {trunc} --model {model} --out {out} --slice 1", ["trunc.nii.gz", "truncated"]),
    ("segment-protocol", "segment {img} --model {model} --out {out} --slice 1 --protocol mid_orbit",
     ["--protocol", "mid_orbit"]),
    # train
    ("train-folds-zero", "train --preset l3 --data {d} --out {out} --folds 0", ["--folds"]),
    ("train-val-fraction", "train --preset l3 --data {d} --out {out} --val-fraction 1.5", ["--val-fraction"]),
    ("train-minutes-zero", "train --preset l3 --data {d} --out {out} --max-minutes 0", ["--max-minutes"]),
    ("train-minutes-nan", "train --preset l3 --data {d} --out {out} --max-minutes nan", ["--max-minutes"]),
    ("train-epochs-zero", "train --preset l3 --data {d} --out {out} --max-epochs 0", ["--max-epochs"]),
    ("train-seed", "train --preset l3 --data {d} --out {out} --seed -5", ["--seed"]),
    ("train-profile", "train --preset l3 --data {d} --out {out} --profile huge", ["--profile"]),
    ("train-data-missing", "train --preset l3 --data {d}/none --out {out}", ["none", "not found"]),
    ("train-no-labels", "train --preset l3 --data {nolabels} --out {out}", ["c0_image.nii.gz", "no label file"]),
    ("train-no-metadata", "train --preset l3 --data {nometa} --out {out}", ["c0.json", "not found"]),
    ("train-out-busy", "train --preset l3 --data {nolabels} --out {busy}", ["busy", "not empty"]),
    ("train-nan-images", "train --preset l3 --data {nantrain} --out {out} --profile tiny --device cpu",
     ["c0_image.nii.gz", "NaN"]),
    ("train-out-file", "train --preset l3 --data {d} --out {file}", ["a_file", "not a folder"]),
    # evaluate
    ("evaluate-grid", "evaluate {lab} {lab_grid} --out {out}", ["labels.nii.gz", "not on the image grid"]),
    ("evaluate-missing", "evaluate {d}/none.nii.gz {lab} --out {out}", ["none.nii.gz", "not found"]),
    ("evaluate-float", "evaluate {lab_float} {lab} --out {out}", ["lab_float.nii.gz"]),
    ("evaluate-pairs", "evaluate --pairs {pairs_garbage} --out {out}", ["pairs.csv"]),
    # find-level / evaluate-levels
    ("find-level-preset", "find-level {img} --preset thigh", ["thigh", "no level finder"]),
    ("find-level-protocol", "find-level {img} --preset l3 --protocol foo", ["--protocol", "foo"]),
    ("find-level-model", "find-level {img} --preset l3 --level-model {d}/none", ["--level-model", "not found"]),
    ("evaluate-levels-data", "evaluate-levels --data {d}/none --preset l3", ["none", "not found"]),
    ("evaluate-levels-dataset", "evaluate-levels --data {nometa} --preset l3 --out {out}/r.json",
     ["c0.json", "not found"]),
    # radiomics
    ("radiomics-no-muscle", "radiomics {img} {lab_zero} --out {out}/f.csv", ["lab_zero.nii.gz"]),
    ("radiomics-not-csv", "radiomics {img} {lab} --out {out}/f.txt", ["f.txt"]),
    ("radiomics-all-nan", "radiomics {nan_ct} {lab} --out {out}/f.csv --features fast", ["nan_ct.nii.gz", "NaN"]),
    ("radiomics-features", "radiomics {img} {lab} --out {out}/f.csv --features nope", ["--features"]),
    # models
    ("models-import-empty", "models import {nomodel}", ["nomodel", "model.json"]),
    ("models-import-pickle", "models import {pt}", ["weights.pt"]),
    ("models-verify-unknown", "models verify no-such-model@9.9", ["no-such-model"]),
    ("models-no-action", "models", ["models", "action"]),
    # demo
    ("demo-out-file", "demo --out {file}", ["a_file"]),
    ("demo-presets", "demo --out {out} --presets knee", ["knee"]),
    # case store (Slicer bridge)
    ("store-no-approver", store_case("no_approver"), ["approver"]),
    ("store-no-file", store_case("no_file"), ["segmentation file was not written"]),
    ("store-empty-id", store_case("empty_id"), ["case id", "empty"]),
    ("store-export-empty", store_case("export_empty"), ["no approved measurements"]),
    ("store-path-id", store_case("path_id"), ["case id", "is a path"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_refused_in_one_line_with_no_output(case, world, run_cli, tmp_path, monkeypatch):
    name, command, needles = case
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))  # models: an empty per-test cache
    out = tmp_path / "out"
    before = {k: listing(v) if v.is_dir() else v.read_bytes() for k, v in world.items()
              if k in ("busy", "phantom_done", "existing_out", "file")}
    if callable(command):
        from MuscleQuantLib.errors import MuscleQuantError

        try:
            command(world, out)
            code, err = 0, ""
        except MuscleQuantError as exc:
            code, err = 2, f"casestore: error: {exc}\n"
    else:
        argv = [part.format(out=out, **{k: str(v) for k, v in world.items()}) for part in command.split()]
        code, _, err = run_cli("--progress", "none", *argv)
    one_line_error(code, err, *needles)
    leftover = [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".lock")] if out.exists() else []
    assert leftover == [], leftover
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").rglob("*.json"))
    after = {k: listing(v) if v.is_dir() else v.read_bytes() for k, v in world.items()
             if k in ("busy", "phantom_done", "existing_out", "file")}
    assert after == before


def test_the_suite_covers_every_engine_command_and_the_case_store():
    commands = {c[1].split()[0] for c in CASES if isinstance(c[1], str)}
    assert commands >= {"phantom", "info", "convert", "train", "segment", "evaluate", "find-level",
                        "evaluate-levels", "quantify", "radiomics", "models", "demo"}
    assert sum(callable(c[1]) for c in CASES) >= 4
    assert len(CASES) >= 60 + 25  # 60 of our own design beyond the named cases
