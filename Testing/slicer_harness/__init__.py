"""Execute the Slicer modules' widget classes in plain pytest under PythonQt's rules.

What is real: the ``slicer-core`` MRML scene, its logics (wired as the application does, see
``Testing/slicer_wiring.py``), ``slicer.util`` (loadUI, childWidgetVariables, VTKObservationMixin,
array helpers, setSliceViewerLayers), the modules' own files, ``MuscleQuantLib`` and the ``musclequant``
engine, which runs as the real command line in a subprocess.

What is a stand-in (small, documented, test code only):

* ``qt``/``ctk`` and the qMRML widget classes (:mod:`.qtcore`, :mod:`.mrmlwidgets`), built from the
  modules' ``.ui`` files by :mod:`.uiloader`: a ``self.ui.<name>`` the ``.ui`` lacks raises
  AttributeError; signals call slots as PythonQt does (:mod:`.signals`, after commontk/PythonQt
  ``src/PythonQtSignalReceiver.cpp`` ``PythonQtSignalTarget::call``: as many signal arguments as the
  slot has positional parameters, defaulted ones included);
* ``slicer.ScriptedLoadableModule`` (:mod:`.scripted`, after Slicer v5.12.3's file);
* the dialogs of ``slicer.util`` (errorDisplay, warningDisplay, infoDisplay, confirmOkCancelDisplay,
  confirmYesNoDisplay, delayDisplay) and ``pip_install``: recorded in :attr:`Harness.dialogs` and
  :attr:`Harness.pip_calls`; confirmations answer from :attr:`Harness.confirm_answers` (default OK);
* the widgets' background ``PythonSlicer -m pip install`` (:class:`FakePip`, used by the tests that need it):
  a real child process that prints pip-like lines and ends when the test releases it;
* ``PyTorchUtils`` (SlicerPyTorch's ``PyTorchUtilsLogic.torchInstalled``/``installTorch``), recorded;
* ``slicer.app`` (settings, module manager, processEvents, the IO manager's volume loading); timers fire only inside :meth:`Harness.pump`
  (Qt timers fire only in the event loop), so a test drives the background-process polling explicitly.

The module life cycle follows qSlicerScriptedLoadableModuleWidget: construct the widget with a parent
``qMRMLWidget``, ``setup()``, ``enter()`` when shown, ``exit()`` when another module is selected,
``cleanup()`` when the application unloads the module.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import mrmlwidgets, qtcore, uiloader

REPO = Path(__file__).resolve().parents[2]
MODULE_FILES = {"MuscleQuant": REPO / "MuscleQuant" / "MuscleQuant.py",
                "MuscleQuantSurvival": REPO / "MuscleQuantSurvival" / "MuscleQuantSurvival.py"}


class QUiLoader:
    def load(self, qfile: qtcore.QFile, parent: Any = None) -> qtcore.QWidget:
        return uiloader.load(qfile.fileName())


def _qt_module() -> types.ModuleType:
    module = types.ModuleType("qt")
    module.__doc__ = "MuscleQuant test harness stand-in for PythonQt's qt module"
    for name in dir(qtcore):
        if name.startswith("Q") or name == "Qt":
            setattr(module, name, getattr(qtcore, name))
    module.QUiLoader = QUiLoader
    return module


def _ctk_module() -> types.ModuleType:
    module = types.ModuleType("ctk")
    module.ctkCollapsibleButton = mrmlwidgets.ctkCollapsibleButton
    module.ctkPathLineEdit = mrmlwidgets.ctkPathLineEdit
    return module


class ModuleManager(qtcore.QObject):
    SIGNALS = {"moduleAboutToBeUnloaded": ["moduleAboutToBeUnloaded(QString)"]}


class CoreIOManager:
    """qSlicerCoreIOManager as ``slicer.util.loadVolume`` uses it (``fileType``, ``loadNodes``), for volumes only:
    in the application "VolumeFile" goes to qSlicerVolumesReader::load, which calls the Volumes logic's
    ``AddArchetypeVolume`` — the real slicer-core logic here. Other file types fail, as an unknown type does."""

    VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")

    def fileType(self, filename: Any) -> str:
        return "VolumeFile" if str(filename).lower().endswith(self.VOLUME_SUFFIXES) else "NoFile"

    def loadNodes(self, filetype: str, properties: dict[str, Any], loaded: Any = None, messages: Any = None) -> bool:
        import slicer

        if filetype != "VolumeFile":
            return False
        path = str(properties["fileName"])
        name = properties.get("name") or Path(path).name.split(".")[0]
        node = slicer.modules.volumes.logic().AddArchetypeVolume(path, name, 0)
        if node is None:
            return False
        if loaded is not None:
            loaded.AddItem(node)
        return True


class Application:
    """``slicer.app`` as far as the modules use it."""

    applicationName = "Slicer"

    def __init__(self) -> None:
        self._moduleManager = ModuleManager()
        self._ioManager = CoreIOManager()

    def coreIOManager(self) -> CoreIOManager:
        return self._ioManager

    def moduleManager(self) -> ModuleManager:
        return self._moduleManager

    def testingEnabled(self) -> bool:
        return False

    def settings(self) -> qtcore.QSettings:
        return qtcore.QSettings()

    userSettings = settings

    def processEvents(self, *args: Any) -> None:
        qtcore.QTimer.fire_due()

    def layoutManager(self) -> None:
        return None

    def setOverrideCursor(self, *args: Any) -> None:
        pass

    def restoreOverrideCursor(self) -> None:
        pass


class ModuleParent(types.SimpleNamespace):
    """qSlicerScriptedLoadableModule as the module's ``parent``: attributes the module sets, and ``path``."""


