"""Network inference on prepared arrays: MONAI sliding window over every member at once, then the
model's own decision (single member, or the fold ensemble's pixel-wise majority vote)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from ..models.ensemble import EnsembleModel


def select_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU; asking for CUDA without one is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        from ..errors import InputError

        raise InputError("CUDA was requested but no CUDA device is available", field="--device")
    return torch.device(requested)


def as_ensemble(model: torch.nn.Module, activation: str, num_classes: int) -> EnsembleModel:
    """Wrap a bare network (training-time validation) so it predicts exactly like a saved model."""
    if isinstance(model, EnsembleModel):
        return model
    return EnsembleModel([model], 2 if activation == "sigmoid" else num_classes, activation)


@torch.no_grad()
def predict_labels(model: torch.nn.Module, array: np.ndarray, roi: Sequence[int], device: torch.device,
                   activation: str = "softmax", num_classes: int = 2, overlap: float = 0.25) -> np.ndarray:
    """Class indices for one prepared 2D or 3D array."""
    ensemble = as_ensemble(model, activation, num_classes).to(device)
    was_training = ensemble.training
    ensemble.eval()
    try:
        inputs = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None].to(device)
        with torch.autocast(device_type=device.type, enabled=device.type == "cuda"):
            stacked = sliding_window_inference(inputs, tuple(int(r) for r in roi), sw_batch_size=4, predictor=ensemble,
                                               overlap=overlap, mode="gaussian", cval=float(array.min()))
        return ensemble.labels(stacked.float())[0].cpu().numpy().astype(np.uint16)
    finally:
        ensemble.train(was_training)
