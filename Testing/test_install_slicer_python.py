"""The Slicer modules' first-use install on Slicer's own Python (issue 13, "Slicer's Python in CI").

Run by ``.ci/run``'s Python 3.12 stage in a venv holding Slicer 5.12.3's bundled packages, named in
``MUSCLEQUANT_SLICER_PACKAGES`` (``numpy==2.4.6 scipy==1.17.1 ...``); elsewhere these tests skip. The
first test really installs, with wheels only, what segment, quantify and cohort need, through
``install.ensure`` exactly as the module does, and checks that Slicer's packages keep their versions.

torch is the one exception: in Slicer it comes from the PyTorch extension (PyTorchUtils), and on Linux
PyPI's torch pulls several GB of CUDA wheels, so here the install is told a torch is present (the
extension's) and installs MONAI, the only package needing torch, without dependencies; ``pip check`` then
must find nothing wrong but the absent torch.

The second test resolves the same plan, without installing, for Slicer 5.10.0's and 5.12.3's package
sets on Windows and macOS too (``pip install --dry-run --only-binary :all: --platform ...``;
``MUSCLEQUANT_CHECK_PLATFORMS=1``). pip evaluates environment markers for the machine it runs on, so a
dependency declared only for another platform is not seen; the wheels of every named package are.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from MuscleQuantLib.slicer_bridge import install

# Bundled Python packages of the Slicer releases we support (SuperBuild/External_python-*.cmake and
# External_SimpleITK.cmake at the v5.10.0 and v5.12.3 tags).
SLICER_PACKAGES = {
    "5.10.0": {"numpy": "2.0.2", "scipy": "1.13.1", "SimpleITK": "2.5.2", "pydicom": "2.4.4"},
    "5.12.3": {"numpy": "2.4.6", "scipy": "1.17.1", "SimpleITK": "2.5.5", "pydicom": "3.0.2", "highdicom": "0.27.0"},
}
# Slicer's own minimum macOS is 13.0 (CMAKE_OSX_DEPLOYMENT_TARGET in its dashboard script).
PLATFORMS = {"linux": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
             "windows": ("win_amd64",), "macos-arm64": ("macosx_13_0_arm64",),
             "macos-x86_64": ("macosx_13_0_x86_64", "macosx_12_0_x86_64", "macosx_11_0_x86_64",
                              "macosx_10_15_x86_64", "macosx_10_13_x86_64", "macosx_10_9_x86_64")}
TORCH_STAND_IN = "2.13.0"  # what the PyTorch extension would have installed (not installed here)


def _pinned() -> dict[str, str]:
    text = os.environ.get("MUSCLEQUANT_SLICER_PACKAGES")
    if not text:
        pytest.skip("runs in .ci/run's Python 3.12 stage (MUSCLEQUANT_SLICER_PACKAGES names Slicer's packages)")
    return dict(item.split("==") for item in text.split())


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=900)


def test_first_use_install_on_slicers_package_set_keeps_slicers_packages():
    pinned = _pinned()
    assert sys.version_info[:2] == (3, 12), "Slicer 5.10 and 5.12 run Python 3.12"
    assert {name: metadata.version(name) for name in pinned} == pinned, "the venv must start as Slicer ships"

    def version_of(name: str) -> str:
        return TORCH_STAND_IN if name == "torch" else metadata.version(name)

    def pip(requirements: list[str], constraints: Path) -> None:
        needs_torch = [r for r in requirements if install.requirement_name(r) in install.TORCH_DEPENDENT]
        rest = [r for r in requirements if r not in needs_torch]
        for extra, group in (([], rest), (["--no-deps"], needs_torch)):
            if group:
                done = _pip("install", "-q", "--only-binary", ":all:", *extra, *group, "--constraint", str(constraints))
                assert done.returncode == 0, done.stderr[-3000:]

    def no_torch_here(requirement: str) -> bool:
        raise AssertionError("torch is the PyTorch extension's; the stand-in says it is installed")

    installer = install.Installer(pip=pip, torch=no_torch_here, confirm=lambda text: True, version_of=version_of)
    for purpose in ("segment", "cohort"):
        outcome = install.ensure(purpose, installer, ask=False)
        assert outcome.ok, outcome.message
        assert not install.plan(purpose, version_of).needed
    assert {name: metadata.version(name) for name in pinned} == pinned, "Slicer's packages were replaced"
    # Expected gaps: torch (the extension's) and the engine-only deepsurv packages musclequant's own
    # metadata names (CI installs the repo with --no-deps); nothing the modules' plans install may be broken.
    engine_only = tuple(f"requires {name}," for name in install.ENGINE_ONLY)
    problems = [line for line in _pip("check").stdout.splitlines() if line.strip() and "requires torch," not in line
                and not (line.startswith("musclequant ") and line.endswith("which is not installed.")
                         and any(gap in line for gap in engine_only))]
    assert not problems, problems
    imports = "import lifelines, pandas, matplotlib, jsonschema, safetensors, openpyxl, einops, SimpleITK, scipy"
    done = subprocess.run([sys.executable, "-c", imports], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_install_plan_resolves_to_wheels_for_slicer_5_10_and_5_12_on_every_platform(tmp_path):
    """Slicer 5.10.0 (numpy 2.0.2, scipy 1.13.1) and 5.12.3, Python 3.12, Linux/Windows/macOS: pip resolves the
    modules' plan with wheels only under each release's pins, and numpy and scipy stay exactly Slicer's (a
    resolution, not an install: 5.10.0's set is never installed here, which keeps the stage short)."""
    _pinned()
    assert SLICER_PACKAGES["5.10.0"]["numpy"] == "2.0.2" and SLICER_PACKAGES["5.10.0"]["scipy"] == "1.13.1"
    if os.environ.get("MUSCLEQUANT_CHECK_PLATFORMS") != "1":
        pytest.skip("MUSCLEQUANT_CHECK_PLATFORMS=1 resolves the plan for Windows and macOS too")
    wanted = {name: spec for requirements, _ in install.PURPOSES.values() for name, spec in requirements.items()}
    plain = [f"{n}{s}" for n, s in wanted.items() if n not in install.TORCH_DEPENDENT]
    needs_torch = [f"{n}{s}" for n, s in wanted.items() if n in install.TORCH_DEPENDENT]
    runs = {}
    for version, packages in SLICER_PACKAGES.items():
        constraints = tmp_path / f"slicer-{version}.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in packages.items()), encoding="utf-8")
        for platform, tags in PLATFORMS.items():
            # Intel macOS: no onnxruntime wheel, so the plan there leaves ONNX out (install.INTEL_MAC)
            plain_here = [r for r in plain if platform != "macos-x86_64"
                          or install.requirement_name(r) not in install.ONNX]
            for kind, group, extra in (("deps", plain_here, []), ("no-deps", needs_torch, ["--no-deps"])):
                report = tmp_path / f"{version}-{platform}-{kind}.json"
                command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q",
                           "--only-binary", ":all:", "--python-version", "3.12",
                           *(f"--platform={tag}" for tag in tags),
                           "--target", str(tmp_path / "target"), "--report", str(report), *extra, *group,
                           "--constraint", str(constraints)]
                runs[(version, platform, kind, report, tuple(group))] = subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failures = []
    for (version, platform, kind, report, group), process in runs.items():
        _, err = process.communicate(timeout=900)
        if process.returncode != 0:
            failures.append(f"Slicer {version} {platform} {kind}: {err.strip().splitlines()[-1:]}")
            continue
        chosen = {_canonical(i["metadata"]["name"]): i["metadata"]["version"]
                  for i in json.loads(report.read_text(encoding="utf-8"))["install"]}
        for name, have in SLICER_PACKAGES[version].items():
            if chosen.get(_canonical(name), have) != have:
                failures.append(f"Slicer {version} {platform}: {name} {chosen[_canonical(name)]} instead of {have}")
        if kind == "deps":  # pandas needs numpy, lifelines scipy: both must resolve to exactly Slicer's build
            for name in ("numpy", "scipy"):
                if chosen.get(name) != SLICER_PACKAGES[version][name]:
                    failures.append(f"Slicer {version} {platform}: {name} resolved to {chosen.get(name)}, "
                                    f"not Slicer's {SLICER_PACKAGES[version][name]}")
        missing = {_canonical(install.requirement_name(r)) for r in group} - set(chosen)
        if missing:
            failures.append(f"Slicer {version} {platform} {kind}: not resolved {sorted(missing)}")
    assert not failures, "\n".join(failures)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
