"""Stand-ins for the Qt widget classes the modules and their ``.ui`` files use, with PythonQt's Python
surface: Qt properties are attributes (``button.enabled = False``, ``spinBox.value``), setters exist as
methods (``setText``), signals are attributes with ``connect`` (:mod:`.signals`), and the string form
``obj.connect("clicked()", f)`` picks that overload. Setting a property emits the signal the Qt setter
emits (``QSpinBox.setValue`` → ``valueChanged``; ``QComboBox`` selects its first item when the first
item is added, as ``QComboBox::rowsInserted`` does).

Stricter than PythonQt on purpose: setting an attribute that is not a property raises (PythonQt would
silently add a Python attribute, hiding a typo such as ``button.enable = False``).
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .signals import Signal, SignalOverloads


class QObject:
    SIGNALS: dict[str, list[str]] = {"destroyed": ["destroyed()"]}
    PROPERTIES: dict[str, Any] = {"objectName": ""}

    def __init__(self, parent: QObject | None = None):
        object.__setattr__(self, "_props", {})
        object.__setattr__(self, "_children", [])
        object.__setattr__(self, "_parent", None)
        object.__setattr__(self, "_signals", {})
        object.__setattr__(self, "_designer", {})
        for cls in reversed(type(self).__mro__):
            self._props.update(getattr(cls, "PROPERTIES", {}) if "PROPERTIES" in cls.__dict__ else {})
            for name, signatures in cls.__dict__.get("SIGNALS", {}).items():
                self._signals[name] = SignalOverloads(signatures)
        if parent is not None:
            self.setParent(parent)

    # --- PythonQt attribute surface --------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        signals = object.__getattribute__(self, "_signals")
        if name in signals:
            return signals[name]
        props = object.__getattribute__(self, "_props")
        if name in props:
            return props[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        setter = getattr(type(self), "set" + name[0].upper() + name[1:], None)
        if name in self._props and setter is not None:
            setter(self, value)
        elif name in self._props:
            self._props[name] = value
        else:
            raise AttributeError(f"{type(self).__name__} has no property {name!r} (PythonQt would silently "
                                 "create a Python attribute; this is almost always a typo)")

    @property
    def name(self) -> str:  # PythonQt exposes objectName as .name too (slicer.util.childWidgetVariables)
        return self._props["objectName"]

    def setObjectName(self, value: str) -> None:
        self._props["objectName"] = value

    def setParent(self, parent: QObject | None) -> None:
        if self._parent is not None and self in self._parent._children:
            self._parent._children.remove(self)
        object.__setattr__(self, "_parent", parent)
        if parent is not None:
            parent._children.append(self)

    def parent(self) -> QObject | None:
        return self._parent

    def children(self) -> list[QObject]:
        return list(self._children)

    def className(self) -> str:
        return type(self).__name__

    def connect(self, signature: str, slot: Callable[..., Any]) -> bool:
        name = signature.split("(")[0]
        overloads = self._signals[name].overloads
        if signature not in overloads:
            raise KeyError(f"{type(self).__name__} has no signal {signature}")
        return overloads[signature].connect(slot)

    def disconnect(self, signature: str, slot: Callable[..., Any] | None = None) -> bool:
        return self._signals[signature.split("(")[0]].overloads[signature].disconnect(slot)

    def blockSignals(self, block: bool) -> bool:
        previous = any(s.blocked for o in self._signals.values() for s in o.overloads.values())
        for overloads in self._signals.values():
            for signal in overloads.overloads.values():
                signal.blocked = block
        return previous

    def property(self, name: str) -> Any:
        return self._props.get(name, self._designer.get(name))

    def setProperty(self, name: str, value: Any) -> None:
        if name in self._props:
            setattr(self, name, value)
        else:
            self._designer[name] = value

    def _emit(self, name: str, *arguments: Any) -> None:
        self._signals[name].emit(*arguments)


class QWidget(QObject):
    PROPERTIES = {"enabled": True, "visible": True, "toolTip": "", "styleSheet": "", "width": 400, "height": 30}

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        object.__setattr__(self, "_layout", None)

    def setEnabled(self, value: bool) -> None:
        self._props["enabled"] = bool(value)

    def isEnabled(self) -> bool:
        return self._props["enabled"]

    def setVisible(self, value: bool) -> None:
        self._props["visible"] = bool(value)

    def isVisible(self) -> bool:
        return self._props["visible"]

    def show(self) -> None:
        self.setVisible(True)

    def hide(self) -> None:
        self.setVisible(False)

    def setToolTip(self, text: str) -> None:
        self._props["toolTip"] = text

    def setStyleSheet(self, text: str) -> None:
        self._props["styleSheet"] = text

    def layout(self) -> QLayout | None:
        return self._layout

    def setLayout(self, layout: QLayout) -> None:
        object.__setattr__(self, "_layout", layout)
        layout.setParent(self)

    def deleteLater(self) -> None:
        self.setParent(None)


class QLayout(QObject):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(None)
        object.__setattr__(self, "_items", [])
        if isinstance(parent, QWidget):
            parent.setLayout(self)

    def _owner(self) -> QObject | None:
        return self._parent

    def addWidget(self, widget: QWidget, *args: Any) -> None:
        self._items.append(widget)
        if self._owner() is not None:
            widget.setParent(self._owner())

    def addRow(self, *items: Any) -> None:
        for item in items:
            if isinstance(item, QWidget):
                self.addWidget(item)
            elif isinstance(item, QLayout):
                self.addLayout(item)

    def addLayout(self, layout: QLayout, *args: Any) -> None:
        self._items.append(layout)
        if self._owner() is not None:
            layout.setParent(self._owner())

    def addStretch(self, *args: Any) -> None:
        pass

    def setContentsMargins(self, *args: Any) -> None:
        pass

    def widgets(self) -> list[QWidget]:
        return [item for item in self._items if isinstance(item, QWidget)]


class QVBoxLayout(QLayout):
    pass


class QHBoxLayout(QLayout):
    pass


class QFormLayout(QLayout):
    pass


class QGridLayout(QLayout):
    pass


class QAbstractButton(QWidget):
    SIGNALS = {"clicked": ["clicked(bool)", "clicked()"], "toggled": ["toggled(bool)"],
               "pressed": ["pressed()"], "released": ["released()"]}
    PROPERTIES = {"text": "", "checkable": False, "checked": False}

    def setText(self, text: str) -> None:
        self._props["text"] = text

    def setCheckable(self, value: bool) -> None:
        self._props["checkable"] = bool(value)

    def setChecked(self, value: bool) -> None:
        value = bool(value)
        if not self._props["checkable"] or value == self._props["checked"]:
            return
        self._props["checked"] = value
        self._emit("toggled", value)

    def isChecked(self) -> bool:
        return self._props["checked"]

    def click(self) -> None:
        """A user click: ignored when disabled (as in Qt), else toggles a checkable button and emits
        ``clicked(checked)``."""
        if not self.isEnabled() or not self.isVisible():
            return
        if self._props["checkable"]:
            self.setChecked(not self._props["checked"])
        self._emit("clicked", self._props["checked"])


class QPushButton(QAbstractButton):
    def __init__(self, text: str = "", parent: QObject | None = None):
        super().__init__(parent)
        self._props["text"] = text


class QToolButton(QPushButton):
    pass


class QCheckBox(QAbstractButton):
    SIGNALS = {"stateChanged": ["stateChanged(int)"]}
    PROPERTIES = {"checkable": True}

    def setChecked(self, value: bool) -> None:
        changed = bool(value) != self._props["checked"]
        super().setChecked(value)
        if changed:
            self._emit("stateChanged", 2 if value else 0)


class QRadioButton(QCheckBox):
    pass


class QLabel(QWidget):
    PROPERTIES = {"text": "", "wordWrap": False, "textFormat": 0, "openExternalLinks": False}

    def __init__(self, text: str = "", parent: QObject | None = None):
        super().__init__(parent)
        self._props["text"] = text
        object.__setattr__(self, "_pixmap", None)

    def setText(self, text: str) -> None:
        self._props["text"] = str(text)

    def setWordWrap(self, value: bool) -> None:
        self._props["wordWrap"] = bool(value)

    def setPixmap(self, pixmap: QPixmap) -> None:
        object.__setattr__(self, "_pixmap", pixmap)

    def pixmap(self) -> QPixmap | None:
        return self._pixmap


class QLineEdit(QWidget):
    SIGNALS = {"textChanged": ["textChanged(QString)"], "textEdited": ["textEdited(QString)"],
               "editingFinished": ["editingFinished()"], "returnPressed": ["returnPressed()"]}
    PROPERTIES = {"text": "", "placeholderText": "", "readOnly": False}

    def setText(self, text: str) -> None:
        text = str(text)
        if text != self._props["text"]:
            self._props["text"] = text
            self._emit("textChanged", text)

    def setPlaceholderText(self, text: str) -> None:
        self._props["placeholderText"] = text

    def type_text(self, text: str) -> None:
        """What a user typing does: textEdited, textChanged, then editingFinished."""
        self.setText(text)
        self._emit("textEdited", text)
        self._emit("editingFinished")


class QPlainTextEdit(QWidget):
    SIGNALS = {"textChanged": ["textChanged()"]}
    PROPERTIES = {"plainText": "", "readOnly": False, "maximumBlockCount": 0, "placeholderText": ""}

    def setPlainText(self, text: str) -> None:
        self._props["plainText"] = text
        self._emit("textChanged")

    def appendPlainText(self, text: str) -> None:
        lines = self._props["plainText"].split("\n") if self._props["plainText"] else []
        lines += str(text).split("\n")
        limit = self._props["maximumBlockCount"]
        if limit:
            lines = lines[-limit:]
        self.setPlainText("\n".join(lines))

    def toPlainText(self) -> str:
        return self._props["plainText"]

    def clear(self) -> None:
        self.setPlainText("")

    def setReadOnly(self, value: bool) -> None:
        self._props["readOnly"] = bool(value)

    def setMaximumBlockCount(self, value: int) -> None:
        self._props["maximumBlockCount"] = int(value)


class QProgressBar(QWidget):
    SIGNALS = {"valueChanged": ["valueChanged(int)"]}
    PROPERTIES = {"value": 0, "minimum": 0, "maximum": 100, "textVisible": True}

    def setValue(self, value: int) -> None:
        value = int(value)
        if not self._props["minimum"] <= value <= self._props["maximum"]:
            raise ValueError(f"progress {value} outside {self._props['minimum']}..{self._props['maximum']}")
        if value != self._props["value"]:
            self._props["value"] = value
            self._emit("valueChanged", value)

    def reset(self) -> None:
        self._props["value"] = 0


class _AbstractSpinBox(QWidget):
    PROPERTIES = {"value": 0, "minimum": 0, "maximum": 99, "singleStep": 1, "suffix": "", "decimals": 2}
    _convert: Callable[[Any], Any] = int

    def setValue(self, value: Any) -> None:
        if isinstance(value, bool):
            raise TypeError("a spin box value is a number, not a bool")
        value = type(self)._convert(value)
        value = min(max(value, self._props["minimum"]), self._props["maximum"])
        if value != self._props["value"]:
            self._props["value"] = value
            self._emit("valueChanged", value)

    def setMinimum(self, value: Any) -> None:
        self._props["minimum"] = type(self)._convert(value)
        self.setValue(self._props["value"])

    def setMaximum(self, value: Any) -> None:
        self._props["maximum"] = type(self)._convert(value)
        self.setValue(self._props["value"])

    def setRange(self, low: Any, high: Any) -> None:
        self.setMinimum(low)
        self.setMaximum(high)


class QSpinBox(_AbstractSpinBox):
    SIGNALS = {"valueChanged": ["valueChanged(int)", "valueChanged(QString)"]}
    _convert = int


class QDoubleSpinBox(_AbstractSpinBox):
    SIGNALS = {"valueChanged": ["valueChanged(double)", "valueChanged(QString)"]}
    PROPERTIES = {"value": 0.0, "minimum": 0.0, "maximum": 99.99, "singleStep": 1.0}
    _convert = float


class QComboBox(QWidget):
    SIGNALS = {"currentIndexChanged": ["currentIndexChanged(int)", "currentIndexChanged(QString)"],
               "currentTextChanged": ["currentTextChanged(QString)"], "activated": ["activated(int)"]}
    PROPERTIES = {"currentIndex": -1, "editable": False, "count": 0}

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        object.__setattr__(self, "_items", [])  # [text, data]
        object.__setattr__(self, "_editText", "")

    def __getattr__(self, name: str) -> Any:
        if name == "currentText":
            index = self._props["currentIndex"]
            return self._editText if self._props["editable"] else (self._items[index][0] if index >= 0 else "")
        if name == "currentData":
            index = self._props["currentIndex"]
            return self._items[index][1] if index >= 0 else None
        if name == "count":
            return len(self._items)
        return super().__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "currentText":
            self.setCurrentText(value)
        else:
            super().__setattr__(name, value)

    def setEditable(self, value: bool) -> None:
        self._props["editable"] = bool(value)

    def addItem(self, text: str, userData: Any = None) -> None:
        self._items.append([str(text), userData])
        if self._props["currentIndex"] == -1:
            self.setCurrentIndex(0)

    def addItems(self, texts: list[str]) -> None:
        for text in texts:
            self.addItem(text)

    def clear(self) -> None:
        self._items.clear()
        self.setCurrentIndex(-1)

    def itemText(self, index: int) -> str:
        return self._items[index][0]

    def itemData(self, index: int) -> Any:
        return self._items[index][1]

    def findText(self, text: str) -> int:
        return next((i for i, item in enumerate(self._items) if item[0] == text), -1)

    def findData(self, data: Any) -> int:
        return next((i for i, item in enumerate(self._items) if item[1] == data), -1)

    def setCurrentIndex(self, index: int) -> None:
        index = int(index)
        if not -1 <= index < len(self._items):
            index = -1
        if index == self._props["currentIndex"]:
            return
        self._props["currentIndex"] = index
        text = self._items[index][0] if index >= 0 else ""
        object.__setattr__(self, "_editText", text)
        self._signals["currentIndexChanged"].overloads["currentIndexChanged(int)"].emit(index)
        self._signals["currentIndexChanged"].overloads["currentIndexChanged(QString)"].emit(text)
        self._emit("currentTextChanged", text)

    def setCurrentText(self, text: str) -> None:
        index = self.findText(text)
        if index >= 0:
            self.setCurrentIndex(index)
        elif self._props["editable"]:
            object.__setattr__(self, "_editText", str(text))
            self._emit("currentTextChanged", str(text))

    def choose(self, text: str) -> None:
        """What a user picking an entry does (activated, then the index change)."""
        index = self.findText(text)
        if index < 0:
            raise ValueError(f"{self.name} has no entry {text!r}: {[i[0] for i in self._items]}")
        self.setCurrentIndex(index)
        self._emit("activated", index)


class QTableWidget(QWidget):
    pass


class QGroupBox(QWidget):
    PROPERTIES = {"title": "", "checkable": False, "checked": True}


class QFrame(QWidget):
    pass


class QTabWidget(QWidget):
    pass


class QScrollArea(QWidget):
    pass


# ----- non-widgets ----------------------------------------------------------------------------------
class QTimer(QObject):
    """A timer that fires only while :func:`pump` runs (Qt timers fire only in the event loop)."""

    SIGNALS = {"timeout": ["timeout()"]}
    PROPERTIES = {"interval": 0, "singleShot": False, "active": False}
    _all: list[QTimer] = []
    _single_shots: list[tuple[float, Callable[[], Any]]] = []

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        object.__setattr__(self, "_due", 0.0)
        QTimer._all.append(self)

    def setInterval(self, msec: int) -> None:
        self._props["interval"] = int(msec)

    def setSingleShot(self, value: bool) -> None:
        self._props["singleShot"] = bool(value)

    def start(self, msec: int | None = None) -> None:
        if msec is not None:
            self.setInterval(msec)
        self._props["active"] = True
        object.__setattr__(self, "_due", time.monotonic() + self._props["interval"] / 1000.0)

    def stop(self) -> None:
        self._props["active"] = False

    def isActive(self) -> bool:
        return self._props["active"]

    @staticmethod
    def singleShot(msec: int, callable_: Callable[[], Any]) -> None:
        QTimer._single_shots.append((time.monotonic() + msec / 1000.0, callable_))

    @classmethod
    def fire_due(cls) -> int:
        """Fire every timer that is due; returns how many fired."""
        fired = 0
        now = time.monotonic()
        for timer in list(cls._all):
            if timer._props["active"] and now >= timer._due:
                object.__setattr__(timer, "_due", now + timer._props["interval"] / 1000.0)
                if timer._props["singleShot"]:
                    timer._props["active"] = False
                timer._emit("timeout")
                fired += 1
        due = [(t, c) for t, c in cls._single_shots if now >= t]
        cls._single_shots[:] = [(t, c) for t, c in cls._single_shots if now < t]
        for _, callable_ in due:
            callable_()
            fired += 1
        return fired

    @classmethod
    def active_timers(cls) -> list[QTimer]:
        return [t for t in cls._all if t._props["active"]]


class QSettings(QObject):
    """The user's settings file: one store shared by every QSettings() (as Slicer's application
    settings are); the harness keeps it across 'sessions' to test persistence."""

    store: dict[str, Any] = {}

    def value(self, key: str, default: Any = None) -> Any:
        return QSettings.store.get(key, default)

    def setValue(self, key: str, value: Any) -> None:
        QSettings.store[key] = value

    def contains(self, key: str) -> bool:
        return key in QSettings.store

    def remove(self, key: str) -> None:
        QSettings.store.pop(key, None)

    def allKeys(self) -> list[str]:
        return list(QSettings.store)

    def sync(self) -> None:
        pass


class QFile(QObject):
    ReadOnly = 1

    def __init__(self, path: str):
        super().__init__()
        object.__setattr__(self, "_path", str(path))

    def exists(self) -> bool:
        return Path(self._path).is_file()

    def open(self, mode: int) -> bool:
        return self.exists()

    def fileName(self) -> str:
        return self._path

    def close(self) -> None:
        pass


class QPixmap:
    def __init__(self, path: str = "", width: int = 0, height: int = 0):
        self.path = str(path)
        self._size = (width, height)
        if path:
            data = Path(path).read_bytes()[:24]
            if data[:8] != b"\x89PNG\r\n\x1a\n":
                self._size = (0, 0)
            else:
                self._size = struct.unpack(">II", data[16:24])

    def isNull(self) -> bool:
        return self._size == (0, 0)

    def width(self) -> int:
        return self._size[0]

    def height(self) -> int:
        return self._size[1]

    def scaledToWidth(self, width: int, *args: Any) -> QPixmap:
        scaled = QPixmap()
        scaled.path = self.path
        scaled._size = (int(width), int(round(self._size[1] * width / self._size[0]))) if self._size[0] else (0, 0)
        return scaled


class QIcon:
    def __init__(self, path: str = ""):
        self.path = path


class QUrl:
    def __init__(self, text: str = ""):
        self.text = text

    @staticmethod
    def fromLocalFile(path: str) -> QUrl:
        return QUrl("file://" + str(path))

    def toLocalFile(self) -> str:
        return re.sub(r"^file://", "", self.text)

    def toString(self) -> str:
        return self.text


class QDesktopServices:
    opened: list[str] = []

    @staticmethod
    def openUrl(url: QUrl) -> bool:
        QDesktopServices.opened.append(url.toString())
        return True


class QMessageBox(QWidget):
    Ok, Cancel, Yes, No, Retry, Close = 0x400, 0x400000, 0x4000, 0x10000, 0x80000, 0x200000
    NoIcon, Information, Warning, Critical, Question = 0, 1, 2, 3, 4


class QFileDialog(QWidget):
    """Returns the answers the test queued (``QFileDialog.answers``); records each question."""

    answers: list[str] = []
    asked: list[tuple[str, tuple[Any, ...]]] = []

    @staticmethod
    def _answer(kind: str, args: tuple[Any, ...]) -> str:
        QFileDialog.asked.append((kind, args))
        if not QFileDialog.answers:
            raise AssertionError(f"the widget opened a {kind} dialog the test did not expect")
        return QFileDialog.answers.pop(0)

    @staticmethod
    def getSaveFileName(*args: Any) -> str:
        return QFileDialog._answer("getSaveFileName", args)

    @staticmethod
    def getOpenFileName(*args: Any) -> str:
        return QFileDialog._answer("getOpenFileName", args)

    @staticmethod
    def getExistingDirectory(*args: Any) -> str:
        return QFileDialog._answer("getExistingDirectory", args)


class Qt:
    WaitCursor = 3
    ArrowCursor = 0
    AlignLeft = 1
    RichText = 1
    PlainText = 0
    Checked = 2
    Unchecked = 0
    Vertical = 2
    Horizontal = 1
    ShiftModifier = 0x02000000


class QSizePolicy:
    Preferred = 5
    Expanding = 7

    def __init__(self, *args: Any):
        pass


class QApplication:
    @staticmethod
    def processEvents(*args: Any) -> None:
        QTimer.fire_due()


__all__ = [name for name in dir() if name.startswith("Q")] + ["Qt", "Signal"]
