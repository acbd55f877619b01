"""First-use installation of the Python packages a Slicer module needs, as injectable logic.

The module files only build an :class:`Installer` from Slicer's functions (:func:`slicer_installer`) and
show the message :func:`ensure` returns; every decision is made here and unit tested with fakes.

Rules, each from a defect found in Slicer 5.10/5.12 (issue 13):

* Each task asks only for what it needs (:data:`PURPOSES`): segmentation, measurement and cohort
  statistics never wait on radiomics, which PyRadiomics 3.0.1 cannot provide on Slicer's Python 3.12
  (no wheel; its sdist fails to build there). Radiomics is an engine extra (``pip install
  musclequant[radiomics]`` where a compiler is available), not part of any module plan.
* torch never comes from PyPI inside Slicer: the PyTorch extension's ``PyTorchUtils`` installs the build
  for the machine's GPU, with the version MONAI needs (``torch>=2.8`` for MONAI 1.6). Without the
  extension the user gets a clear message and an offer to install it.
* Slicer's own packages (numpy, scipy, SimpleITK, pydicom, highdicom) and the installed torch are pinned
  by a constraints file, so no dependency can replace them; a too old one is reported, never upgraded.
* pip installs wheels only (``PIP_ONLY_BINARY=:all:``): a user has no compiler, and a failed source
  build is a worse message than "no matching distribution".
* Whatever is still missing afterwards is named in the returned message (nothing fails silently).
* The widgets never run pip on the GUI thread: :func:`prepare` (plan, dialogs, PyTorchUtils) runs there,
  the pip step is a background process (:mod:`.dependencies`) and :func:`finish` checks the result. Slicer's
  own pip functions cannot be moved to a worker thread instead: ``pip_ensure`` always installs with
  ``pip_install(blocking=True)`` and its restart prompt opens a dialog; off the main thread v5.12.3's
  ``pip_install`` falls back to ``executePythonModule(blocking=True)``, whose ``logProcessOutput`` calls
  ``slicer.app.processEvents()`` per output line, as v5.10.0's ``pip_install`` does (util.py at both tags).
  Blocking :func:`ensure` (self-tests, scripts) still uses them.

Slicer API (checked against Slicer v5.10.0 and v5.12.3, Base/Python/slicer/): ``slicer.packaging.pip_ensure
(requirements, constraints=None, skip_packages=None, prompt_install=True, prompt_restart=True, requester=None,
skip_in_testing=True, show_progress=True)`` exists from 5.11 on (packaging.py); 5.10 has only
``slicer.util.pip_install(requirements)`` (a list of pip arguments). ``PyTorchUtilsLogic().installTorch(
askConfirmation, forceComputationBackend, torchVersionRequirement)`` returns the torch module or None
(SlicerPyTorch PyTorchUtils.py). ``slicer.app.extensionsManagerModel().installExtensionFromServer(name,
restart=True)`` installs an extension (Base/QTCore/qSlicerExtensionsManagerModel.h, both versions).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

# Distribution name -> range tested together (pyproject.toml "dependencies").
QUANTIFY: dict[str, str] = {
    "pandas": ">=2.2,<3",
    "matplotlib": ">=3.9,<4",
    "safetensors": ">=0.4,<1",
    "openpyxl": ">=3.1,<4",
    "jsonschema": ">=4.20,<5",
}
# onnxruntime runs the networks on CPU without importing torch/MONAI (inference/runtime.py); onnx is what
# torch.onnx.export needs to write the cached export. Both have cp312 wheels on Linux, Windows and Apple-silicon
# macOS, but onnxruntime 1.20+ has none for Intel macOS: there they are left out and the engine runs the
# networks with torch (inference/runtime.py falls back when onnxruntime is missing).
ONNX: dict[str, str] = {"onnxruntime": ">=1.20,<2", "onnx": ">=1.17,<2"}
INTEL_MAC = sys.platform == "darwin" and platform.machine() == "x86_64"
SEGMENT: dict[str, str] = {**QUANTIFY, "monai": ">=1.6,<1.7", "einops": ">=0.7,<1", **({} if INTEL_MAC else ONNX)}
COHORT: dict[str, str] = {**QUANTIFY, "lifelines": ">=0.30,<0.31"}
# Engine command line only (``musclequant cohort deepsurv``), never a module plan: scikit-survival needs
# ecos, which has no wheel for Python 3.12 on Apple-silicon macOS.
ENGINE_ONLY: dict[str, str] = {"scikit-learn": ">=1.5,<2", "scikit-survival": ">=0.28,<0.29"}
# Optional engine extra (pyproject "radiomics"): no wheel for any current Python, built from source.
RADIOMICS: dict[str, str] = {"pyradiomics": "==3.0.1"}
# What each task of the modules needs, and whether it needs torch.
PURPOSES: dict[str, tuple[dict[str, str], bool]] = {
    "segment": ({**SEGMENT, **COHORT}, True),  # MuscleQuant: segment, quantify, train, export, cohort
    "cohort": (COHORT, False),  # MuscleQuantSurvival: validate, km, cox, definitions, report
}
# MONAI 1.6.1's own requirement (importlib.metadata.requires("monai")); an older torch breaks MONAI.
TORCH_REQUIREMENT = ">=2.8"
TORCH_DEPENDENT = ("monai",)  # the only requirement that pulls torch: pip must find it installed (pinned) first
# Shipped by Slicer: never installed from PyPI, pinned at the installed version. The range is what
# MuscleQuant works with; outside it the user is told to use another Slicer.
SLICER_OWNED: dict[str, str] = {"numpy": ">=2.0,<3", "scipy": ">=1.13,<2", "SimpleITK": ">=2.5,<2.6",
                                "pydicom": "", "highdicom": ""}
REQUIRED_FROM_SLICER = ("numpy", "scipy", "SimpleITK")  # the others only get pinned when present
PYTORCH_EXTENSION = "PyTorch"
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def _version_tuple(text: str) -> tuple[int, ...]:
    match = _VERSION.match(text)
    return tuple(int(g or 0) for g in match.groups()) if match else (0,)


def satisfies(version: str, spec: str) -> bool:
    """Whether ``version`` meets a simple ``>=a,<b`` specifier (all our requirements use only these);
    a local label (``2.8.0+cu126``) is ignored, as pip does for range comparisons."""
    have = _version_tuple(version)
    for clause in (c.strip() for c in spec.split(",") if c.strip()):
        op, bound = re.match(r"(>=|<=|==|<|>)(.*)", clause).groups()
        want = _version_tuple(bound)
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        ok = {">=": a >= b, "<=": a <= b, "==": a == b, "<": a < b, ">": a > b}[op]
        if not ok:
            return False
    return True


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0]


@dataclass
class InstallPlan:
    """What first use has to do; empty lists mean nothing."""

    purpose: str
    torch: str | None = None  # a version requirement when torch must be installed (PyTorchUtils)
    pip: list[str] = field(default_factory=list)  # "name>=a,<b" requirement strings
    slicer_owned_problems: list[str] = field(default_factory=list)  # reported, never fixed by pip

    @property
    def needed(self) -> bool:
        return bool(self.torch or self.pip)

    def describe(self) -> str:
        """The text of the confirmation dialog."""
        lines = []
        if self.torch:
            lines.append(f"PyTorch {self.torch} (installed by the PyTorch extension for this computer's GPU/CPU)")
        lines += [f"{requirement} (from PyPI)" for requirement in self.pip]
        text = "MuscleQuant needs these Python packages:\n  " + "\n  ".join(lines) if lines else "Nothing to install."
        if self.slicer_owned_problems:
            text += "\n\nNot installed (they belong to Slicer):\n  " + "\n  ".join(self.slicer_owned_problems)
        return text


def plan(purpose: str = "segment", version_of: Callable[[str], str] = metadata.version) -> InstallPlan:
    """Compare installed distributions with what ``purpose`` needs; ``version_of`` is injectable for tests."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; choose from {', '.join(PURPOSES)}")
    requirements, needs_torch = PURPOSES[purpose]
    result = InstallPlan(purpose)
    if needs_torch and _unsatisfied({"torch": TORCH_REQUIREMENT}, version_of):
        result.torch = TORCH_REQUIREMENT
    result.pip = _unsatisfied(requirements, version_of)
    for name in REQUIRED_FROM_SLICER:
        try:
            have = version_of(name)
        except metadata.PackageNotFoundError:
            result.slicer_owned_problems.append(f"{name} is missing from this Slicer: reinstall Slicer")
            continue
        if not satisfies(have, SLICER_OWNED[name]):
            result.slicer_owned_problems.append(
                f"{name} {have} is outside {SLICER_OWNED[name]}: use Slicer 5.10 or later")
    return result


