"""The README's install works on a fresh machine: CI runs the README test command verbatim, and the
install part of that command, run into a brand-new virtual environment, gives a working
``musclequant`` whose radiomic features equal this environment's (PyRadiomics built from source)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

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
    assert install_tests == install_demo.replace("-e .", '-e ".[test]"'), "the two README installs must match"
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
