"""First-use dependency plan for the Slicer module (the Qt confirmation dialog lives in the module file).

Nothing is installed at import. At first use the module asks :func:`plan` what is missing; torch is
installed through the PyTorch extension's ``PyTorchUtils`` (it picks the CUDA build for the machine),
the rest with ``slicer.util.pip_install`` after the user confirmed the listed packages. SimpleITK and
numpy belong to Slicer: they are never installed or upgraded from PyPI, and the pip call carries a
constraints file pinning Slicer's own versions, so no dependency can pull a replacement either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

# Import name ↔ distribution name and the range tested together (pyproject.toml "dependencies").
REQUIREMENTS: dict[str, str] = {
    "monai": ">=1.6,<1.7",
    "lifelines": ">=0.30,<0.31",
    "scipy": ">=1.13,<2",
    "pandas": ">=2.2,<3",
    "matplotlib": ">=3.9,<4",
    "safetensors": ">=0.4,<1",
    "openpyxl": ">=3.1,<4",
    "jsonschema": ">=4.20,<5",
    "einops": ">=0.7,<1",
    "scikit-learn": ">=1.5,<2",
    "scikit-survival": ">=0.28,<0.29",
}
# Built from source against the installed numpy: PyRadiomics 3.0.1 ships no wheel for current Pythons
# and its build needs numpy and versioneer present (pip install --no-build-isolation).
SOURCE_BUILDS: dict[str, str] = {"pyradiomics": "==3.0.1"}
BUILD_TOOLS = ("versioneer",)
TORCH_REQUIREMENT = ">=2.4"
SLICER_OWNED = ("numpy", "SimpleITK")  # shipped by Slicer; replacing them breaks Slicer itself
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def _version_tuple(text: str) -> tuple[int, ...]:
    match = _VERSION.match(text)
    return tuple(int(g or 0) for g in match.groups()) if match else (0,)


def satisfies(version: str, spec: str) -> bool:
    """Whether ``version`` meets a simple ``>=a,<b`` specifier (all our requirements use only these)."""
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


@dataclass
class InstallPlan:
    """What first use has to do; empty lists mean nothing."""

    torch: str | None = None  # a version requirement when torch must be installed (PyTorchUtils)
    pip: list[str] = field(default_factory=list)  # "name>=a,<b" requirement strings
    source_builds: list[str] = field(default_factory=list)  # built with --no-build-isolation after BUILD_TOOLS
    slicer_owned_problems: list[str] = field(default_factory=list)  # reported, never fixed by pip

    @property
    def needed(self) -> bool:
        return bool(self.torch or self.pip or self.source_builds)

    def describe(self) -> str:
        """The text of the confirmation dialog."""
        lines = []
        if self.torch:
            lines.append(f"PyTorch {self.torch} (installed by the PyTorch extension for this computer's GPU/CPU)")
        lines += [f"{requirement} (from PyPI)" for requirement in self.pip]
        lines += [f"{requirement} (built from source, needs a C compiler)" for requirement in self.source_builds]
        text = "MuscleQuant needs these Python packages:\n  " + "\n  ".join(lines) if lines else "Nothing to install."
        if self.slicer_owned_problems:
            text += "\n\nNot installed (they belong to Slicer):\n  " + "\n  ".join(self.slicer_owned_problems)
        return text


def plan(version_of: Callable[[str], str] = metadata.version) -> InstallPlan:
    """Compare installed distributions with the requirements; ``version_of`` is injectable for tests."""
    result = InstallPlan()
    try:
        if not satisfies(version_of("torch"), TORCH_REQUIREMENT):
            result.torch = TORCH_REQUIREMENT
    except metadata.PackageNotFoundError:
        result.torch = TORCH_REQUIREMENT
    result.pip = _unsatisfied(REQUIREMENTS, version_of)
    result.source_builds = _unsatisfied(SOURCE_BUILDS, version_of)
    for name in SLICER_OWNED:
        try:
            version_of(name)
        except metadata.PackageNotFoundError:
            result.slicer_owned_problems.append(f"{name} is missing from this Slicer: reinstall Slicer")
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
    """pip constraints pinning Slicer's own numpy and SimpleITK to the versions already installed."""
    lines = []
    for name in SLICER_OWNED:
        try:
            lines.append(f"{name}=={version_of(name)}")
        except metadata.PackageNotFoundError:
            continue
    return "\n".join(lines) + "\n"


def pip_arguments(install: InstallPlan, constraints_file: str | Path) -> list[str]:
    """Arguments for ``slicer.util.pip_install``: the confirmed packages under the constraints file."""
    for requirement in install.pip:
        name = re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0]
        if name.lower() in (n.lower() for n in SLICER_OWNED):
            raise ValueError(f"refusing to install Slicer's own {name} from PyPI")
    return [*install.pip, "--constraint", str(constraints_file)]


def source_build_arguments(install: InstallPlan, constraints_file: str | Path) -> list[list[str]]:
    """The pip calls for source builds: the build tools first, then each package without build isolation."""
    if not install.source_builds:
        return []
    return [[*BUILD_TOOLS, "--constraint", str(constraints_file)],
            ["--no-build-isolation", *install.source_builds, "--constraint", str(constraints_file)]]