def _unsatisfied(requirements: dict[str, str], version_of: Callable[[str], str]) -> list[str]:
    """``name+spec`` of each requirement that is missing or at a version outside its spec."""
    missing = []
    for name, spec in requirements.items():
        try:
            if satisfies(version_of(name), spec):
                continue
        except metadata.PackageNotFoundError:
            pass
        missing.append(f"{name}{spec}")
    return missing


def constraints_text(version_of: Callable[[str], str] = metadata.version) -> str:
    """pip constraints pinning Slicer's own packages and the installed torch to their installed versions."""
    lines = []
    for name in (*SLICER_OWNED, "torch"):
        try:
            lines.append(f"{name}=={version_of(name)}")
        except metadata.PackageNotFoundError:
            continue
    return "\n".join(lines) + "\n"


def check_pip_requirements(requirements: list[str]) -> None:
    """Refuse a pip request for Slicer's own packages or torch (a programming error, never user input)."""
    owned = {n.lower() for n in (*SLICER_OWNED, "torch")}
    for requirement in requirements:
        if requirement_name(requirement).lower() in owned:
            raise ValueError(f"refusing to install {requirement_name(requirement)} from PyPI: Slicer or "
                             "the PyTorch extension owns it")


@dataclass
class Installer:
    """How to install, injected: Slicer's functions in the module, fakes in tests.

    ``pip(requirements, constraints_file)`` installs or raises; ``torch(requirement)`` installs torch
    through PyTorchUtils and returns False when the user declined, or is None when the PyTorch extension is
    missing; ``confirm(text)`` asks the user; ``install_extension(name)`` installs a Slicer extension
    (Slicer restarts), None where it is not available.
    """

    pip: Callable[[list[str], Path], Any]
    torch: Callable[[str], bool] | None
    confirm: Callable[[str], bool]
    install_extension: Callable[[str], bool] | None = None
    version_of: Callable[[str], str] = metadata.version


