"""Extension packaging: CMake lists match the module folders, .ui files are well-formed and hold every
object the widget code names, metadata and ExtensionsIndex entry are complete, module files stay thin.

When this fails because a file is missing from a CMakeLists, run ``python Testing/update_cmake_lists.py``.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import update_cmake_lists as ucl

REPO = Path(__file__).resolve().parents[1]
MODULES = ucl.MODULES
# Custom widgets a .ui may use and the Slicer/CTK source that defines them (checked in v5.10.0 and v5.12.3)
KNOWN_CUSTOM_WIDGETS = {
    "qMRMLWidget": "Libs/MRML/Widgets/qMRMLWidget.h",
    "qMRMLNodeComboBox": "Libs/MRML/Widgets/qMRMLNodeComboBox.h",
    "qMRMLTableView": "Libs/MRML/Widgets/qMRMLTableView.h",
    "qMRMLSegmentEditorWidget": "Modules/Loadable/Segmentations/Widgets/qMRMLSegmentEditorWidget.h",
    "ctkCollapsibleButton": "CTK Libs/Widgets/ctkCollapsibleButton.h (used in Slicer's module .ui files)",
    "ctkPathLineEdit": "CTK Libs/Widgets/ctkPathLineEdit.h (used in ScenePerformance.ui)",
}
ALLOWED_MODULE_IMPORTS = {"qt", "ctk", "vtk", "slicer", "os", "shutil", "tempfile", "pathlib"}
# ExtensionsIndex catalog entry schema (Slicer/ExtensionsIndex schemas/slicer-extension-catalog-entry-schema-v1.0.1/2)
CATALOG_REQUIRED = {"$schema", "category", "scm_url"}
CATALOG_ALLOWED = CATALOG_REQUIRED | {"scm_revision", "scm_type", "build_dependencies", "build_subdirectory",
                                     "enabled", "tier", "dicom_support_rule"}


# ----- checkers (parameterised by path so the negative tests can feed broken copies) -----------------
def ui_problems(ui_path: Path) -> tuple[set[str], list[str]]:
    """(object names, problems) of a Qt Designer file."""
    try:
        root = ET.parse(ui_path).getroot()
    except ET.ParseError as exc:
        return set(), [f"{ui_path.name}: not well-formed XML: {exc}"]
    problems = []
    if root.tag != "ui":
        problems.append(f"{ui_path.name}: root element is <{root.tag}>, not <ui>")
    names = {w.get("name") for w in root.iter() if w.tag in ("widget", "layout", "spacer") and w.get("name")}
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    used = {w.get("class") for w in root.iter("widget")}
    standard = {c for c in used if c.startswith("Q")}
    for cls in sorted(used - standard):
        if cls not in declared:
            problems.append(f"{ui_path.name}: custom widget {cls} is not declared in <customwidgets>")
        if cls not in KNOWN_CUSTOM_WIDGETS:
            problems.append(f"{ui_path.name}: {cls} is not a widget we verified against Slicer's source")
    for connection in root.iter("connection"):
        for end in ("sender", "receiver"):
            if connection.findtext(end) not in names:
                problems.append(f"{ui_path.name}: connection {end} {connection.findtext(end)} does not exist")
    return names, problems


def ui_references(py_path: Path) -> set[str]:
    """Every ``self.ui.<name>`` the widget code uses."""
    return set(re.findall(r"\bself\.ui\.([A-Za-z_]\w*)", py_path.read_text(encoding="utf-8")))


def reference_problems(py_path: Path, ui_path: Path) -> list[str]:
    names, problems = ui_problems(ui_path)
    missing = sorted(ui_references(py_path) - names)
    return problems + [f"{py_path.name} uses self.ui.{n}, which {ui_path.name} does not define" for n in missing]


# ----- the real tree ----------------------------------------------------------------------------------
@pytest.mark.parametrize("module", MODULES)
def test_cmake_lists_every_file(module: str) -> None:
    problems = ucl.differences(module)
    assert not problems, "\n".join(problems) + "\nrun: python Testing/update_cmake_lists.py"


@pytest.mark.parametrize("module", MODULES)
def test_module_cmake_uses_slicer_macros(module: str) -> None:
    text = (REPO / module / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "slicerMacroBuildScriptedModule(" in text and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    assert f"set(MODULE_NAME {module})" in text


@pytest.mark.parametrize("module", MODULES)
def test_ui_is_well_formed_and_matches_widget_code(module: str) -> None:
    ui = REPO / module / "Resources" / "UI" / f"{module}.ui"
    py = REPO / module / f"{module}.py"
    assert ui_references(py), "the widget should use its .ui"
    assert not reference_problems(py, ui)
    assert f'self.resourcePath("UI/{module}.ui")' in py.read_text(encoding="utf-8")


@pytest.mark.parametrize("module", MODULES)
def test_module_icon(module: str) -> None:
    from PIL import Image

    with Image.open(REPO / module / "Resources" / "Icons" / f"{module}.png") as image:
        assert image.size == (128, 128)


@pytest.mark.parametrize("module", MODULES)
def test_module_file_is_thin_and_imports_nothing_heavy(module: str) -> None:
    """Top-level imports are Slicer/Qt/stdlib only: packages load at first use, never at import."""
    path = REPO / module / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 11))
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                assert name.split(".")[0] in ALLOWED_MODULE_IMPORTS, f"{path.name} imports {name} at module level"
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    assert {module, f"{module}Widget", f"{module}Logic", f"{module}Test"} <= classes


def test_lib_packages_never_import_qt() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(qt|ctk|PythonQt|slicer\.qt)\b", re.M)
    for lib in (REPO / "MuscleQuant" / "MuscleQuantLib", REPO / "MuscleQuantSurvival" / "MuscleQuantSurvivalLib"):
        for path in lib.rglob("*.py"):
            assert not pattern.search(path.read_text(encoding="utf-8")), f"{path} imports Qt"


def test_bridge_imports_slicer_only_inside_functions() -> None:
    for path in (REPO / "MuscleQuant" / "MuscleQuantLib" / "slicer_bridge").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in ("slicer", "vtk", "qt") for n in names), f"{path.name}: {names}"


def test_extension_metadata() -> None:
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf"set\(EXTENSION_{key} ", text), key
    assert re.search(r'set\(EXTENSION_DEPENDS "?PyTorch"?\)', text)
    for module in MODULES:
        assert f"add_subdirectory({module})" in text
    assert "Resources/Icons/MuscleQuant.png" in text and (REPO / "Resources" / "Icons" / "MuscleQuant.png").is_file()


def test_extensions_index_entry() -> None:
    entry = json.loads((REPO / "MuscleQuant.json").read_text(encoding="utf-8"))
    assert CATALOG_REQUIRED <= set(entry) and set(entry) <= CATALOG_ALLOWED
    assert entry["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.1.json#")
    assert entry["build_dependencies"] == ["PyTorch"]
    category = re.search(r'set\(EXTENSION_CATEGORY "([^"]+)"\)', (REPO / "CMakeLists.txt").read_text(encoding="utf-8")).group(1)
    assert entry["category"] == category
    assert entry["scm_url"].startswith("https://github.com/") and 1 <= entry["tier"] <= 5


# ----- the checks catch what they should (negative tests on copies) -----------------------------------
def test_missing_file_is_reported(tmp_path, monkeypatch) -> None:
    shutil.copytree(REPO / "MuscleQuantSurvival", tmp_path / "MuscleQuantSurvival",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "MuscleQuantSurvival" / "MuscleQuantSurvivalLib" / "new_analysis.py").write_text("", encoding="utf-8")
    (tmp_path / "MuscleQuantSurvival" / "Resources" / "Icons" / "extra.png").write_bytes(b"")
    monkeypatch.setattr(ucl, "REPO", tmp_path)
    problems = ucl.differences("MuscleQuantSurvival")
    assert "MuscleQuantSurvival/CMakeLists.txt SCRIPTS is missing MuscleQuantSurvivalLib/new_analysis.py" in problems
    assert "MuscleQuantSurvival/CMakeLists.txt RESOURCES is missing Resources/Icons/extra.png" in problems
    ucl.update("MuscleQuantSurvival")  # the script fixes it
    assert ucl.differences("MuscleQuantSurvival") == []


def test_malformed_ui_and_unknown_object_are_reported(tmp_path) -> None:
    module_ui = REPO / "MuscleQuant" / "Resources" / "UI" / "MuscleQuant.ui"
    broken = tmp_path / "broken.ui"
    broken.write_text(module_ui.read_text(encoding="utf-8").replace("</ui>", ""), encoding="utf-8")
    assert "not well-formed" in ui_problems(broken)[1][0]
    widget_code = tmp_path / "Widget.py"
    widget_code.write_text("class W:\n    def f(self):\n        self.ui.runButton.click()\n        self.ui.noSuchButton.click()\n", encoding="utf-8")
    assert reference_problems(widget_code, module_ui) == [
        "Widget.py uses self.ui.noSuchButton, which MuscleQuant.ui does not define"]
    undeclared = tmp_path / "undeclared.ui"
    undeclared.write_text('<ui version="4.0"><widget class="qMRMLWidget" name="W"><widget class="ctkSliderWidget" '
                          'name="s"/></widget></ui>', encoding="utf-8")
    assert len(ui_problems(undeclared)[1]) == 3  # qMRMLWidget and ctkSliderWidget undeclared, ctkSlider unverified
