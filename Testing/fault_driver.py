"""Kill a command at every one of its file-system write steps and report what each kill left behind.

Run as ``python fault_driver.py SPEC.json REPORT.json`` (a fresh process, so that forking is safe).
SPEC: {"mode": "quantify"|"segment"|"train"|"approve", "watch": folder, "previous": argv, "new": argv}.
The driver makes the previous result (in a forked child), then runs the new command once in another
child whose audit hook, just before each write step under ``watch`` (open for writing, mkstemp, mkdir,
rename/replace, link, remove, rmtree, chmod), copies the folder: exactly what a kill -9 at that moment
would leave on disk (buffers the process has not flushed are lost either way). For every such state
the driver records the files as left, runs ``fileio.recover`` as the next command would, records
them again and checks which result the folder holds (in a forked child: the driver itself never
runs ITK or torch code, whose thread pools would not survive a fork).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

WRITE_EVENTS = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.link", "os.chmod", "shutil.rmtree",
                "tempfile.mkstemp", "tempfile.mkdtemp", "os.truncate", "os.symlink"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _is_write(event: str, args: tuple) -> tuple[bool, str]:
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE_FLAGS)
        return bool(writing), str(path)
    if event in WRITE_EVENTS:
        return True, " ".join(str(a) for a in args if isinstance(a, str | os.PathLike))
    return False, ""


def _child(run, snapshots: Path | None, watch: str) -> None:
    """In the forked child: before every write step under ``watch``, copy the folder to
    ``snapshots/NNNN`` (the state a kill at that step leaves)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    steps, busy = [0], [False]

    def hook(event: str, args: tuple) -> None:
        if busy[0] or snapshots is None:
            return
        writing, where = _is_write(event, args)
        if writing and watch in where:
            busy[0] = True
            try:
                steps[0] += 1
                target = snapshots / f"{steps[0]:04d}"
                if Path(watch).is_dir():
                    shutil.copytree(watch, target, symlinks=True)
                else:
                    target.mkdir(parents=True)
            finally:
                busy[0] = False

    sys.addaudithook(hook)
    try:
        code = run()
    except BaseException:  # noqa: BLE001
        os._exit(3)
    os._exit(0 if code == 0 else 4)


