"""Issue 16, start-up: what a command imports before it works (module sets, not timings).

MONAI's package import alone took 3–4 s and torch 2–4 s of every cold command; ``musclequant --help`` paid
for ``MuscleQuantLib.quantify`` through ``find_spec``. These tests fail when such an import comes back.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from MuscleQuantLib.models.networks import SIGNATURES, live_signature


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_help_and_the_command_table_import_no_heavy_package():
    loaded = _modules_after("from MuscleQuantLib.cli import build_parser\nbuild_parser('')\n"
                            "from MuscleQuantLib.cli import available_commands\nassert len(available_commands()) >= 13")
    heavy = {"torch", "monai", "scipy", "SimpleITK", "pandas", "matplotlib", "MuscleQuantLib.quantify"}
    assert not heavy & loaded, heavy & loaded


@pytest.mark.parametrize("command", ["segment", "find-level", "models", "train"])
def test_building_a_command_parser_imports_neither_torch_nor_monai(command):
    loaded = _modules_after(f"from MuscleQuantLib.cli import build_parser\nbuild_parser({command!r})")
    assert not {"torch", "monai"} & loaded


def test_reading_and_checking_a_model_card_imports_neither_torch_nor_monai(tmp_path):
    from models_helpers import make_model

    model = make_model(tmp_path / "m")
    loaded = _modules_after("from MuscleQuantLib.models.card import read_card\n"
                            "from MuscleQuantLib.models.modelfile import check_files\n"
                            f"card = read_card({str(model)!r})\ncheck_files({str(model)!r}, card)")
    assert not {"torch", "monai"} & loaded


def test_the_segment_path_imports_no_torch_until_a_model_is_run():
    loaded = _modules_after("import MuscleQuantLib.inference.segment, MuscleQuantLib.levels.find, "
                            "MuscleQuantLib.inference.runtime, MuscleQuantLib.inference.window")
    assert not {"torch", "monai"} & loaded


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_card_checks_use_the_live_constructor_keywords(name):
    """The static keyword table that lets cards be checked without MONAI equals the constructors' own."""
    from MuscleQuantLib.networks import NETWORKS

    assert set(SIGNATURES) == set(NETWORKS)
    assert SIGNATURES[name] == live_signature(NETWORKS[name])
