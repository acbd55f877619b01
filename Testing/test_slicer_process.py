"""Background engine process: JSON progress parsing, results, errors, and Cancel killing the whole tree;
first-use install plan; cohort command lines; case store versioning without MRML."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from MuscleQuantLib.slicer_bridge import cohort
from MuscleQuantLib.slicer_bridge.casestore import Approval, CaseStore, dice_per_label
from MuscleQuantLib.slicer_bridge.process import EngineError, EngineProcess, musclequant_command, parse_line


def test_parse_line_ignores_foreign_output():
    assert parse_line('{"stage": "segment", "fraction": 0.3, "message": "net"}').fraction == 0.3
    assert parse_line('{"stage": "done", "fraction": 1.0, "result": {"a": 1}}').result == {"a": 1}
    for noise in ("ITK warning: something", "{not json", '{"no_stage": 1}', "[1, 2]", ""):
        assert parse_line(noise).stage == "log"


def test_real_cli_result_and_error(tmp_path):
    ok = EngineProcess(musclequant_command("models", "list", python=sys.executable),
                       env={**os.environ, "MUSCLEQUANT_HOME": str(tmp_path)}).start()
    assert "models" in ok.wait(timeout=120)
    bad = EngineProcess(musclequant_command("segment", tmp_path / "missing.nii.gz", "--model", tmp_path,
                                            "--out", tmp_path / "out", python=sys.executable)).start()
    with pytest.raises(EngineError, match="model.json"):
        bad.wait(timeout=120)
    assert bad.returncode == 2


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text(encoding="utf-8").split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    stack.append(child)
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to list the process tree")
def test_cancel_kills_the_whole_process_tree(tmp_path):
    """A launcher (like PythonSlicer) runs the real CLI as its child; Cancel must kill both."""
    inner = musclequant_command("phantom", "--anatomy", "thigh", "--n", "40", "--out", tmp_path / "ph",
                                python=sys.executable)
    launcher = [sys.executable, "-c", "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))", *inner]
    process = EngineProcess(launcher).start()
    deadline = time.monotonic() + 120
    first_progress = None
    while first_progress is None and time.monotonic() < deadline:
        first_progress = next((e for e in process.poll() if e.stage not in ("log",)), None)
        time.sleep(0.1)
    assert first_progress is not None, "the CLI never reported progress"
    tree = {process.proc.pid, *_descendants(process.proc.pid)}
    assert len(tree) >= 2, "expected the launcher and the engine process"
    process.cancel(grace_s=2.0)
    time.sleep(0.3)
    assert not [pid for pid in tree if _alive(pid)]
    with pytest.raises(EngineError, match="cancelled"):
        process.outcome()


def test_cohort_commands(tmp_path):
    run = cohort.CohortRun(clinical=tmp_path / "c.csv", measurements=tmp_path / "m.csv", out=tmp_path / "o",
                           endpoint="OS", group="median:smi_cm2_m2", covariates=("smi_cm2_m2", "age"))
    command = cohort.cohort_command("cox", run, python="py")
    assert command[0] == "py" and command[1] == "-c" and "MuscleQuantLib.cli" in command[2]
    assert command[3:5] == ["cohort", "cox"]
    assert command[command.index("--covariates") + 1] == "smi_cm2_m2,age"
    assert command[-2:] == ["--progress", "json"]
    assert "--out" not in cohort.cohort_command("validate", run, python="py")
    assert cohort.endpoints_from_columns(["id", "OS_months", "OS_event", "PFS_months", "pfs_event"]) == ["OS", "PFS"]
    with pytest.raises(ValueError):
        cohort.cohort_command("plot", run)


def _approval(case_id: str, labels: np.ndarray, ai: np.ndarray) -> Approval:
    return Approval(case_id=case_id, approver="Dr. A", write_segmentation=lambda p: p.write_bytes(b"seg"),
                    approved_labels=labels, ai_labels=ai, label_names={1: "a", 2: "b"}, engine_summary=None,
                    input_identity={"name": "x"}, measurements={"row": {"csa_total_cm2": 1.5}})


def test_casestore_versions_never_overwrite(tmp_path):
    store = CaseStore(tmp_path)
    ai = np.zeros((2, 4, 4), np.uint8)
    ai[0, :2] = 1
    first = store.approve(_approval("case/1", ai, ai))
    edited = ai.copy()
    edited[0, 2] = 1
    second = store.approve(_approval("case/1", edited, ai))
    assert (first.parent.name, first.name, second.name) == ("case_1", "v001", "v002")
    assert (first / "segmentation.seg.nrrd").read_bytes() == b"seg"
    assert store.read_provenance(first)["dice_ai_vs_approved"]["a"] == 1.0
    assert store.read_provenance(second)["dice_ai_vs_approved"]["a"] == pytest.approx(2 * 8 / 20)
    assert store.read_provenance(second)["dice_ai_vs_approved"]["b"] is None
    assert not (first / "provenance.json").stat().st_mode & 0o222  # read-only (root could still write)
    assert [p.name for p in store.versions("case_1")] == ["v001", "v002"]
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no staging left behind
    assert dice_per_label(ai, ai, {1: "a"})["all_muscle"] == 1.0


def test_casestore_refuses_anonymous_approval(tmp_path):
    from MuscleQuantLib.errors import InputError

    approval = _approval("c", np.zeros((1, 2, 2), np.uint8), None)
    approval.approver = " "
    with pytest.raises(InputError, match="approver"):
        CaseStore(tmp_path).approve(approval)
    assert CaseStore(tmp_path).versions("c") == []


def test_poll_status_reports_latest_percent_and_message():
    """What the widgets' timer shows: the last fraction as percent and the last real message."""
    script = ("import json\n"
              "print(json.dumps({'stage': 'train', 'fraction': 0.25, 'message': 'epoch 1'}))\n"
              "print('C++ library noise')\n"
              "print(json.dumps({'stage': 'train', 'fraction': 0.5, 'message': 'epoch 2'}))\n")
    process = EngineProcess([sys.executable, "-c", script]).start()
    deadline = time.monotonic() + 60
    while not process.finished() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll_status() == (50, "epoch 2")
    assert process.poll_status() == (None, None)  # nothing new
    assert "C++ library noise" in process.log


