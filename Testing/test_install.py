"""Installing MuscleQuant: the README's install works on a fresh machine (CI runs its test command
verbatim, and its install part in a brand-new venv gives the same radiomic features), and the Slicer
modules' first-use install (``slicer_bridge/install.py``) asks only for what a task needs, takes torch
from the PyTorch extension only, pins Slicer's packages and says what it could not install.

Issue 13 defects covered here: 2 (radiomics never blocks segment/quantify/cohort, and its absence is one
line), 3 (whatever is missing gets installed or named), 4 (torch range = MONAI's, Slicer's packages and
torch pinned), 12 (MuscleQuantSurvival installs its own dependencies). The same install plan runs for real
on Slicer's Python 3.12 package set in ``test_install_slicer_python.py`` (CI's 3.12 stage)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import types
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from MuscleQuantLib.slicer_bridge import install

ROOT = Path(__file__).resolve().parents[1]


def readme_command(heading_words: str) -> str:
    """The bash block that follows the README paragraph containing ``heading_words``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(heading_words)
    match = re.search(r"```bash\n(.+?)\n```", text[start:], re.S)
    assert match, f"no bash block after {heading_words!r}"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command_verbatim():
    command = readme_command("Install and run the tests")
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    demo = readme_command("Install and run the main job")
    install_tests = command.split(" && .venv/bin/python -m pytest")[0]
    install_demo = demo.split(" && .venv/bin/musclequant demo")[0]
    assert install_tests == install_demo.replace('-e ".[batch]"', '-e ".[test,batch]"'), \
        "the two README installs must match"
    assert "--no-build-isolation pyradiomics==3.0.1" in command


@pytest.mark.slow
def test_readme_install_into_a_fresh_venv_extracts_the_same_features(tmp_path, run_cli):
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler: PyRadiomics cannot be built from source here")
    install = readme_command("Install and run the tests").split(" && .venv/bin/python -m pytest")[0]
    venv = tmp_path / "fresh"
    install = install.replace(".venv/", f"{venv}/").replace("python3 -m venv .venv", f"{sys.executable} -m venv {venv}")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(["bash", "-c", install], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]

    cases = tmp_path / "cases"
    code, _, err = run_cli("phantom", "--texture-cohort", "20", "--seed", "3", "--out", cases, "--progress", "none")
    assert code == 0, err
    here, there = tmp_path / "here.csv", tmp_path / "there.csv"
    code, _, err = run_cli("radiomics", "--dataset", cases, "--out", here, "--features", "fast", "--progress", "none")
    assert code == 0, err
    fresh = subprocess.run([str(venv / "bin" / "musclequant"), "radiomics", "--dataset", str(cases), "--out", str(there),
                            "--features", "fast", "--progress", "none"], env=env, capture_output=True, text=True,
                           timeout=600)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.read_csv(here), pd.read_csv(there), check_exact=True)


# --- the Slicer modules' first-use install (slicer_bridge/install.py) ---------------------------------------

SLICER_5_12 = {"numpy": "2.4.6", "scipy": "1.17.1", "SimpleITK": "2.5.5", "pydicom": "3.0.2", "highdicom": "0.27.0"}


def _everything() -> dict[str, str]:
    """Each module-plan requirement at its lowest allowed version."""
    return {name: spec.lstrip(">=").split(",")[0].lstrip("=")
            for requirements, _ in install.PURPOSES.values() for name, spec in requirements.items()}


class FakeEnvironment:
    """Installed distributions as a dict; the fake pip and PyTorchUtils add to it and record every call."""

    def __init__(self, installed: dict[str, str]):
        self.installed = dict(installed)
        self.calls: list[tuple] = []

    def version_of(self, name: str) -> str:
        if name not in self.installed:
            raise metadata.PackageNotFoundError(name)
        return self.installed[name]

    def pip(self, requirements: list[str], constraints: Path) -> None:
        self.calls.append(("pip", list(requirements), constraints.read_text(encoding="utf-8")))
        for requirement in requirements:
            self.installed[install.requirement_name(requirement)] = _everything()[install.requirement_name(requirement)]

    def torch(self, requirement: str) -> bool:
        self.calls.append(("torch", requirement))
        self.installed["torch"] = "2.9.1+cu128"  # what PyTorchUtils (light-the-torch) picks for a CUDA machine
        return True

    def installer(self, **overrides) -> install.Installer:
        fields = {"pip": self.pip, "torch": self.torch, "confirm": self.confirm, "version_of": self.version_of,
                  "install_extension": None, **overrides}
        return install.Installer(**fields)

    def confirm(self, text: str) -> bool:
        self.calls.append(("confirm", text))
        return True


