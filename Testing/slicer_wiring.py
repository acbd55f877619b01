"""Wire the ``slicer-core`` wheel the way the Slicer application does (SPEC 7), plus a tiny model.

Imported by the ``test_slicer_*`` files for their fixtures. The application normally registers the
segmentation converter rules, owns the scene as ``slicer.mrmlScene``, registers module logics with its
application logic, exposes ``slicer.modules.<name>.logic()`` and (through the Qt subject-hierarchy plugin
logic) gives every new data node a subject-hierarchy item; the fixture does each of these.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
_RULES_REGISTERED = False
# The engine runs in a subprocess with this Python (slicer_bridge.process.engine_python). Under plain pytest
# that is this interpreter; on Slicer's Python 3.12 package set (no torch) CI points it at a Python that has
# the engine's packages, as PythonSlicer has them inside Slicer.
ENGINE_PYTHON_VARIABLE = "MUSCLEQUANT_ENGINE_PYTHON"
os.environ.setdefault(ENGINE_PYTHON_VARIABLE, sys.executable)


def engine_python() -> str:
    return os.environ[ENGINE_PYTHON_VARIABLE]


def wire() -> Any:
    """A fresh scene wired like the application; returns the ``slicer`` module."""
    slicer = pytest.importorskip("slicer")
    global _RULES_REGISTERED
    if not _RULES_REGISTERED:  # the factory is a process-wide singleton
        factory = slicer.vtkSegmentationConverterFactory.GetInstance()
        factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())
        factory.RegisterConverterRule(slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule())
        _RULES_REGISTERED = True
    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    logics: dict[str, Any] = {}
    for module, key, cls in (("Colors", "colors", slicer.vtkSlicerColorLogic),
                             ("Volumes", "volumes", slicer.vtkSlicerVolumesLogic),
                             ("Segmentations", "segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
                             ("SubjectHierarchy", "subjecthierarchy", slicer.vtkSlicerSubjectHierarchyModuleLogic)):
        logic = cls()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(module, logic)
        logics[key] = logic
    slicer.modules = types.SimpleNamespace(**{k: types.SimpleNamespace(logic=lambda lg=v: lg)
                                              for k, v in logics.items()})
    sh_node = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)

    def add_item(caller: Any, event: str, node: Any = None) -> None:
        # qSlicerSubjectHierarchyPluginLogic::onNodeAdded does this in the application
        if node is not None and node.IsA("vtkMRMLDisplayableNode") and not node.GetHideFromEditors():
            if not sh_node.GetItemByDataNode(node):
                sh_node.CreateItem(sh_node.GetSceneItemID(), node)

    import vtk

    observer = add_item
    observer.CallDataType = vtk.VTK_OBJECT  # type: ignore[attr-defined]
    scene.AddObserver(slicer.vtkMRMLScene.NodeAddedEvent, observer)
    slicer._musclequant_test_refs = (app_logic, logics, observer)  # keep them alive
    return slicer


@pytest.fixture
def slicer_scene() -> Any:
    """A freshly wired scene per test; yields the ``slicer`` module."""
    yield wire()


def load_volume(slicer: Any, path: Path, name: str = "phantom") -> Any:
    """Read an image file into a scalar volume node with Slicer's own reader (as 'Add data' does)."""
    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    storage = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(node), f"Slicer could not read {path}"
    node.SetAndObserveStorageNodeID(storage.GetID())
    return node


def put_in_study(slicer: Any, node: Any) -> int:
    """Patient → study → volume, as DICOM import arranges it; returns the study item."""
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "Patient 1")
    study = sh.CreateStudyItem(patient, "CT neck")
    sh.SetItemParent(sh.GetItemByDataNode(node), study)
    return study


def make_untrained_model(out: Path, preset_name: str = "c3", profile: str = "tiny", seed: int = 0) -> Path:
    """A real model folder (card + safetensors) holding an untrained network: inference is deterministic."""
    import torch

    from MuscleQuantLib.models.modelfile import save_model
    from MuscleQuantLib.networks import build_network
    from MuscleQuantLib.presets import get_preset
    from MuscleQuantLib.training.run import card_labels

    preset = get_preset(preset_name)
    prof = preset.profile(profile)
    args = preset.network_args(profile)
    torch.manual_seed(seed)
    net = build_network(prof.network, args).eval()
    fields = {
        "model_id": f"{preset_name}-untrained-test", "name": f"{preset.title} (untrained test model)",
        "version": "0.0.1", "preset": preset_name, "description": "untrained network for pipeline tests",
        "network": {"name": prof.network, "args": args}, "spatial_dims": preset.spatial_dims,
        "output_activation": preset.output_activation,
        "preprocessing": {"profile": profile, "orientation": "LPS", "spacing_mm": list(prof.spacing),
                          "roi": list(prof.roi), "intensity": dataclasses.asdict(preset.intensity), "postprocessing": {}},
        "labels": card_labels(preset), "training": {"data": "none", "seed": seed}, "metrics": {},
    }
    return save_model([net], fields, out)


def make_phantom(out: Path, anatomy: str = "c3", orientation: str = "oblique") -> Path:
    """One phantom case through the real CLI; returns its image path."""
    subprocess.run([engine_python(), "-m", "MuscleQuantLib", "phantom", "--anatomy", anatomy, "--n", "1", "--seed", "3",
                    "--in-view", "always", "--orientation", orientation, "--out", str(out), "--progress", "none"],
                   check=True, cwd=REPO, timeout=300)
    return next(out.glob("*_image.nii.gz"))


def make_untrained_model_with_engine(out: Path, preset_name: str = "c3", profile: str = "tiny") -> Path:
    """:func:`make_untrained_model` run by the engine's Python (this interpreter may have no torch)."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from pathlib import Path; "
            f"import slicer_wiring; slicer_wiring.make_untrained_model(Path({str(out)!r}), {preset_name!r}, {profile!r})")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "MuscleQuant"), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([engine_python(), "-c", code], check=True, cwd=REPO, timeout=300, env=env)
    return out


@pytest.fixture(scope="session")
def engine_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An oblique C3 phantom and an untrained C3 model, made once per session."""
    base = tmp_path_factory.mktemp("engine_inputs")
    return {"image": make_phantom(base / "phantom"), "model": make_untrained_model_with_engine(base / "model")}


def middle_slice(path: Path) -> int:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return int(reader.GetSize()[2] // 2)


def labels_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))
