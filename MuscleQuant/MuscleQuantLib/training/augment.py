"""Training-time sampling and augmentation with MONAI transforms: patches (label-aware), left–right
flips, in-plane rotation and scaling, intensity shifts — the recipes of SPEC 2."""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.transforms import (
    Compose,
    MapTransform,
    RandAffined,
    RandCropByLabelClassesd,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandomizableTransform,
    RandScaleIntensityd,
    RandShiftIntensityd,
)
from monai.transforms.utils import map_binary_to_indices, map_classes_to_indices
from monai.utils import convert_to_tensor

from ..presets.base import Augmentation


def prepare_examples(pairs: list[tuple[np.ndarray, np.ndarray]], roi: tuple[int, ...], pad_value: float,
                     num_classes: int | None = None) -> list[dict]:
    """Pad each (image, label) to at least the patch size and find its sampling voxels once, so every
    batch only crops (recomputing them per batch dominated 3D training time).

    With ``num_classes`` the voxels of every class are indexed (class-balanced sampling), else only
    foreground and background.
    """
    examples = []
    for image, label in pairs:
        widths = [((max(0, r - n) + 1) // 2, max(0, r - n) // 2) for n, r in zip(image.shape, roi, strict=True)]
        image = np.pad(image, widths, constant_values=pad_value)[None].astype(np.float32)
        label = np.pad(label, widths, constant_values=0)[None].astype(np.float32)
        if num_classes:
            examples.append({"image": image, "label": label, "classes": map_classes_to_indices(label, num_classes)})
        else:
            fg, bg = map_binary_to_indices(label > 0)
            examples.append({"image": image, "label": label, "fg": fg, "bg": bg})
    return examples


class RandContrastCurved(RandomizableTransform, MapTransform):
    """SynthSeg-style contrast randomisation (Billot et al. 2023) for images whose tissues each have
    a near-constant value (phantoms): a random lookup curve through ``points`` random values over the
    normalised range gives every tissue a new, random intensity, in any order."""

    def __init__(self, keys: str, prob: float, points: int = 7, value_range: tuple[float, float] = (-1.0, 1.0)):
        RandomizableTransform.__init__(self, prob)
        MapTransform.__init__(self, keys)
        self.points, self.value_range = points, value_range
        self._curve: np.ndarray | None = None

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        self._curve = self.R.uniform(*self.value_range, self.points)

    def __call__(self, data: dict) -> dict:
        out = dict(data)
        self.randomize()
        if not self._do_transform:
            return out
        grid = np.linspace(*self.value_range, self.points)
        for key in self.key_iterator(out):
            image = convert_to_tensor(out[key], track_meta=False).float()
            out[key] = torch.from_numpy(np.interp(image.numpy(), grid, self._curve).astype(np.float32))
        return out


def training_transform(roi: tuple[int, ...], augmentation: Augmentation, patches: int,
                       num_classes: int | None = None, contrast_curve: float = 0.0,
                       value_range: tuple[float, float] = (-1.0, 1.0)) -> Compose:
    """Sample ``patches`` patches per example, then augment them.

    ``contrast_curve``: probability of a random intensity curve per patch (``RandContrastCurved``), over
    ``value_range``, the preset's normalised intensity range, so curved patches stay in what inference sees.
    Centres: half on muscle and half anywhere, or — with ``num_classes`` — on each class equally
    often, so a muscle of a few hundred voxels is trained on as often as the vasti.
    Arrays are channel-first (1, *spatial) in canonical order, so the last axis is left–right and
    in-plane rotation is about the first spatial axis in 3D.
    """
    dims = len(roi)
    rotate = math.radians(augmentation.rotate_deg)
    rotate_range = (rotate,) if dims == 2 else (rotate, 0.0, 0.0)
    scale_range = (augmentation.scale,) * 2 if dims == 2 else (0.0, augmentation.scale, augmentation.scale)
    if num_classes:
        crop = RandCropByLabelClassesd(keys=("image", "label"), label_key="label", spatial_size=roi,
                                       num_classes=num_classes, num_samples=patches, indices_key="classes",
                                       warn=False)
    else:
        crop = RandCropByPosNegLabeld(keys=("image", "label"), label_key="label", spatial_size=roi, pos=1, neg=1,
                                      num_samples=patches, fg_indices_key="fg", bg_indices_key="bg")
    return Compose([
        crop,
        RandFlipd(keys=("image", "label"), prob=augmentation.flip_prob, spatial_axis=dims - 1),
        RandAffined(keys=("image", "label"), prob=0.7, rotate_range=rotate_range, scale_range=scale_range,
                    mode=("bilinear", "nearest"), padding_mode="border"),
        RandShiftIntensityd(keys="image", offsets=augmentation.intensity_shift, prob=0.5),
        RandScaleIntensityd(keys="image", factors=augmentation.intensity_scale, prob=0.5),
        *([RandContrastCurved("image", contrast_curve, value_range=value_range)] if contrast_curve > 0 else []),
    ])


def sample_batch(examples: list[dict], transform: Compose, batch_size: int,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw examples at random and transform them into a (B, 1, *roi) image and label batch."""
    images, labels = [], []
    while len(images) < batch_size:
        patches = transform(dict(examples[int(rng.integers(len(examples)))]))  # the crop pops the index keys
        for patch in patches if isinstance(patches, list) else [patches]:
            # Plain tensors: MONAI's MetaTensor wraps every network op in Python and slowed CPU training ~1.5×.
            images.append(convert_to_tensor(patch["image"], dtype=torch.float32, track_meta=False))
            labels.append(convert_to_tensor(patch["label"], track_meta=False).round().long())
    return torch.stack(images[:batch_size]), torch.stack(labels[:batch_size])
