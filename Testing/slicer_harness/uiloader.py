"""Build stand-in widget trees from Qt Designer ``.ui`` files (what ``QUiLoader.load`` does in Slicer).

Every ``<widget class=…>`` must be a class the harness models; an unknown class fails the load, so a
``.ui`` using a widget nobody verified cannot pass. Designer properties the stand-in does not model are
kept (``widget.property(name)``) but are not attributes, so code reading them fails loudly. Designer
``<connections>`` are C++ connections: the slot receives every signal argument it declares.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from . import mrmlwidgets, qtcore
from .signals import parameter_count

LAYOUTS = {"QVBoxLayout", "QHBoxLayout", "QFormLayout", "QGridLayout"}
REPO_UI = Path(__file__).resolve().parents[2] / "MuscleQuant" / "Resources" / "UI" / "MuscleQuant.ui"


def widget_classes() -> dict[str, type]:
    classes: dict[str, type] = {}
    for module in (qtcore, mrmlwidgets):
        for name in dir(module):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, qtcore.QWidget):
                classes[name] = value
    return classes


def _value(prop: ET.Element) -> Any:
    child = prop[0]
    tag, text = child.tag, (child.text or "")
    if tag == "bool":
        return text == "true"
    if tag == "number":
        return int(text)
    if tag == "double":
        return float(text)
    if tag == "string":
        return text
    if tag == "stringlist":
        return [s.text or "" for s in child.iter("string")]
    if tag in ("set", "enum"):
        return text
    return None  # rect, size, font…: layout only


def load(path: str | Path) -> qtcore.QWidget:
    root = ET.parse(path).getroot()
    top = root.find("widget")
    classes = widget_classes()
    by_name: dict[str, qtcore.QObject] = {}
    widget = _build(top, None, classes, by_name)
    for connection in root.iter("connection"):
        sender, receiver = by_name[connection.findtext("sender")], by_name[connection.findtext("receiver")]
        signal, slot = connection.findtext("signal"), connection.findtext("slot")
        method = getattr(receiver, slot.split("(")[0])
        arity = parameter_count(slot)

        def relay(*arguments: Any, method: Any = method, arity: int = arity) -> None:
            method(*arguments[:arity])

        sender.connect(signal, relay)
    return widget


def _build(element: ET.Element, parent: qtcore.QObject | None, classes: dict[str, type],
           by_name: dict[str, qtcore.QObject]) -> qtcore.QWidget:
    cls_name = element.get("class")
    if cls_name not in classes:
        raise TypeError(f"the harness has no stand-in for {cls_name} (widget {element.get('name')}): add one "
                        "only after checking the class in Slicer/CTK sources")
    widget = classes[cls_name]()
    widget.setObjectName(element.get("name") or "")
    by_name[widget.name] = widget
    if parent is not None:
        widget.setParent(parent)
    for prop in element.findall("property"):
        _set_property(widget, prop.get("name"), _value(prop))
    for item in element.findall("item"):  # QComboBox entries
        text = item.find("property/string")
        widget.addItem((text.text or "") if text is not None else "")
    for child in element:
        if child.tag == "widget":
            _build(child, widget, classes, by_name)
        elif child.tag == "layout":
            _build_layout(child, widget, classes, by_name)
    return widget


def _build_layout(element: ET.Element, owner: qtcore.QWidget, classes: dict[str, type],
                  by_name: dict[str, qtcore.QObject]) -> qtcore.QLayout:
    layout = getattr(qtcore, element.get("class"))()
    layout.setObjectName(element.get("name") or "")
    by_name[layout.name] = layout
    layout.setParent(owner)
    for item in element.findall("item"):
        for child in item:
            if child.tag == "widget":
                layout.addWidget(_build(child, owner, classes, by_name))
            elif child.tag == "layout":
                _build_layout(child, owner, classes, by_name)
    return layout


def _set_property(widget: qtcore.QObject, name: str, value: Any) -> None:
    if value is None or name in ("geometry", "sizePolicy", "minimumSize", "maximumSize", "font"):
        return
    if name in widget._props:
        if isinstance(value, str) and re.fullmatch(r"\w+::\w+(\|\w+::\w+)*", value):
            widget._props[name] = value  # enum/set text (e.g. ctkPathLineEdit::Dirs|…)
        else:
            setattr(widget, name, value)
    else:
        widget._designer[name] = value
