"""The harness itself behaves like PythonQt and Slicer where the modules depend on it (so the widget tests
mean something): slot argument counts, first-overload connects, .ui names, node combo box emissions."""

from __future__ import annotations

import functools

import pytest
from slicer_harness import Harness, qtcore, uiloader
from slicer_harness.signals import python_argument_count

pytestmark = pytest.mark.slicer


class Slots:
    def __init__(self):
        self.calls = []

    def onRun(self, sliceIndex=None):
        self.calls.append(("onRun", sliceIndex))

    def onNothing(self):
        self.calls.append(("onNothing",))

    def onAnything(self, *args):
        self.calls.append(("onAnything", args))


def test_slots_get_as_many_arguments_as_they_accept_defaults_included():
    """PythonQtSignalTarget::call: co_argcount (minus self) arguments, all for *args or non-functions."""
    slots = Slots()
    button = qtcore.QPushButton()
    button.clicked.connect(slots.onRun)
    button.clicked.connect(slots.onNothing)
    button.clicked.connect(slots.onAnything)
    button.clicked.connect(lambda: slots.calls.append(("lambda0",)))
    button.clicked.connect(lambda checked, extra=1: slots.calls.append(("lambda2", checked, extra)))
    button.clicked.connect(functools.partial(slots.calls.append))
    button.click()
    assert slots.calls == [("onRun", False), ("onNothing",), ("onAnything", (False,)), ("lambda0",),
                           ("lambda2", False, 1), False]
    assert python_argument_count(slots.onRun) == 1 and python_argument_count(functools.partial(print)) is None


def test_attribute_connect_uses_the_first_overload_and_string_connect_picks_one():
    combo = qtcore.QComboBox()
    got = []
    combo.currentIndexChanged.connect(lambda value: got.append(("attr", value)))
    combo.connect("currentIndexChanged(QString)", lambda value: got.append(("str", value)))
    combo.addItems(["a", "b"])
    combo.choose("b")
    assert got == [("attr", 0), ("str", "a"), ("attr", 1), ("str", "b")]


def test_disabled_button_ignores_clicks_and_unknown_properties_fail():
    button = qtcore.QPushButton()
    hits = []
    button.clicked.connect(lambda: hits.append(1))
    button.enabled = False
    button.click()
    assert hits == []
    with pytest.raises(AttributeError, match="typo"):
        button.enable = True
    with pytest.raises(AttributeError):
        button.noSuchProperty  # noqa: B018


def test_ui_names_come_from_the_ui_file_only(monkeypatch):
    harness = Harness(monkeypatch)
    import slicer

    widget = slicer.util.loadUI(str(uiloader.REPO_UI))
    ui = slicer.util.childWidgetVariables(widget)
    assert ui.runButton.text == "Run"
    with pytest.raises(AttributeError):
        ui.runButon  # noqa: B018 (a typo must fail, as childWidgetVariables makes no such attribute)
    harness.close()


def test_node_combo_box_emits_like_qmrmlnodecombobox(monkeypatch):
    """setMRMLScene selects the existing node without emitting; later additions/removals emit."""
    harness = Harness(monkeypatch)
    slicer = harness.slicer
    first = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "first")
    from slicer_harness.mrmlwidgets import qMRMLNodeComboBox

    combo = qMRMLNodeComboBox()
    combo.nodeTypes = ["vtkMRMLScalarVolumeNode"]
    combo.noneEnabled = False
    seen = []
    combo.currentNodeChanged.connect(lambda node: seen.append(node.GetName() if node else None))
    combo.setMRMLScene(slicer.mrmlScene)
    assert combo.currentNode().GetName() == "first" and seen == []
    slicer.mrmlScene.RemoveNode(first)
    assert seen == [None] and combo.currentNode() is None
    slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "second")
    assert seen == [None, "second"]
    harness.close()


def test_timers_fire_only_in_the_pump(monkeypatch):
    harness = Harness(monkeypatch)
    timer = qtcore.QTimer()
    ticks = []
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    assert ticks == []
    harness.pump(lambda: len(ticks) >= 3, timeout=5)
    timer.stop()
    harness.close()