def test_engine_python_lookup_never_falls_back_to_this_interpreter(tmp_path):
    """D5: inside Slicer sys.executable is the Slicer application (a second Slicer would start): the
    engine's Python is the saved setting, MUSCLEQUANT_ENGINE_PYTHON, PythonSlicer on PATH, or an error."""
    from MuscleQuantLib.slicer_bridge.process import ENGINE_PYTHON_VARIABLE, EngineNotFound, engine_python

    chosen, from_env = tmp_path / "chosen-python", tmp_path / "env-python"
    chosen.write_text("", encoding="utf-8")
    from_env.write_text("", encoding="utf-8")
    env = {ENGINE_PYTHON_VARIABLE: str(from_env)}
    assert engine_python(str(chosen), env, lambda name: "/opt/Slicer/bin/PythonSlicer") == str(chosen)
    assert engine_python(None, env, lambda name: "/opt/Slicer/bin/PythonSlicer") == str(from_env)
    assert engine_python(None, {}, lambda name: "/opt/Slicer/bin/PythonSlicer" if name == "PythonSlicer" else None) \
        == "/opt/Slicer/bin/PythonSlicer"
    with pytest.raises(EngineNotFound, match="PythonSlicer is not on PATH"):
        engine_python(None, {}, lambda name: None)
    with pytest.raises(EngineNotFound, match="not a file"):
        engine_python(None, {ENGINE_PYTHON_VARIABLE: str(tmp_path / "missing")}, lambda name: None)


def test_thread_task_reports_like_an_engine_process():
    """Approvals run in a worker thread polled like the engine (D15): result, error and cancel."""
    from MuscleQuantLib.slicer_bridge.background import ThreadTask

    done = ThreadTask(lambda: 42, "working").start()
    assert done.wait(timeout=10) == 42 and done.poll_status() == (None, "working") and done.finished()
    failed = ThreadTask(lambda: 1 / 0).start()
    with pytest.raises(EngineError, match="division"):
        failed.wait(timeout=10)
    cancelled = ThreadTask(lambda: time.sleep(0.2)).start()
    cancelled.cancel()
    with pytest.raises(EngineError, match="cancelled"):
        cancelled.wait(timeout=10)
