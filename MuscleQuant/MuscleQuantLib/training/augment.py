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
    SpatialPadd,
)

from ..presets.base import Augmentation


def training_transform(roi: tuple[int, ...], augmentation: Augmentation, patches: int, pad_value: float) -> Compose:
    """Sample ``patches`` patches per example, half centred on muscle, then augment them.

    Arrays are channel-first (1, *spatial) in canonical order, so the last axis is left–right and
    in-plane rotation is about the first spatial axis in 3D.
    """
    dims = len(roi)
    rotate = math.radians(augmentation.rotate_deg)
    rotate_range = (rotate,) if dims == 2 else (rotate, 0.0, 0.0)
    scale_range = (augmentation.scale,) * 2 if dims == 2 else (0.0, augmentation.scale, augmentation.scale)
    return Compose([
        SpatialPadd(keys="image", spatial_size=roi, mode="constant", value=pad_value),
        SpatialPadd(keys="label", spatial_size=roi, mode="constant", value=0),
        RandCropByPosNegLabeld(keys=("image", "label"), label_key="label", spatial_size=roi, pos=1, neg=1,
                               num_samples=patches, allow_smaller=False),
        RandFlipd(keys=("image", "label"), prob=augmentation.flip_prob, spatial_axis=dims - 1),
        RandAffined(keys=("image", "label"), prob=0.7, rotate_range=rotate_range, scale_range=scale_range,
                    mode=("bilinear", "nearest"), padding_mode="border"),
        RandShiftIntensityd(keys="image", offsets=augmentation.intensity_shift, prob=0.5),
        RandScaleIntensityd(keys="image", factors=augmentation.intensity_scale, prob=0.5),
    ])


def sample_batch(examples: list[tuple[np.ndarray, np.ndarray]], transform: Compose, batch_size: int,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw examples at random and transform them into a (B, 1, *roi) image and label batch."""
    images, labels = [], []
    while len(images) < batch_size:
        image, label = examples[int(rng.integers(len(examples)))]
        patches = transform({"image": image[None], "label": label[None].astype(np.float32)})
        for patch in patches if isinstance(patches, list) else [patches]:
            images.append(torch.as_tensor(patch["image"]).float())
            labels.append(torch.as_tensor(patch["label"]).round().long())
    return torch.stack(images[:batch_size]), torch.stack(labels[:batch_size])
