"""Text I/O names its encoding: Slicer's C++ libraries switch the process locale to "C" (ASCII), so
code relying on the locale default breaks on any non-ASCII character (found the hard way)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("MuscleQuant", "MuscleQuantSurvival", "Testing") for p in (REPO / folder).rglob("*.py")]


def _text_io_without_encoding(path: Path) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        keywords = {k.arg for k in node.keywords}
        if "encoding" in keywords:
            continue
        if name in ("read_text", "write_text"):
            problems.append(f"{path.relative_to(REPO)}:{node.lineno} {name}()")
        elif name == "open" and isinstance(func, ast.Name):
            mode = node.args[1] if len(node.args) > 1 else None
            binary = isinstance(mode, ast.IfExp) or (isinstance(mode, ast.Constant) and "b" in str(mode.value))
            if not binary:
                problems.append(f"{path.relative_to(REPO)}:{node.lineno} open()")
    return problems


def test_text_io_names_its_encoding():
    problems = [p for path in SOURCES for p in _text_io_without_encoding(path)]
    assert not problems, "add encoding='utf-8':\n" + "\n".join(problems)


def test_long_inline_label_names_are_not_taken_for_a_file():
    """58 inline names exceed the OS file-name limit; that must read as names, not crash (it did)."""
    from MuscleQuantLib.evaluation.cases import parse_label_names as evaluation_names
    from MuscleQuantLib.quantify.cli import parse_label_names as quantify_names

    text = ",".join(f"{i}=a_rather_long_muscle_name_{i}_left" for i in range(1, 59))
    assert quantify_names(text)[58] == "a_rather_long_muscle_name_58_left"
    assert evaluation_names(text)[1] == "a_rather_long_muscle_name_1_left"
