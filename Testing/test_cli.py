"""The command line skeleton: help, version, subcommand help, JSON progress protocol, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from MuscleQuantLib import __version__
from MuscleQuantLib.cli import build_parser


def test_version_and_help(run_cli, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli("--version")
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        run_cli("--help")
    text = capsys.readouterr().out
    for command in ("phantom", "info", "convert"):
        assert command in text


def test_command_table_matches_the_command_modules():
    """The central table's help is what --help lists; each module's Command must agree with it."""
    from MuscleQuantLib.cli import available_commands, load_command

    for name, (_, help_text) in available_commands().items():
        command = load_command(name)
        assert command.name == name and command.help == help_text, name


def test_help_does_not_import_torch():
    """``musclequant --help`` stays fast: no torch/MONAI import until a command needs it."""
    code = "import sys; from MuscleQuantLib.cli import build_parser; build_parser(''); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_every_subcommand_has_its_own_help(capsys):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert len(subparsers.choices) >= 3
    for name, sub in subparsers.choices.items():
        help_text = sub.format_help()
        assert name in help_text and "--progress" in help_text


def test_no_command_prints_help_and_fails(run_cli):
    code, out, _ = run_cli()
    assert code == 2 and "usage" in out


def test_json_progress_is_one_object_per_line(tmp_path, run_cli):
    code, out, err = run_cli("phantom", "--cohort", "20", "--no-images", "--seed", "3", "--out", tmp_path, "--progress", "json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert all({"stage", "fraction", "message"} <= set(r) for r in records)
    assert records[-1]["stage"] == "done" and records[-1]["result"]["clinical"].endswith("clinical.csv")


def test_global_options_work_before_and_after_the_subcommand(tmp_path, run_cli):
    code_before, out_before, _ = run_cli("--progress", "none", "phantom", "--cohort", "5", "--no-images", "--out", tmp_path / "a")
    code_after, out_after, _ = run_cli("phantom", "--cohort", "5", "--no-images", "--out", tmp_path / "b", "--progress", "none")
    assert code_before == code_after == 0 and out_before == out_after == ""


def test_console_script_and_module_entry_point_run(tmp_path):
    """The installed ``musclequant`` script and ``python -m MuscleQuantLib`` (what Slicer calls) both work."""
    result = subprocess.run([sys.executable, "-m", "MuscleQuantLib", "--version"], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0 and __version__ in result.stdout
    script = subprocess.run(["musclequant", "--version"], capture_output=True, text=True, encoding="utf-8", timeout=120,
                            env={"PATH": str(__import__("pathlib").Path(sys.executable).parent)})
    assert script.returncode == 0 and __version__ in script.stdout


def test_usage_error_names_the_field(tmp_path, run_cli):
    code, _, err = run_cli("phantom", "--no-images", "--out", tmp_path)
    assert code == 2 and "--no-images" in err
    code, _, err = run_cli("phantom", "--anatomy", "l3", "--n", "0", "--out", tmp_path)
    assert code == 2 and "--n" in err
