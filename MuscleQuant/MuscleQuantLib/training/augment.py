"""Training-time sampling and augmentation with MONAI transforms: patches (label-aware), left–right
flips, in-plane rotation and scaling, intensity shifts — the recipes of SPEC 2."""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.transforms import (
    Compose,
    RandAffined,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandScaleIntensityd,
    RandShiftIntensityd,
)
from monai.transforms.utils import map_binary_to_indices

from ..presets.base import Augmentation


def prepare_examples(pairs: list[tuple[np.ndarray, np.ndarray]], roi: tuple[int, ...], pad_value: float) -> list[dict]:
    """Pad each (image, label) to at least the patch size and find its foreground/background voxels once,
    so every batch only crops (recomputing them per batch dominated 3D training time)."""
    examples = []
    for image, label in pairs:
        widths = [((max(0, r - n) + 1) // 2, max(0, r - n) // 2) for n, r in zip(image.shape, roi, strict=True)]
        image = np.pad(image, widths, constant_values=pad_value)[None].astype(np.float32)
        label = np.pad(label, widths, constant_values=0)[None].astype(np.float32)
        fg, bg = map_binary_to_indices(label > 0)
        examples.append({"image": image, "label": label, "fg": fg, "bg": bg})
    return examples


def training_transform(roi: tuple[int, ...], augmentation: Augmentation, patches: int) -> Compose:
    """Sample ``patches`` patches per example, half centred on muscle, then augment them.

    Arrays are channel-first (1, *spatial) in canonical order, so the last axis is left–right and
    in-plane rotation is about the first spatial axis in 3D.
    """
    dims = len(roi)
    rotate = math.radians(augmentation.rotate_deg)
    rotate_range = (rotate,) if dims == 2 else (rotate, 0.0, 0.0)
    scale_range = (augmentation.scale,) * 2 if dims == 2 else (0.0, augmentation.scale, augmentation.scale)
    return Compose([
        RandCropByPosNegLabeld(keys=("image", "label"), label_key="label", spatial_size=roi, pos=1, neg=1,
                               num_samples=patches, fg_indices_key="fg", bg_indices_key="bg"),
        RandFlipd(keys=("image", "label"), prob=augmentation.flip_prob, spatial_axis=dims - 1),
        RandAffined(keys=("image", "label"), prob=0.7, rotate_range=rotate_range, scale_range=scale_range,
                    mode=("bilinear", "nearest"), padding_mode="border"),
        RandShiftIntensityd(keys="image", offsets=augmentation.intensity_shift, prob=0.5),
        RandScaleIntensityd(keys="image", factors=augmentation.intensity_scale, prob=0.5),
    ])


def sample_batch(examples: list[dict], transform: Compose, batch_size: int,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw examples at random and transform them into a (B, 1, *roi) image and label batch."""
    images, labels = [], []
    while len(images) < batch_size:
        patches = transform(dict(examples[int(rng.integers(len(examples)))]))  # the crop pops the index keys
        for patch in patches if isinstance(patches, list) else [patches]:
            images.append(torch.as_tensor(patch["image"]).float())
            labels.append(torch.as_tensor(patch["label"]).round().long())
    return torch.stack(images[:batch_size]), torch.stack(labels[:batch_size])
