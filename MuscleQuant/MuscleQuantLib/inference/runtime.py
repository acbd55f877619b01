"""Models for inference: on a CPU, the model's networks exported once to ONNX and run by ONNX Runtime; else
(a GPU, no ONNX Runtime, or ``MUSCLEQUANT_RUNTIME=torch``) the PyTorch model as loaded from its safetensors.

Why: on the 2-core benchmark CPU ONNX Runtime ran every preset's network 3–10× faster than PyTorch with
the same argmax, and a cold command that finds its export cached imports neither torch nor MONAI (6–8 s).
The safetensors weights stay the source of truth: the export is a cache beside the model cache
(``$MUSCLEQUANT_HOME/runtime/<key>.onnx``), keyed by the SHA-256 of the card (which records every weights
file's SHA-256, checked on every load) and of the export recipe, written atomically, and used only after
its outputs matched PyTorch's on a probe input when it was made. Delete the folder to rebuild it.

Loaded models are kept per process (keyed by the files' identity), so a batch loads each model once.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

EXPORT_RECIPE = "musclequant-onnx-1;opset=17;ensemble-probabilities"
KEEP_EXPORTS = 32  # the cache keeps the most recently used exports (every retrained model makes a new one)
PROBE_TOLERANCE = 1e-3  # largest |Δ probability| accepted between ONNX Runtime and PyTorch on the probe input
_LOADED: dict[tuple[Any, ...], Any] = {}


def runtime_choice(device: str = "auto") -> str:
    """'onnx' or 'torch' for a ``--device`` value, without importing torch.

    'auto' means CUDA when present: an NVIDIA device node is the sign (then PyTorch decides); else the CPU,
    which ONNX Runtime serves when it is installed.
    """
    if os.environ.get("MUSCLEQUANT_RUNTIME", "").lower() == "torch":
        return "torch"
    if device.startswith("cuda"):
        return "torch"
    if device == "auto" and (Path("/dev/nvidiactl").exists() or Path("/dev/nvidia0").exists()):
        return "torch"
    if device not in ("auto", "cpu"):
        return "torch"
    return "onnx" if onnx_available() else "torch"


def onnx_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


@dataclass
class OnnxEnsemble:
    """A model's members as one ONNX Runtime session: ``run(batch)`` gives every member's probabilities side
    by side, (N, M·C, ...), like :class:`~MuscleQuantLib.models.ensemble.EnsembleModel`'s ``forward``."""

    session: Any
    card: dict[str, Any]
    num_classes: int
    members: int
    ensemble: str
    path: Path

    @property
    def runtime(self) -> str:
        return "onnxruntime"

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"image": np.ascontiguousarray(batch, dtype=np.float32)})[0]

    def split(self, stacked: np.ndarray) -> np.ndarray:
        """(N, M·C, ...) → (M, N, C, ...)."""
        return np.stack(np.split(stacked, self.members, axis=1))

    def mean_probabilities(self, stacked: np.ndarray) -> np.ndarray:
        return self.split(stacked).mean(axis=0)

    def labels(self, stacked: np.ndarray) -> np.ndarray:
        """Class indices: the single member's decision, or the members' majority vote (ensemble.py's rules)."""
        per_member = self.split(stacked)
        if self.ensemble == "single":
            return probabilities_to_labels(per_member[0])
        return majority_vote(per_member)


def probabilities_to_labels(probabilities: np.ndarray) -> np.ndarray:
    """NumPy twin of ``ensemble.probabilities_to_labels``: two classes → ``p > 0.5``, else argmax."""
    if probabilities.shape[1] == 2:
        return (probabilities[:, 1] > 0.5).astype(np.int64)
    return probabilities.argmax(axis=1)


def majority_vote(member_probabilities: np.ndarray) -> np.ndarray:
    """NumPy twin of ``ensemble.majority_vote``: most votes; a tie goes to the highest mean probability."""
    num_classes = member_probabilities.shape[2]
    votes = np.stack([probabilities_to_labels(p) for p in member_probabilities])  # (M, N, ...)
    counts = np.stack([(votes == c).sum(axis=0) for c in range(num_classes)], axis=1)  # (N, C, ...)
    tied = counts == counts.max(axis=1, keepdims=True)
    mean = member_probabilities.mean(axis=0)
    return np.where(tied, mean, np.float32(-1.0)).argmax(axis=1)


