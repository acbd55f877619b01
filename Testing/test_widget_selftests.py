"""Both modules' self-tests (what Slicer's "Reload and Test" runs) executed through the harness: the module
file is loaded and set up as the application does, then ``slicer.selfTests[name]()`` runs the module's
``<Name>Test`` class (``ScriptedLoadableModule.runTest``, Slicer v5.12.3 Base/Python/slicer/
ScriptedLoadableModule.py). ``.ci/run`` runs this file on Python 3.11 and on the Slicer 3.12 package set."""

from __future__ import annotations

import tempfile

import pytest
from slicer_harness import Harness

pytestmark = pytest.mark.slicer


@pytest.fixture
def harness(monkeypatch, tmp_path):
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))  # the shipped starter models, nothing cached
    h = Harness(monkeypatch)
    yield h
    h.close()
    assert not [p for p in root.iterdir() if p.name.startswith(("MuscleQuantTest-", "MuscleQuantSurvivalTest-", "musclequant"))], \
        "the self-test left its work folder behind"


@pytest.mark.parametrize("name", ["MuscleQuant", "MuscleQuantSurvival"])
def test_reload_and_test_runs_the_module_self_test(harness, name):
    """Phantom → starter models with the level found → segment → approve twice (MuscleQuant); simulated
    cohort → Kaplan–Meier and Cox (MuscleQuantSurvival). A failure raises inside the module's test class."""
    harness.open_module(name)
    harness.pump(timeout=120)  # what setup started (the model list) ends first
    harness.slicer.selfTests[name]()
    passed = f"{name} self-test passed"
    assert harness.dialogs_of("delayDisplay")[-1] == passed, harness.dialogs
    assert harness.dialogs_of("errorDisplay") == []
