"""Fault injection for writes (issue 17): kill -9 at every write step of segment, quantify, train and a
case-store approval, a full disk and a read-only folder; the previous result must survive whole.

Each kill series runs ``fault_driver.py`` in a fresh process: it runs the command once and copies the
output folder just before every write step — what a kill -9 at that step leaves (see the driver). A kill before the commit point
must leave the previous result byte-for-byte (same files, same sizes) even before any recovery; a
kill after it leaves the new result, completed by the recovery every later command runs first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile_helpers import (
    l3_case,
    listing,
    one_line_error,
    read_only_copy,
    tmpfs,
    untrained_model,
    write_image,
)

DRIVER = Path(__file__).with_name("fault_driver.py")
HIDDEN_WORK = (".mqstage", ".mqold", ".musclequant-commit-", ".approval-")


def visible(files: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in files.items() if not any(part.startswith(".") for part in Path(k).parts)}


def spec_for(mode: str, tmp_path: Path) -> dict:
    image, labels = l3_case(tmp_path / "in")
    if mode == "quantify":
        watch = tmp_path / "out"
        base = ["--progress", "none", "quantify", str(image), str(labels), "--out", str(watch), "--patient-id", "p1"]
        return {"mode": mode, "watch": str(watch), "previous": [*base, "--slice", "1"], "new": [*base, "--slice", "0"]}
    if mode == "segment":
        model = untrained_model(tmp_path / "model")
        watch = tmp_path / "seg"
        base = ["--progress", "none", "segment", str(image), "--model", str(model), "--out", str(watch),
                "--device", "cpu"]
        return {"mode": mode, "watch": str(watch), "previous": [*base, "--slice", "1"],
                "new": [*base, "--slice", "0", "--overwrite"]}
    if mode == "train":
        l3_case(tmp_path / "data", "c0")
        l3_case(tmp_path / "data", "c1")
        watch = tmp_path / "run"
        base = ["--progress", "none", "train", "--preset", "l3", "--data", str(tmp_path / "data"), "--out",
                str(watch), "--profile", "tiny", "--device", "cpu"]
        return {"mode": mode, "watch": str(watch), "previous": [*base, "--seed", "0"],
                "new": [*base, "--seed", "1", "--overwrite"]}
    store = tmp_path / "store"
    return {"mode": mode, "watch": str(store), "previous": [str(store), str(labels), "first"],
            "new": [str(store), str(labels), "second"]}


@pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(sys, "addaudithook"), reason="needs fork and audit hooks")
@pytest.mark.parametrize("mode", ["quantify", "segment", "train", "approve"])
def test_a_kill_at_every_write_step_leaves_the_previous_or_the_new_result_whole(tmp_path, mode):
    spec = spec_for(mode, tmp_path)
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run([sys.executable, str(DRIVER), str(tmp_path / "spec.json"), str(tmp_path / "report.json")],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    old, new = report["previous_check"], report["completed"]["check"]
    assert report["completed"]["exit"] == 0 and old["consistent"] and new["consistent"]
    assert old["which"] != new["which"]
    assert len(report["kills"]) == report["completed"]["steps"] >= 8
    committed = False
    for kill in report["kills"]:
        check = kill["check"]
        assert check.get("consistent"), (kill["kill_at"], check)
        assert check["which"] in (old["which"], new["which"]), kill["kill_at"]
        if check["which"] == new["which"]:
            committed = True  # past the commit point: the new result, never the old again
            assert sorted(visible(kill["recovered"])) == sorted(visible(report["completed"]["files"])) \
                or mode == "approve"
        else:
            assert not committed, f"kill {kill['kill_at']} went back to the old result"
            # before the commit point the previous result is untouched even before any recovery
            assert visible(kill["left"]) == visible(report["previous"]), kill["kill_at"]
        if mode == "approve":  # the approved v001 never changes; a v002 is complete or absent
            assert {k: v for k, v in kill["recovered"].items() if k.startswith("c1/v001/")} == \
                {k: v for k, v in report["previous"].items() if k.startswith("c1/v001/")}
        else:  # recovery leaves no staged, aside or journal file behind
            assert not [k for k in kill["recovered"] if any(h in k for h in HIDDEN_WORK)], kill["kill_at"]
    assert committed or mode == "approve"


# --- full disk and read-only folders (real file systems: a tiny tmpfs, root only) ---------------------------

def fill(folder: Path) -> None:
    """Write into ``folder`` until its file system is full."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (65536, 4096, 1):
            try:
                while os.write(fd, b"\0" * chunk):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)


def test_quantify_into_a_full_disk_keeps_the_previous_results(tmp_path, run_cli):
    image, labels = l3_case(tmp_path / "in")
    with tmpfs(tmp_path / "full", size="1m") as full:
        out = full / "out"
        code, _, err = run_cli("--progress", "none", "quantify", image, labels, "--out", out, "--patient-id", "p1",
                               "--slice", "1")
        assert code == 0, err
        before = listing(out)
        fill(full)
        code, _, err = run_cli("--progress", "none", "quantify", image, labels, "--out", out, "--patient-id", "p1",
                               "--slice", "0")
        one_line_error(code, err, "No space left")
        assert listing(out) == before


def test_segment_into_a_full_disk_writes_nothing_and_keeps_the_previous_pair(tmp_path, run_cli):
    image, _ = l3_case(tmp_path / "in")
    model = untrained_model(tmp_path / "model")
    big = np.random.default_rng(1).integers(-1000, 200, (3, 160, 160)).astype(np.int16)
    big[:, :4] = -1000
    write_image(tmp_path / "in" / "big.nii.gz", big)
    with tmpfs(tmp_path / "full", size="1m") as full:
        seg = full / "seg"
        code, _, err = run_cli("--progress", "none", "segment", tmp_path / "in" / "big.nii.gz", "--model", model,
                               "--out", seg, "--slice", "1", "--device", "cpu")
        assert code == 0, err
        before = listing(seg)
        fill(full)
        code, _, err = run_cli("--progress", "none", "segment", tmp_path / "in" / "big.nii.gz", "--model", model,
                               "--out", seg, "--slice", "2", "--device", "cpu", "--overwrite")
        one_line_error(code, err, "big_labels.nii.gz", "disk full")
        assert listing(seg) == before


@pytest.mark.parametrize("command", ["quantify", "segment", "train", "phantom", "convert", "evaluate", "evaluate-levels",
                                     "radiomics", "demo"])
def test_every_engine_command_refuses_a_read_only_output_in_one_line(tmp_path, run_cli, command):
    image, labels = l3_case(tmp_path / "in")
    with read_only_copy(tmp_path / "ro") as ro:
        out = ro / "out"
        args = {
            "quantify": ["quantify", image, labels, "--out", out],
            "segment": ["segment", image, "--model", tmp_path, "--out", out, "--slice", "1"],
            "train": ["train", "--preset", "l3", "--data", tmp_path / "in", "--out", out, "--profile", "tiny"],
            "phantom": ["phantom", "--anatomy", "l3", "--n", "1", "--out", out],
            "convert": ["convert", image, out / "x.nii.gz"],
            "evaluate": ["evaluate", labels, labels, "--out", out],
            "evaluate-levels": ["evaluate-levels", "--data", tmp_path / "in", "--preset", "l3", "--out",
                                out / "levels.json"],
            "radiomics": ["radiomics", image, labels, "--out", out / "f.csv"],
            "demo": ["demo", "--out", out],
        }[command]
        code, _, err = run_cli("--progress", "none", *args)
        one_line_error(code, err, "read-only")
        assert listing(ro) == {}