class FakePyTorchUtilsLogic:
    """SlicerPyTorch's PyTorchUtils.PyTorchUtilsLogic: records installTorch calls."""

    calls: list[dict[str, Any]] = []
    installed = True
    install_succeeds = True

    def torchInstalled(self) -> bool:
        return FakePyTorchUtilsLogic.installed

    def installTorch(self, askConfirmation: bool = False, forceComputationBackend: Any = None,
                     torchVersionRequirement: Any = None, torchvisionVersionRequirement: Any = None) -> Any:
        FakePyTorchUtilsLogic.calls.append({"askConfirmation": askConfirmation,
                                            "torchVersionRequirement": torchVersionRequirement})
        if not FakePyTorchUtilsLogic.install_succeeds:
            return None
        FakePyTorchUtilsLogic.installed = True
        return types.SimpleNamespace(__version__="harness")


class FakePip:
    """Stand-in for the modules' background ``PythonSlicer -m pip install`` (``slicer_bridge.install.pip_command``):
    a real child process, so the widget's timer polling, log panel and Cancel are exercised, that prints
    pip-like lines and waits until :meth:`release` (or exits at once with ``released=True``). The distributions
    in ``missing`` read as not installed until it has finished. ``commands`` holds the real pip command lines
    the module asked for (``install.pip_command``) and the constraints they named."""

    SCRIPT = ("import pathlib, sys, time\n"
              "gate, done = map(pathlib.Path, sys.argv[1:3])\n"
              "print('Collecting ' + ' '.join(sys.argv[3:]), flush=True)\n"
              "while not gate.exists(): time.sleep(0.02)\n"
              "done.touch()\n"
              "print('Successfully installed ' + ' '.join(sys.argv[3:]), flush=True)\n")

    def __init__(self, monkeypatch: Any, folder: Path, missing: tuple[str, ...] = ("lifelines",),
                 released: bool = False):
        import dataclasses
        from importlib import metadata

        from MuscleQuantLib.slicer_bridge import install

        folder.mkdir(parents=True, exist_ok=True)
        self.gate, self.done, self.missing = folder / "pip-gate", folder / "pip-done", set(missing)
        self.commands: list[tuple[list[str], str]] = []
        if released:
            self.release()
        real_command = getattr(install, "pip_command", None)

        def command(python: str, requirements: list[str], constraints: Path) -> list[str]:
            real = real_command(python, requirements, constraints) if real_command else []
            self.commands.append((real, Path(constraints).read_text(encoding="utf-8")))
            return [sys.executable, "-c", self.SCRIPT, str(self.gate), str(self.done), *requirements]

        monkeypatch.setattr(install, "pip_command", command, raising=False)
        real_installer = install.slicer_installer

        def installer(*args: Any, **kwargs: Any) -> Any:
            made = real_installer(*args, **kwargs)
            inner = made.version_of

            def version_of(name: str) -> str:
                if name in self.missing and not self.done.exists():
                    raise metadata.PackageNotFoundError(name)
                return inner(name)

            return dataclasses.replace(made, version_of=version_of)

        monkeypatch.setattr(install, "slicer_installer", installer)

    def release(self) -> None:
        self.gate.touch()