@dataclass
class Outcome:
    """``ok``: everything the task needs is importable now; ``message``: what to show the user otherwise."""

    ok: bool
    message: str = ""

    def __bool__(self) -> bool:  # ``if not logic.ensureDependencies(): ...`` reads naturally
        return self.ok


def prepare(purpose: str, installer: Installer, ask: bool = True) -> Outcome | InstallPlan:
    """The part of :func:`ensure` that belongs on Slicer's GUI thread: the plan, the dialogs, and torch through
    PyTorchUtils (it may ask in its own dialog, runs ``slicer.util._executePythonModule``, which calls
    ``slicer.app.processEvents()``, and imports torch into Slicer's process). Returns an :class:`Outcome` when
    nothing is left to do (done or failed), else the plan whose ``pip`` part is still to be installed (by
    :func:`ensure` at once, or by :mod:`.dependencies` in a background process); then call :func:`finish`."""
    first = plan(purpose, installer.version_of)
    if first.slicer_owned_problems:
        return Outcome(False, "MuscleQuant cannot run in this Slicer:\n  " + "\n  ".join(first.slicer_owned_problems))
    if not first.needed:
        return Outcome(True)
    if first.torch and installer.torch is None:
        return _offer_pytorch_extension(first, installer)
    if ask and not installer.confirm(first.describe()):
        return Outcome(False, "Not installed (declined):\n  " + "\n  ".join(_listing(first)))
    if first.torch:
        try:
            if installer.torch(first.torch) is False:
                return Outcome(False, f"PyTorch {first.torch} was not installed (declined in the PyTorch dialog).")
        except Exception as exc:  # noqa: BLE001 - any failure of the extension goes to the dialog
            return Outcome(False, f"The PyTorch extension could not install torch{first.torch}: {exc}")
        importlib.invalidate_caches()
        if _unsatisfied({"torch": first.torch}, installer.version_of):
            return Outcome(False, f"The PyTorch extension did not install torch{first.torch}; MuscleQuant "
                                  "does not install anything from PyPI without it (MONAI would pull a CPU-only torch).")
    if not first.pip:
        return finish(purpose, installer, first)
    check_pip_requirements(first.pip)
    return first


def finish(purpose: str, installer: Installer, first: InstallPlan) -> Outcome:
    """After the install: what is still missing is named, else what was installed."""
    importlib.invalidate_caches()
    after = plan(purpose, installer.version_of)
    if after.needed:
        return Outcome(False, "Still missing after installation:\n  " + "\n  ".join(_listing(after)))
    return Outcome(True, "Installed:\n  " + "\n  ".join(_listing(first)))


