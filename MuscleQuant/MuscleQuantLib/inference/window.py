"""Gaussian-weighted sliding-window inference in NumPy: the same windows, weights, padding and stitching as
MONAI's ``sliding_window_inference`` (MONAI 1.6, ``mode="gaussian"``, ``sigma_scale=0.125``, constant padding),
so a network run through ONNX Runtime gives the same stitched probabilities without importing torch or MONAI
(together 6–8 s of a cold command). Testing/test_speed_inference.py compares the two on random inputs."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import product

import numpy as np

SIGMA_SCALE = 0.125


def scan_interval(image_size: Sequence[int], roi: Sequence[int], overlap: float) -> tuple[int, ...]:
    """Stride per axis: the whole window when it fits exactly, else ``int(roi × (1 − overlap))`` (at least 1)."""
    return tuple(int(r) if r == n else max(int(r * (1 - overlap)), 1) for n, r in zip(image_size, roi, strict=True))


def window_starts(image_size: Sequence[int], roi: Sequence[int], interval: Sequence[int]) -> list[tuple[int, ...]]:
    """Start corner of every window, in MONAI's order (last axis fastest); the last window per axis is moved
    back to end at the image's edge."""
    per_axis = []
    for n, r, step in zip(image_size, roi, interval, strict=True):
        count = int(math.ceil(n / step)) if step else 1
        last = next((d for d in range(count) if d * step + r >= n), None)
        count = last + 1 if last is not None else 1
        per_axis.append([i * step - max(i * step + r - n, 0) for i in range(count)])
    return list(product(*per_axis))


def importance_map(roi: Sequence[int]) -> np.ndarray:
    """The separable Gaussian window weight (σ = roi/8 per axis), floored at its minimum or 1e-3, float32."""
    weight = None
    for r in roi:
        x = np.arange(-(r - 1) / 2.0, (r - 1) / 2.0 + 1, dtype=np.float32)
        sigma = r * SIGMA_SCALE
        g = np.exp(x**2 / np.float32(-2 * sigma**2)).astype(np.float32)
        weight = g if weight is None else weight[..., None] * g
    floor = max(float(weight.min()), 1e-3)
    return np.maximum(weight, np.float32(floor)).astype(np.float32)


def sliding_window(predict: Callable[[np.ndarray], np.ndarray], array: np.ndarray, roi: Sequence[int],
                   sw_batch_size: int = 4, overlap: float = 0.25, cval: float = 0.0) -> np.ndarray:
    """Stitched network output (C, *spatial) for one single-channel array (*spatial).

    ``predict`` maps a batch (B, 1, *roi) float32 to (B, C, *roi). An array smaller than the window is
    padded with ``cval`` (centred, as MONAI does) and the padding cropped away again.
    """
    roi = tuple(int(r) for r in roi)
    pads = [(max(r - n, 0) // 2, max(r - n, 0) - max(r - n, 0) // 2) for n, r in zip(array.shape, roi, strict=True)]
    padded = np.pad(np.asarray(array, dtype=np.float32), pads, mode="constant", constant_values=cval)
    size = padded.shape
    starts = window_starts(size, roi, scan_interval(size, roi, overlap))
    weight = importance_map(roi)
    output: np.ndarray | None = None
    count = np.zeros(size, dtype=np.float32)
    for first in range(0, len(starts), sw_batch_size):
        batch_starts = starts[first:first + sw_batch_size]
        windows = [tuple(slice(s, s + r) for s, r in zip(start, roi, strict=True)) for start in batch_starts]
        batch = np.stack([padded[w] for w in windows])[:, None]
        result = predict(np.ascontiguousarray(batch, dtype=np.float32))
        if output is None:
            output = np.zeros((result.shape[1], *size), dtype=np.float32)
        for window, values in zip(windows, result, strict=True):
            output[(slice(None), *window)] += values * weight
    for start in starts:
        count[tuple(slice(s, s + r) for s, r in zip(start, roi, strict=True))] += weight
    output /= count
    crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, array.shape, strict=True))
    return output[(slice(None), *crop)]
