"""Shared test fixtures: where the real CT files are, and a CLI runner that captures output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MUSCLEQUANT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real CT files of ../shared/data (see its README)."""
    if not (SHARED_DATA / "example_ct.nii.gz").exists():
        pytest.fail(f"real CT test data not found in {SHARED_DATA}; set MUSCLEQUANT_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture
def run_cli(capsys):
    """Run ``musclequant`` in-process; returns (exit code, stdout, stderr)."""
    from MuscleQuantLib.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """A fresh install's model cache: no installed or fetched models, no registry (only shipped starters)."""
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSCLEQUANT_REGISTRY", raising=False)
    return tmp_path / "home"
