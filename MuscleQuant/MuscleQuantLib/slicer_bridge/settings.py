"""Widget choices that persist between Slicer sessions (Slicer's application settings, ``qt.QSettings``).

Each field names a widget of the ``.ui``, the Qt property that holds the choice and the settings key;
the module restores them at setup and saves them when they change. ``settings`` is any object with
``value(key, default)``/``setValue(key, value)`` — no Qt import here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Field:
    widget: str  # attribute of the widget's ``ui``
    prop: str  # "currentPath", "text", "value", "checked" or "currentData" (combo boxes, by item data)
    key: str
    default: Any = None


MUSCLEQUANT = (
    Field("caseStorePathLineEdit", "currentPath", "MuscleQuant/CaseStorePath", str(Path.home() / "MuscleQuantCases")),
    Field("approverLineEdit", "text", "MuscleQuant/Approver", ""),
    Field("presetComboBox", "currentData", "MuscleQuant/Preset", None),
    Field("deviceComboBox", "currentText", "MuscleQuant/Device", "auto"),
    Field("modelPathLineEdit", "currentPath", "MuscleQuant/ModelFolder", ""),
    Field("trainMinutesSpinBox", "value", "MuscleQuant/TrainMinutes", 30.0),
    Field("batchFolderPathLineEdit", "currentPath", "MuscleQuant/BatchFolder", ""),
)
SURVIVAL = (
    Field("clinicalPathLineEdit", "currentPath", "MuscleQuantSurvival/ClinicalTable", ""),
    Field("measurementsPathLineEdit", "currentPath", "MuscleQuantSurvival/MeasurementsTable", ""),
    Field("caseStorePathLineEdit", "currentPath", "MuscleQuant/CaseStorePath", str(Path.home() / "MuscleQuantCases")),
    Field("outputPathLineEdit", "currentPath", "MuscleQuantSurvival/OutputFolder", ""),
)
# Advanced choices without a widget (set in the Python console or the settings file)
ENGINE_PYTHON = "MuscleQuant/EnginePython"  # a Python with the engine's packages (default: PythonSlicer)
TRAIN_PROFILE = "MuscleQuant/TrainProfile"  # training profile of "Train on approved cases" (default: preset's)
TRAIN_MAX_EPOCHS = "MuscleQuant/TrainMaxEpochs"  # a cap on epochs besides the time budget (0: none)


def _convert(value: Any, like: Any) -> Any:
    """QSettings gives strings back for numbers and booleans on some platforms."""
    if isinstance(like, bool):
        return value in (True, "true", "True", 1, "1")
    if isinstance(like, float):
        return float(value)
    if isinstance(like, int):
        return int(value)
    return value


def restore(ui: Any, settings: Any, fields: tuple[Field, ...]) -> None:
    for field in fields:
        value = settings.value(field.key, None)
        if value is None:
            value = field.default
        if value is None:
            continue
        widget = getattr(ui, field.widget)
        if field.prop == "currentData":
            index = widget.findData(value)
            if index >= 0:
                widget.setCurrentIndex(index)
        elif field.prop == "currentText":
            index = widget.findText(str(value))
            if index >= 0:
                widget.setCurrentIndex(index)
        else:
            setattr(widget, field.prop, _convert(value, getattr(widget, field.prop)))


def save(ui: Any, settings: Any, fields: tuple[Field, ...]) -> None:
    for field in fields:
        value = getattr(getattr(ui, field.widget), field.prop)
        if value is not None:
            settings.setValue(field.key, value)


def value(settings: Any, key: str, default: Any = None) -> Any:
    found = settings.value(key, None)
    return default if found in (None, "") else _convert(found, default) if default is not None else found