def load_inference_model(model_dir: str | Path, device: str = "auto") -> Any:
    """The verified model at ``model_dir`` as an :class:`OnnxEnsemble` (CPU, ONNX Runtime installed) or a
    PyTorch ``EnsembleModel``; loaded once per process while its files are unchanged."""
    from ..models.card import read_card
    from ..models.modelfile import check_files, refuse_pickle

    model_dir = Path(model_dir)
    refuse_pickle(model_dir)
    choice = runtime_choice(device)
    # ONNX Runtime runs on the CPU whichever device string chose it ("auto" without CUDA, "cpu"): one session,
    # not one per spelling (a batch worker's "cpu" beside a command's "auto" held two thigh sessions, +1.2 GB)
    key = (choice, "cpu" if choice == "onnx" else device, *_identity(model_dir))
    if key in _LOADED:
        return _LOADED[key]
    card = read_card(model_dir)
    check_files(model_dir, card)  # every weights file's SHA-256, before the export or any tensor is used
    if choice == "onnx":
        model = _onnx_model(model_dir, card)
    else:
        model = _torch_model(model_dir, device)
    if len(_LOADED) > 8:
        _LOADED.clear()
    _LOADED[key] = model
    return model


def _identity(model_dir: Path) -> tuple[Any, ...]:
    """What must not change for a loaded model to be reused: the folder's card and weights files."""
    files = sorted(p for p in model_dir.iterdir() if p.is_file())
    return (str(model_dir.resolve()), *((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))


def _torch_model(model_dir: Path, device: str) -> Any:
    from ..models.modelfile import load_model
    from ..pipeline.predict import select_device

    return load_model(model_dir, select_device(device))


def export_key(model_dir: Path) -> str:
    from ..models.card import CARD_FILE

    digest = hashlib.sha256((model_dir / CARD_FILE).read_bytes())
    digest.update(EXPORT_RECIPE.encode())
    return digest.hexdigest()


def export_path(model_dir: Path) -> Path:
    from ..models.registry import musclequant_home

    return musclequant_home() / "runtime" / f"{export_key(model_dir)}.onnx"


def _onnx_model(model_dir: Path, card: dict[str, Any]) -> OnnxEnsemble:
    import onnxruntime as ort

    path = export_path(model_dir)
    if path.is_file():
        os.utime(path)  # most recently used: kept by _prune
    else:
        _export(model_dir, path)
        _prune(path.parent)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: as fast here on a quiet 2-core machine (1.30 vs 1.40 s per
    # thigh batch) and they leave the CPU to other processes (a batch, Slicer) when it is shared.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - a damaged cache file: rebuild it once
        path.unlink(missing_ok=True)
        _export(model_dir, path)
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001
            raise InputError(f"ONNX Runtime cannot load the model's export: {exc}", path=path) from exc
    num_classes = 2 if card["output_activation"] == "sigmoid" else len(card["labels"])
    members = len(card["members"])
    ensemble = card.get("ensemble") or ("single" if members == 1 else "majority")
    return OnnxEnsemble(session, card, num_classes, members, ensemble, model_dir)


def _prune(folder: Path) -> None:
    """Remove all but the :data:`KEEP_EXPORTS` most recently used exports (they are rebuilt when needed)."""
    exports = sorted(folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in exports[KEEP_EXPORTS:]:
        old.unlink(missing_ok=True)


def _export(model_dir: Path, target: Path) -> None:
    """Export the PyTorch model (members + activation, as ``EnsembleModel.forward``) to ``target``, after
    checking ONNX Runtime reproduces PyTorch on a probe input; written atomically."""
    import onnxruntime as ort
    import torch

    from ..models.modelfile import load_model

    model = load_model(model_dir, "cpu").eval()
    card = model.card
    prep = card["preprocessing"]
    if "roi" in prep:
        roi = tuple(int(r) for r in prep["roi"])
    else:
        from ..presets import get_preset

        roi = get_preset(card["preset"]).profile(prep.get("profile")).roi
    generator = torch.Generator().manual_seed(0)
    probe = torch.randn((2, 1, *roi), generator=generator)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (probe,), buffer, input_names=["image"], output_names=["probabilities"],
                          dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        expected = model(probe[:1]).numpy()
    data = buffer.getvalue()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": probe[:1].numpy()})[0]
    if got.shape != expected.shape or float(np.abs(got - expected).max()) > PROBE_TOLERANCE:
        raise InputError("the ONNX export does not reproduce the PyTorch model; run with "
                         "MUSCLEQUANT_RUNTIME=torch", path=model_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, target)