_ENGINE_DISTRIBUTIONS: dict[str, dict[str, str]] = {}


def engine_version_of() -> Callable[[str], str]:
    """``importlib.metadata.version`` of this process, falling back to the engine interpreter's."""
    import json
    import os
    import subprocess
    from importlib import metadata

    python = os.environ.get("MUSCLEQUANT_ENGINE_PYTHON", sys.executable)
    if python not in _ENGINE_DISTRIBUTIONS:
        code = ("import importlib.metadata as m, json; "
                "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): d.version for d in m.distributions()}))")
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, check=True)
        _ENGINE_DISTRIBUTIONS[python] = json.loads(done.stdout)
    known = _ENGINE_DISTRIBUTIONS[python]

    def version_of(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            key = name.lower().replace("_", "-")
            if key in known:
                return known[key]
            raise

    return version_of


class Harness:
    """One test's Slicer: a fresh scene, the stand-in modules, dialog and pip recorders."""

    def __init__(self, monkeypatch: Any, settings: dict[str, Any] | None = None):
        import slicer_wiring

        self.monkeypatch = monkeypatch
        self.dialogs: list[tuple[str, str]] = []
        self.confirm_answers: list[bool] = []
        self.pip_calls: list[Any] = []
        self.widgets: dict[str, Any] = {}
        qtcore.QTimer._all.clear()
        qtcore.QTimer._single_shots.clear()
        qtcore.QSettings.store = {} if settings is None else settings
        qtcore.QFileDialog.answers, qtcore.QFileDialog.asked = [], []
        qtcore.QDesktopServices.opened = []
        FakePyTorchUtilsLogic.calls, FakePyTorchUtilsLogic.installed = [], True
        FakePyTorchUtilsLogic.install_succeeds = True
        monkeypatch.setitem(sys.modules, "qt", _qt_module())
        monkeypatch.setitem(sys.modules, "ctk", _ctk_module())
        pytorch = types.ModuleType("PyTorchUtils")
        pytorch.PyTorchUtilsLogic = FakePyTorchUtilsLogic
        monkeypatch.setitem(sys.modules, "PyTorchUtils", pytorch)
        self.slicer = slicer = slicer_wiring.wire()
        for name in ("qMRMLWidget", "qMRMLNodeComboBox", "qMRMLSegmentEditorWidget", "qMRMLTableView"):
            monkeypatch.setattr(slicer, name, getattr(mrmlwidgets, name), raising=False)
        monkeypatch.setattr(slicer, "app", Application(), raising=False)
        monkeypatch.delitem(sys.modules, "slicer.ScriptedLoadableModule", raising=False)
        scripted = importlib.import_module("slicer_harness.scripted")
        monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", scripted)
        monkeypatch.setattr(slicer, "ScriptedLoadableModule", scripted, raising=False)
        self._patch_util(slicer)
        self._add_views(slicer)
        self._installed_like_the_engine()

    def _installed_like_the_engine(self) -> None:
        """In Slicer the GUI and the engine share one Python (PythonSlicer is Slicer's own), so
        ``ensureDependencies`` sees what the engine will import. Here the engine may be another interpreter
        (MUSCLEQUANT_ENGINE_PYTHON, e.g. on Slicer's 3.12 package set without torch): distributions missing
        in this process are looked up in the engine's Python, so the install plan describes that Python."""
        try:
            from MuscleQuantLib.slicer_bridge import install
        except ImportError:
            return
        if not hasattr(install, "slicer_installer"):
            return
        import dataclasses

        real = install.slicer_installer
        version_of = engine_version_of()
        self.monkeypatch.setattr(install, "slicer_installer",
                                 lambda *a, **k: dataclasses.replace(real(*a, **k), version_of=version_of))

    # --- slicer.util dialogs and pip -----------------------------------------------------------
    def _patch_util(self, slicer: Any) -> None:
        util = slicer.util

        def recorder(kind: str, answer: Callable[[], Any] = lambda: None) -> Callable[..., Any]:
            def record(text: str, *args: Any, **kwargs: Any) -> Any:
                self.dialogs.append((kind, str(text)))
                return answer()

            return record

        def confirm() -> bool:
            return self.confirm_answers.pop(0) if self.confirm_answers else True

        for kind in ("errorDisplay", "warningDisplay", "infoDisplay", "delayDisplay"):
            self.monkeypatch.setattr(util, kind, recorder(kind))
        for kind in ("confirmOkCancelDisplay", "confirmYesNoDisplay"):
            self.monkeypatch.setattr(util, kind, recorder(kind, confirm))
        self.monkeypatch.setattr(util, "mainWindow", lambda: None)
        self.monkeypatch.setattr(util, "pip_install", lambda requirements, **kw: self.pip_calls.append(requirements))
        real_layers = util.setSliceViewerLayers
        self.layer_calls: list[dict[str, Any]] = []

        def layers(**kwargs: Any) -> None:
            self.layer_calls.append(kwargs)
            real_layers(**{k: v for k, v in kwargs.items() if k not in ("fit", "rotateToVolumePlane")})

        self.monkeypatch.setattr(util, "setSliceViewerLayers", layers)

    def _add_views(self, slicer: Any) -> None:
        """The Red/Yellow/Green slice and composite nodes the layout manager creates in the application."""
        scene = slicer.mrmlScene
        for name, orientation in (("Red", "Axial"), ("Yellow", "Sagittal"), ("Green", "Coronal")):
            slice_node = slicer.vtkMRMLSliceNode()
            slice_node.SetName(name)
            slice_node.SetLayoutName(name)
            slice_node.SetSingletonTag(name)
            slice_node.SetDefaultOrientation(orientation) if hasattr(slice_node, "SetDefaultOrientation") else None
            scene.AddNode(slice_node)
            composite = slicer.vtkMRMLSliceCompositeNode()
            composite.SetLayoutName(name)
            composite.SetSingletonTag(name)
            scene.AddNode(composite)

    def dialogs_of(self, kind: str) -> list[str]:
        return [text for k, text in self.dialogs if k == kind]

    # --- modules -------------------------------------------------------------------------------
    def open_module(self, name: str, path: Path | None = None) -> Any:
        """Load ``name``'s module file, create its widget as Slicer does (setup, then enter)."""
        path = Path(path or MODULE_FILES[name])
        sys.modules.pop(name, None)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        self.monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        parent = ModuleParent(path=str(path), defaultDocumentationLink="")
        getattr(module, name)(parent)
        modules = self.slicer.modules
        entry = types.SimpleNamespace(path=str(path), logic=lambda: getattr(module, name + "Logic")())
        setattr(modules, name.lower(), entry)
        widget_parent = mrmlwidgets.qMRMLWidget()
        widget_parent.setLayout(qtcore.QVBoxLayout())
        widget_parent.setMRMLScene(self.slicer.mrmlScene)
        widget = getattr(module, name + "Widget")(widget_parent)
        widget.setup()
        self.widgets[name] = widget
        entry.widgetRepresentation = lambda: widget_parent
        self.enter(name)
        return widget

    def enter(self, name: str) -> None:
        widget = self.widgets[name]
        if hasattr(widget, "enter"):
            widget.enter()

    def exit(self, name: str) -> None:
        widget = self.widgets[name]
        if hasattr(widget, "exit"):
            widget.exit()

    def unload(self, name: str) -> None:
        """Application exit: moduleAboutToBeUnloaded → cleanup()."""
        self.slicer.app.moduleManager().moduleAboutToBeUnloaded.emit(name)

    def close_scene(self) -> None:
        """File > Close scene (qSlicerCoreApplication: mrmlScene()->Clear(false))."""
        self.slicer.mrmlScene.Clear(0)

    # --- event loop ----------------------------------------------------------------------------
    def pump(self, until: Callable[[], bool] | None = None, timeout: float = 60.0, interval: float = 0.02) -> None:
        """Run the 'event loop': fire due timers until ``until()`` is true (or, without ``until``, until
        no timer is active). Raises TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        condition = until or (lambda: not qtcore.QTimer.active_timers())
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the event loop ran {timeout} s without reaching the expected state; "
                                   f"dialogs so far: {self.dialogs}")
            qtcore.QTimer.fire_due()
            time.sleep(interval)

    def close(self) -> None:
        """Unload every module (cleanup) and detach the widgets from the scene."""
        for name, widget in list(self.widgets.items()):
            self.unload(name)
            stack = [widget.parent]
            while stack:
                item = stack.pop()
                if isinstance(item, mrmlwidgets.qMRMLNodeComboBox):
                    item.setMRMLScene(None)
                stack.extend(item.children())
        self.widgets.clear()