def ensure(purpose: str, installer: Installer, ask: bool = True) -> Outcome:
    """Install what ``purpose`` lacks, blocking (self-tests, scripts): torch through PyTorchUtils first, then
    wheels from PyPI under the constraints; the result names whatever is still missing or why nothing was
    installed. The widgets use :func:`.dependencies.ensure_then` instead, which runs pip in the background."""
    first = prepare(purpose, installer, ask)
    if isinstance(first, Outcome):
        return first
    with tempfile.TemporaryDirectory(prefix="musclequant-pip-") as folder:
        constraints = Path(folder) / "constraints.txt"
        constraints.write_text(constraints_text(installer.version_of), encoding="utf-8")
        try:
            installer.pip(list(first.pip), constraints)
        except Exception as exc:  # noqa: BLE001 - pip failures (CalledProcessError, declined) go to the dialog
            return Outcome(False, f"pip could not install {', '.join(first.pip)}: {_pip_error(exc)}")
    return finish(purpose, installer, first)


def pip_command(python: str, requirements: list[str], constraints: Path) -> list[str]:
    """The command Slicer's own ``pip_install`` runs (``PythonSlicer -m pip install``, Base/Python/slicer/util.py
    ``executePythonModule``), with wheels only and Slicer's packages pinned by the constraints file."""
    check_pip_requirements(requirements)
    return [python, "-m", "pip", "install", "--only-binary", ":all:", "--disable-pip-version-check",
            "--progress-bar", "off", *requirements, "--constraint", str(constraints)]


def _listing(install: InstallPlan) -> list[str]:
    return ([f"torch{install.torch} (PyTorch extension)"] if install.torch else []) + list(install.pip)


def _pip_error(exc: BaseException) -> str:
    output = getattr(exc, "output", None) or getattr(exc, "stderr", None)
    tail = " ".join(str(output).split()[-40:]) if output else ""
    return f"{exc}{' … ' + tail if tail else ''}"


def _offer_pytorch_extension(first: InstallPlan, installer: Installer) -> Outcome:
    text = (f"MuscleQuant needs PyTorch {first.torch}, which comes from the '{PYTORCH_EXTENSION}' extension "
            "(it installs the build for this computer's GPU). That extension is not installed.")
    if installer.install_extension is None:
        return Outcome(False, text + f" Install '{PYTORCH_EXTENSION}' from the Extensions Manager and restart Slicer.")
    if not installer.confirm(text + f"\n\nInstall the '{PYTORCH_EXTENSION}' extension now? Slicer restarts afterwards."):
        return Outcome(False, text + f" Install '{PYTORCH_EXTENSION}' from the Extensions Manager and restart Slicer.")
    if not installer.install_extension(PYTORCH_EXTENSION):
        return Outcome(False, f"The '{PYTORCH_EXTENSION}' extension could not be installed from the extensions "
                              "server; install it from the Extensions Manager.")
    return Outcome(False, f"The '{PYTORCH_EXTENSION}' extension is installed; restart Slicer, then run again.")


@contextlib.contextmanager
def binary_only() -> Iterator[None]:
    """pip in child processes (Slicer's pip runs ``python -m pip`` with this environment) takes wheels only."""
    before = os.environ.get("PIP_ONLY_BINARY")
    os.environ["PIP_ONLY_BINARY"] = ":all:"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PIP_ONLY_BINARY", None)
        else:
            os.environ["PIP_ONLY_BINARY"] = before


def slicer_installer(slicer: Any, confirm: Callable[[str], bool], requester: str = "MuscleQuant") -> Installer:
    """The :class:`Installer` of a running Slicer (``slicer`` is the module, passed in so that this file never
    imports it): ``slicer.packaging.pip_ensure`` where it exists (Slicer >= 5.11), else ``slicer.util.pip_install``."""
    packaging = getattr(slicer, "packaging", None)

    def pip(requirements: list[str], constraints: Path) -> None:
        with binary_only():
            if packaging is not None and hasattr(packaging, "pip_ensure"):
                # We asked already (one dialog listing torch too); our self-tests need the install in testing mode.
                packaging.pip_ensure(requirements, constraints=str(constraints), prompt_install=False,
                                     requester=requester, skip_in_testing=False)
            else:
                slicer.util.pip_install([*requirements, "--constraint", str(constraints)])

    try:
        import PyTorchUtils  # the PyTorch extension's module (on sys.path only when the extension is installed)
    except ImportError:
        torch = None
    else:
        def torch(requirement: str) -> bool:
            return PyTorchUtils.PyTorchUtilsLogic().installTorch(
                askConfirmation=False, torchVersionRequirement=requirement) is not None

    def install_extension(name: str) -> bool:
        return bool(slicer.app.extensionsManagerModel().installExtensionFromServer(name, True))

    app = getattr(slicer, "app", None)
    return Installer(pip=pip, torch=torch, confirm=confirm,
                     install_extension=install_extension if hasattr(app, "extensionsManagerModel") else None)
