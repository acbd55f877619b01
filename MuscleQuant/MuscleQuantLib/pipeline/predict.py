"""Network inference on prepared arrays: a Gaussian-weighted sliding window over every member at once, then
the model's own decision (single member, or the fold ensemble's pixel-wise majority vote).

Two runtimes give the same windows and stitching: an ONNX Runtime model (:mod:`..inference.runtime`) goes
through the NumPy window (:mod:`..inference.window`, no torch import), a PyTorch model (training-time
validation, GPUs) through MONAI's ``sliding_window_inference``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from ..models.ensemble import EnsembleModel


def select_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU; asking for CUDA without one is an error."""
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        from ..errors import InputError

        raise InputError("CUDA was requested but no CUDA device is available", field="--device")
    return torch.device(requested)


def device_name(model: Any) -> str:
    """'cpu' or 'cuda' for a loaded model of either runtime (what a summary reports)."""
    if is_onnx(model):
        return "cpu"
    parameter = next(iter(model.parameters()), None)
    return parameter.device.type if parameter is not None else "cpu"


def is_onnx(model: Any) -> bool:
    return getattr(model, "runtime", None) == "onnxruntime"


def as_ensemble(model: torch.nn.Module, activation: str, num_classes: int) -> EnsembleModel:
    """Wrap a bare network (training-time validation) so it predicts exactly like a saved model."""
    from ..models.ensemble import EnsembleModel

    if isinstance(model, EnsembleModel):
        return model
    return EnsembleModel([model], 2 if activation == "sigmoid" else num_classes, activation)


def stitched(model: Any, array: np.ndarray, roi: Sequence[int], device: Any = None, activation: str = "softmax",
             num_classes: int = 2, sw_batch_size: int = 4, overlap: float = 0.25) -> tuple[Any, np.ndarray]:
    """(the ensemble, its stitched members' probabilities (M·C, ...) as float32 NumPy) for one array."""
    roi = tuple(int(r) for r in roi)
    if is_onnx(model):
        return model, _window_numpy(model, array, roi, sw_batch_size, overlap)
    return _stitched_torch(model, array, roi, device, activation, num_classes, sw_batch_size, overlap)


def _window_numpy(model: Any, array: np.ndarray, roi: tuple[int, ...], sw_batch_size: int, overlap: float
                  ) -> np.ndarray:
    from ..inference.window import sliding_window

    return sliding_window(model.run, array, roi, sw_batch_size=sw_batch_size, overlap=overlap,
                          cval=float(array.min()))


def _stitched_torch(model: Any, array: np.ndarray, roi: tuple[int, ...], device: Any, activation: str,
                    num_classes: int, sw_batch_size: int, overlap: float) -> tuple[Any, np.ndarray]:
    import torch
    from monai.inferers import sliding_window_inference

    device = device if device is not None else torch.device("cpu")
    ensemble = as_ensemble(model, activation, num_classes).to(device)
    was_training = ensemble.training
    ensemble.eval()
    try:
        with torch.no_grad():
            inputs = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None].to(device)
            with torch.autocast(device_type=device.type, enabled=device.type == "cuda"):
                stacked = sliding_window_inference(inputs, roi, sw_batch_size=sw_batch_size, predictor=ensemble,
                                                   overlap=overlap, mode="gaussian", cval=float(array.min()))
        return ensemble, stacked.float()[0].cpu().numpy()
    finally:
        ensemble.train(was_training)


def decide(ensemble: Any, stacked: np.ndarray) -> np.ndarray:
    """Class indices from stitched probabilities (M·C, ...), by the ensemble's own rule."""
    if is_onnx(ensemble):
        return ensemble.labels(stacked[None])[0]
    import torch

    return ensemble.labels(torch.from_numpy(stacked[None]))[0].numpy()


def predict_labels(model: Any, array: np.ndarray, roi: Sequence[int], device: Any = None,
                   activation: str = "softmax", num_classes: int = 2, overlap: float = 0.25) -> np.ndarray:
    """Class indices for one prepared 2D or 3D array."""
    ensemble, stacked = stitched(model, array, roi, device, activation, num_classes, overlap=overlap)
    return decide(ensemble, stacked).astype(np.uint16)
