"""Scanner effects on a synthetic HU image: through-plane partial volume (a blend with a warped copy,
as a thick slice mixes neighbouring anatomy), reconstruction-kernel blur, streaks from bone or metal,
cupping, correlated noise, the field of view and resampling to the scan's pixel size."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .recipe import Recipe
from .shapes import smooth_noise


def partial_volume(image: np.ndarray, rng: np.random.Generator, pixel_mm: float) -> np.ndarray:
    """Blend with a smoothly displaced copy: thicker slices (up to 5 mm) mix more of the next anatomy."""
    thickness = rng.uniform(0.6, 5.0)
    weight = min(0.45, 0.09 * thickness) * rng.uniform(0.3, 1.0)
    h, w = image.shape
    shift = rng.normal(0.0, thickness / pixel_mm, size=(2, 4, 4))
    dy, dx = (ndimage.zoom(s, (h / 4, w / 4), order=1)[:h, :w] for s in shift)
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    neighbour = ndimage.map_coordinates(image, [rows + dy, cols + dx], order=1, mode="nearest")
    return (1.0 - weight) * image + weight * neighbour


def streaks(image: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Bright/dark lines through a dense spot (beam hardening, metal)."""
    h, w = image.shape
    dense = np.argwhere(image > 300)
    if len(dense) == 0:
        return image
    cy, cx = dense[int(rng.integers(len(dense)))]
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    out = image.copy()
    for _ in range(int(rng.integers(2, 8))):
        a = rng.uniform(0, np.pi)
        dist = np.abs((cols - cx) * np.sin(a) - (rows - cy) * np.cos(a))
        out += rng.choice([-1.0, 1.0]) * amplitude * rng.uniform(0.3, 1.0) * np.exp(-(dist / rng.uniform(1.0, 3.0)) ** 2)
    return out


def scanner(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, recipe: Recipe, pixel_mm: float
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """The scanner's image and labels at its pixel size (mm), which is returned too."""
    if not recipe.artefacts:
        spacing = 2.0
        zoom = pixel_mm / spacing
        image = ndimage.zoom(ndimage.gaussian_filter(image, 0.5 / zoom), zoom, order=1)
        return image, ndimage.zoom(labels, zoom, order=0), spacing
    image = partial_volume(image, rng, pixel_mm)
    if rng.random() < 0.25:
        image = streaks(image, rng, rng.uniform(30.0, 250.0))
    if rng.random() < 0.3:  # cupping: the centre darker than the edge
        h, w = image.shape
        yy, xx = np.mgrid[0:h, 0:w]
        r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
        image = image - rng.uniform(5.0, 25.0) * (1.0 - np.clip(r2, 0, 1))
    spacing = float(rng.uniform(0.6, 3.5))
    kernel_mm = rng.uniform(0.3, 1.5)
    zoom = pixel_mm / spacing
    image = ndimage.gaussian_filter(image, np.hypot(kernel_mm / pixel_mm, 0.4 / zoom))
    image = ndimage.zoom(image, zoom, order=1)
    labels = ndimage.zoom(labels, zoom, order=0)
    noise_sd = rng.uniform(3.0, 40.0)
    noise = smooth_noise(rng, image.shape, rng.uniform(0.3, 1.2))
    image = image + noise_sd * noise
    return image, labels, spacing