def _fork(run, snapshots: Path | None, watch: str) -> int:
    pid = os.fork()
    if pid == 0:
        _child(run, snapshots, watch)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _files(folder: Path) -> dict[str, str]:
    """Relative name -> size (hidden lock files left out: a lock is not a result)."""
    return {str(p.relative_to(folder)): str(p.stat().st_size) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def _runner(mode: str, argv: list[str]):
    if mode == "approve":
        return lambda: _approve(*argv)
    if mode == "train":
        _fast_training()
    from MuscleQuantLib.cli import COMMANDS, load_command, main

    load_command(next(a for a in argv if a in COMMANDS))  # imported once here, not in every child
    return lambda: main(argv)


def _approve(store: str, image: str, note: str) -> int:
    """Approve the labels in ``image`` as case c1 (a new version each time)."""
    import numpy as np
    import SimpleITK as sitk

    from MuscleQuantLib.slicer_bridge.casestore import Approval, CaseStore

    labels = sitk.GetArrayFromImage(sitk.ReadImage(image)).astype(np.uint8)

    def write_segmentation(path: Path) -> None:
        image_out = sitk.GetImageFromArray(labels)
        image_out.SetMetaData("Segment0_Name", "psoas_major")
        image_out.SetMetaData("Segment0_LabelValue", "3")
        sitk.WriteImage(image_out, str(path), True)

    measurements = {"record": {"note": note}, "row": {"patient_id": "c1", "csa_total_cm2": float(labels.sum())}}
    CaseStore(store).approve(Approval("c1", "Dr Test", write_segmentation, labels, labels, {3: "psoas_major"},
                                      {"preset": "l3"}, {"path": image}, measurements, note))
    return 0


def _fast_training() -> None:
    """Replace the training loop by an untrained network with one recorded epoch: the file handling of
    ``train`` (commit of model, metrics and summary) is under test, not the optimiser."""
    import torch

    from MuscleQuantLib.networks import build_network
    from MuscleQuantLib.training import run
    from MuscleQuantLib.training.trainer import FoldResult

    def train_fold(fold, train_cases, val_cases, preset, profile_name, device, seed, *args, **kwargs):
        torch.manual_seed(seed)
        network = build_network(preset.profile(profile_name).network, preset.network_args(profile_name))
        return FoldResult(fold, network, 1, 0.25 + seed / 10, "max_epochs", [{"epoch": 1, "val_dice": 0.25}],
                          [c.case_id for c in train_cases], [c.case_id for c in val_cases])

    run.train_fold = train_fold


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    mode, watch = spec["mode"], Path(spec["watch"])
    import pandas  # noqa: F401 - imported once before forking (the checks use them); never run here
    import SimpleITK  # noqa: F401
    import torch  # noqa: F401

    try:
        from MuscleQuantLib.fileio import recover
    except ImportError:  # an engine without commit journals (to show these tests fail on it)
        def recover(folder: Path) -> None:
            return None

    if _fork(_runner(mode, spec["previous"]), None, str(watch)) != 0:
        raise SystemExit("the previous result could not be made")
    report = {"previous": _files(watch), "previous_check": _check_in_child(mode, watch), "kills": []}
    snapshots = watch.parent / (watch.name + ".kills")
    code = _fork(_runner(mode, spec["new"]), snapshots, str(watch))
    states = sorted(snapshots.iterdir()) if snapshots.is_dir() else []
    report["completed"] = {"steps": len(states), "exit": code, "files": _files(watch),
                           "check": _check_in_child(mode, watch)}
    for state in states:
        shutil.rmtree(watch)
        shutil.copytree(state, watch, symlinks=True)
        entry = {"kill_at": int(state.name), "left": _files(watch)}
        recover(watch)
        entry["recovered"] = _files(watch)
        entry["check"] = _check_in_child(mode, watch)
        report["kills"].append(entry)
    Path(sys.argv[2]).write_text(json.dumps(report, indent=1), encoding="utf-8")


def _check_in_child(mode: str, watch: Path) -> dict:
    """Run :func:`_check` in a forked child: the driver itself never runs ITK or torch code, whose
    thread pools would not survive the next fork."""
    out = watch.parent / "check.json"
    out.unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:
        try:
            result = _check(mode, watch)
        except Exception as exc:  # noqa: BLE001 - reported, the test fails on it
            result = {"error": f"{type(exc).__name__}: {exc}"}
        out.write_text(json.dumps(result), encoding="utf-8")
        os._exit(0)
    os.waitpid(pid, 0)
    return json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"error": "check crashed"}


def _check(mode: str, watch: Path) -> dict:
    """Which result the folder holds after recovery, checked for internal consistency."""
    if mode == "segment":
        import numpy as np
        import SimpleITK as sitk

        summary = json.loads(next(watch.glob("*_segmentation.json")).read_text(encoding="utf-8"))
        labels = sitk.GetArrayFromImage(sitk.ReadImage(str(next(watch.glob("*_labels.nii.gz")))))
        consistent = all(int(np.count_nonzero(labels == e["value"])) == e["voxels"] for e in summary["labels"])
        return {"which": summary["slice"]["index"], "consistent": consistent}
    if mode == "quantify":
        import pandas as pd

        record = json.loads((watch / "p1.json").read_text(encoding="utf-8"))
        row = pd.read_csv(watch / "measurements.csv", dtype={"patient_id": str}).set_index("patient_id").loc["p1"]
        return {"which": record["slice"]["index"], "consistent": int(row["slice_index"]) == record["slice"]["index"]
                and (watch / "p1_qa.png").stat().st_size > 1000}
    if mode == "train":
        from MuscleQuantLib.models.modelfile import verify_model

        card = verify_model(watch / "model", load=False)
        summary = json.loads((watch / "training_summary.json").read_text(encoding="utf-8"))
        metrics = json.loads((watch / "metrics_fold0.json").read_text(encoding="utf-8"))
        return {"which": card["training"]["seed"], "consistent": summary["folds"][0]["train_cases"]
                == metrics["train_cases"] == card["training"]["per_fold"][0]["train_cases"]}
    if mode == "approve":
        versions = sorted(p.name for p in (watch / "c1").iterdir() if p.name.startswith("v"))
        complete = all(all((watch / "c1" / v / f).is_file() for f in json.loads(
            (watch / "c1" / v / "provenance.json").read_text(encoding="utf-8"))["files"]) for v in versions)
        return {"which": versions, "consistent": complete}
    return {}


if __name__ == "__main__":
    main()