def _spec_bound(spec: str, op: str) -> tuple[int, ...]:
    clause = next(c for c in spec.split(",") if c.strip().startswith(op))
    return install._version_tuple(clause.strip()[len(op):])


def test_torch_requirement_is_monais_and_pyprojects():
    """Defect 4: MONAI 1.6.1 requires torch>=2.8; asking less lets an older torch stay and break MONAI."""
    monai_torch = next(r for r in metadata.requires("monai") if r.startswith("torch") and "extra" not in r)
    ours = _spec_bound(install.TORCH_REQUIREMENT, ">=")
    assert ours + (0,) * (3 - len(ours)) == _spec_bound(monai_torch[len("torch"):], ">="), monai_torch
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert f"torch{install.TORCH_REQUIREMENT}" in project["dependencies"]


def test_requirements_match_pyproject():
    """The modules install the ranges pyproject declares, and nothing pyproject lacks."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {install.requirement_name(d): d for d in project["dependencies"]}
    wanted = {name: spec for requirements, _ in install.PURPOSES.values() for name, spec in requirements.items()}
    wanted.update(install.ENGINE_ONLY)
    assert set(declared) == set(wanted) | {"torch"} | set(install.REQUIRED_FROM_SLICER) | (
        set(declared) & set(install.SLICER_OWNED))
    intel_mac = "; sys_platform != 'darwin' or platform_machine != 'x86_64'"  # no onnxruntime wheel there
    for name, spec in wanted.items():
        assert declared[name] == f"{name}{spec}" + (intel_mac if name in install.ONNX else "")
    for name, spec in install.ONNX.items():
        assert declared[name] == f"{name}{spec}{intel_mac}"
    for name in install.REQUIRED_FROM_SLICER:
        assert declared[name] == f"{name}{install.SLICER_OWNED[name]}"
    assert project["optional-dependencies"]["radiomics"] == [f"{n}{s}" for n, s in install.RADIOMICS.items()]


def test_constraints_pin_every_slicer_package_and_torch(tmp_path):
    """Defect 4: scipy, pydicom, highdicom (Slicer 5.12) and the extension's torch are pinned, not only
    numpy and SimpleITK; none of them is ever requested from PyPI."""
    env = FakeEnvironment({**SLICER_5_12, "torch": "2.9.1+cu128"})
    assert install.constraints_text(env.version_of).split() == [
        "numpy==2.4.6", "scipy==1.17.1", "SimpleITK==2.5.5", "pydicom==3.0.2", "highdicom==0.27.0",
        "torch==2.9.1+cu128"]
    for owned in ("numpy>=2", "scipy", "simpleitk==2.5.7", "torch>=2.8", "pydicom"):
        with pytest.raises(ValueError, match="from PyPI"):
            install.check_pip_requirements(["lifelines>=0.30", owned])


def test_segment_installs_torch_through_pytorchutils_first_then_wheels_under_the_pins():
    """Defect 4: torch from the PyTorch extension with MONAI's range, then one pip call that never names
    torch, pinned to the torch just installed (pip cannot swap the CUDA build for PyPI's)."""
    env = FakeEnvironment(SLICER_5_12)
    outcome = install.ensure("segment", env.installer())
    assert outcome.ok, outcome.message
    kinds = [call[0] for call in env.calls]
    assert kinds == ["confirm", "torch", "pip"]
    assert env.calls[1] == ("torch", install.TORCH_REQUIREMENT)
    _, requirements, constraints = env.calls[2]
    assert not any(install.requirement_name(r).lower() in ("torch", "numpy", "scipy", "simpleitk", "pydicom")
                   for r in requirements)
    assert "torch==2.9.1+cu128" in constraints.split() and "scipy==1.17.1" in constraints.split()
    assert "PyTorch extension" in env.calls[0][1] and "monai" in env.calls[0][1]
    assert not install.plan("segment", env.version_of).needed


def test_declined_or_failed_torch_installs_nothing_from_pypi():
    env = FakeEnvironment(SLICER_5_12)
    outcome = install.ensure("segment", env.installer(torch=lambda requirement: False))
    assert not outcome and "PyTorch" in outcome.message
    assert [c[0] for c in env.calls] == ["confirm"]

    def broken(requirement: str) -> bool:
        raise RuntimeError("light-the-torch: no network")

    outcome = install.ensure("segment", env.installer(torch=broken))
    assert not outcome and "no network" in outcome.message and not [c for c in env.calls if c[0] == "pip"]


def test_missing_pytorch_extension_is_said_and_offered():
    """Issue 13 build item 2: without the PyTorch extension, a clear message and an offer to install it;
    pip never runs (MONAI would pull torch from PyPI)."""
    env = FakeEnvironment(SLICER_5_12)
    extensions: list[str] = []
    outcome = install.ensure("segment", env.installer(torch=None, install_extension=lambda name: extensions.append(name)
                                                      or True))
    assert not outcome and extensions == ["PyTorch"] and "restart Slicer" in outcome.message
    assert "'PyTorch' extension" in env.calls[0][1] and not [c for c in env.calls if c[0] == "pip"]
    env.calls.clear()
    outcome = install.ensure("segment", env.installer(torch=None))
    assert not outcome and "Extensions Manager" in outcome.message and env.calls == []


def test_a_single_missing_package_is_installed_and_what_stays_missing_is_named():
    """Defect 3: one missing package (formerly: only a source build) is installed; when pip leaves something
    missing or fails, the message names it instead of returning False without a word."""
    env = FakeEnvironment({**SLICER_5_12, **_everything(), "torch": "2.13.0"})
    del env.installed["einops"]
    outcome = install.ensure("segment", env.installer(), ask=False)
    assert outcome.ok and [c[1] for c in env.calls if c[0] == "pip"] == [["einops>=0.7,<1"]]

    del env.installed["lifelines"]
    outcome = install.ensure("cohort", env.installer(pip=lambda requirements, constraints: None), ask=False)
    assert not outcome and "Still missing" in outcome.message and "lifelines>=0.30,<0.31" in outcome.message

    def failing(requirements, constraints):
        raise subprocess.CalledProcessError(1, ["pip"], output="ERROR: No matching distribution found for lifelines")

    outcome = install.ensure("cohort", env.installer(pip=failing), ask=False)
    assert not outcome and "No matching distribution found for lifelines" in outcome.message
    outcome = install.ensure("cohort", env.installer(confirm=lambda text: False))
    assert not outcome and "declined" in outcome.message and "lifelines" in outcome.message


def test_too_old_or_missing_slicer_packages_are_reported_never_installed():
    env = FakeEnvironment({**SLICER_5_12, **_everything(), "torch": "2.13.0", "scipy": "1.11.4"})
    outcome = install.ensure("cohort", env.installer())
    assert not outcome and "scipy 1.11.4" in outcome.message and env.calls == []
    del env.installed["SimpleITK"]
    assert "SimpleITK is missing" in install.plan("cohort", env.version_of).describe()


def test_segment_quantify_and_cohort_never_wait_on_radiomics():
    """Defect 2: with everything but PyRadiomics installed (Slicer's Python 3.12, where it cannot be
    built), no module task has anything to install; radiomics is an engine extra only."""
    env = FakeEnvironment({**SLICER_5_12, **_everything(), "torch": "2.13.0"})
    for purpose in install.PURPOSES:
        assert not install.plan(purpose, env.version_of).needed
        assert install.ensure(purpose, env.installer()).ok and env.calls == []
    for requirements, _ in install.PURPOSES.values():
        assert not set(requirements) & set(install.RADIOMICS)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(d.lower().startswith("pyradiomics") for d in project["dependencies"])


def test_cohort_needs_no_torch():
    env = FakeEnvironment({**SLICER_5_12, **_everything()})
    assert install.ensure("cohort", env.installer(torch=None)).ok


def test_radiomics_without_pyradiomics_is_one_line(tmp_path, run_cli, monkeypatch):
    """Defect 2: where PyRadiomics is absent, ``musclequant radiomics`` says how to install it (exit 2, no
    output) instead of an internal error."""
    monkeypatch.setitem(sys.modules, "radiomics", None)  # import radiomics -> ImportError
    out = tmp_path / "features.csv"
    code, _, err = run_cli("radiomics", tmp_path / "ct.nii.gz", tmp_path / "labels.nii.gz", "--out", out)
    assert code == 2 and "PyRadiomics is not installed" in err and "pyradiomics==3.0.1" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


# --- the module files' install methods with Slicer's functions (fakes of slicer.packaging/util) ----------------

def _load_module_file(path: Path, monkeypatch, slicer_module: types.ModuleType) -> types.ModuleType:
    """Import a module file with stand-ins for ``qt`` and ``slicer``; only the logic classes are exercised."""
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")
    for name in ("ScriptedLoadableModule", "ScriptedLoadableModuleLogic", "ScriptedLoadableModuleTest",
                 "ScriptedLoadableModuleWidget"):
        setattr(scripted, name, type(name, (), {"__init__": lambda self, *args: None}))
    monkeypatch.setitem(sys.modules, "qt", types.ModuleType("qt"))
    monkeypatch.setitem(sys.modules, "slicer", slicer_module)
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", scripted)
    monkeypatch.setitem(sys.modules, "slicer.util", slicer_module.util)
    spec = importlib.util.spec_from_file_location(f"_under_test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_slicer(env: FakeEnvironment, with_pip_ensure: bool) -> types.ModuleType:
    """Slicer 5.12 (``slicer.packaging.pip_ensure``) or 5.10 (``slicer.util.pip_install`` only)."""
    slicer = types.ModuleType("slicer")

    def record_pip(requirements: list[str], constraints: str, **options) -> None:
        env.calls.append(("slicer-pip", list(requirements), constraints, options, os.environ.get("PIP_ONLY_BINARY")))
        env.pip(requirements, Path(constraints))
        env.calls.pop(-1)  # keep only the Slicer-level record

    def pip_install(arguments: list[str]) -> None:
        at = arguments.index("--constraint")
        record_pip(arguments[:at], arguments[at + 1])

    slicer.util = types.SimpleNamespace(confirmOkCancelDisplay=lambda text, title: env.confirm(text),
                                        errorDisplay=lambda text: env.calls.append(("error", text)),
                                        pip_install=pip_install, VTKObservationMixin=type("Mixin", (), {}))
    if with_pip_ensure:
        slicer.packaging = types.SimpleNamespace(pip_ensure=record_pip)
    return slicer


@pytest.mark.parametrize("with_pip_ensure", [True, False], ids=["slicer-5.12-pip_ensure", "slicer-5.10-pip_install"])
def test_survival_module_installs_its_own_dependencies(monkeypatch, with_pip_ensure):
    """Defect 12: MuscleQuantSurvival installs lifelines & co. itself (no torch, no MuscleQuant run first),
    through pip_ensure where Slicer has it (constraints file, our own dialog, also in testing mode), else
    pip_install with --constraint; wheels only."""
    env = FakeEnvironment({**SLICER_5_12, **_everything()})
    for name in install.COHORT:
        if name not in install.QUANTIFY:
            del env.installed[name]
    real = install.slicer_installer

    def with_fake_environment(*args, **kwargs):
        installer = real(*args, **kwargs)
        installer.version_of = env.version_of
        return installer

    monkeypatch.setattr(install, "slicer_installer", with_fake_environment)
    module = _load_module_file(ROOT / "MuscleQuantSurvival" / "MuscleQuantSurvival.py", monkeypatch,
                               _fake_slicer(env, with_pip_ensure))
    outcome = module.MuscleQuantSurvivalLogic().ensureDependencies()
    assert outcome.ok, outcome.message
    (kind, requirements, constraints, options, only_binary), = [c for c in env.calls if c[0] == "slicer-pip"]
    assert sorted(requirements) == sorted(f"{n}{s}" for n, s in install.COHORT.items() if n not in install.QUANTIFY)
    assert only_binary == ":all:" and os.environ.get("PIP_ONLY_BINARY") is None
    if with_pip_ensure:
        assert options == {"prompt_install": False, "requester": "MuscleQuant Survival", "skip_in_testing": False}
    assert [c[0] for c in env.calls] == ["confirm", "slicer-pip"]
    assert module.MuscleQuantSurvivalLogic().ensureDependencies(askConfirmation=False).ok


def test_muscle_module_without_pytorch_extension_offers_it(monkeypatch):
    """The MuscleQuant module's install method, on a Slicer without the PyTorch extension and without the
    Extensions Manager: falsy outcome with the message for the widget's dialog; nothing installed."""
    env = FakeEnvironment(SLICER_5_12)
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # import PyTorchUtils -> ImportError
    real = install.slicer_installer

    def with_fake_environment(*args, **kwargs):
        installer = real(*args, **kwargs)
        installer.version_of = env.version_of
        return installer

    monkeypatch.setattr(install, "slicer_installer", with_fake_environment)
    module = _load_module_file(ROOT / "MuscleQuant" / "MuscleQuant.py", monkeypatch, _fake_slicer(env, True))
    outcome = module.MuscleQuantLogic().ensureDependencies()
    assert not outcome and "PyTorch" in outcome.message and "Extensions Manager" in outcome.message
    assert not [c for c in env.calls if c[0] == "slicer-pip"]


# --- the widgets' install: dialogs and PyTorchUtils now, pip as a background process, then the action ---------

def test_widget_install_runs_pip_as_a_background_task_then_proceeds(tmp_path, monkeypatch):
    """dependencies.ensure_then: torch (PyTorchUtils) and the dialog at once, pip only through the widget's
    start_task as a process; the action runs after pip succeeded, never when it failed; temp constraints go."""
    from MuscleQuantLib.slicer_bridge import dependencies
    from MuscleQuantLib.slicer_bridge.process import EngineError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    env = FakeEnvironment({**SLICER_5_12, **_everything()})
    env.installed.pop("torch", None)
    del env.installed["lifelines"]
    done, errors, started = [], [], []

    def start_task(start, message, on_done, on_fail=None):
        started.append((start, message, on_done, on_fail))
        return True

    for exit_code in (1, 0):
        script = f"import sys; print('pip says hello', flush=True); sys.exit({exit_code})"
        monkeypatch.setattr(install, "pip_command", lambda python, requirements, constraints, s=script:
                            [sys.executable, "-c", s])
        assert dependencies.ensure_then("segment", env.installer(), start_task, lambda: done.append(1), errors.append,
                                        python=sys.executable)
        start, message, on_done, on_fail = started.pop()
        assert message == dependencies.INSTALLING and not done
        task = start()
        if exit_code:
            with pytest.raises(EngineError, match="pip exited with code 1: pip says hello"):
                task.wait(timeout=60)
            on_fail()  # the runner calls on_fail for a failed task
            assert not done and not list(tmp_path.glob("musclequant-pip-*"))
            continue
        assert task.wait(timeout=60) is True
        env.installed["lifelines"] = "0.30.0"  # what pip would have installed
        on_done(True)
        assert done == [1] and not errors and not list(tmp_path.glob("musclequant-pip-*"))
    assert [c[0] for c in env.calls] == ["confirm", "torch", "confirm"], "the blocking pip is not the widgets'"
    assert dependencies.ensure_then("segment", env.installer(), start_task, lambda: done.append(2), errors.append)
    assert done == [1, 2] and not started  # nothing missing: the action runs at once, no task


def test_pip_command_is_slicers_with_wheels_only_and_refuses_slicers_packages(tmp_path):
    command = install.pip_command("/opt/Slicer/bin/PythonSlicer", ["lifelines>=0.30,<0.31"], tmp_path / "c.txt")
    assert command[:4] == ["/opt/Slicer/bin/PythonSlicer", "-m", "pip", "install"]
    assert command[4:6] == ["--only-binary", ":all:"] and command[-2:] == ["--constraint", str(tmp_path / "c.txt")]
    with pytest.raises(ValueError, match="numpy"):
        install.pip_command("python", ["numpy>=2"], tmp_path / "c.txt")
