"""Class-balanced patch sampling and the thigh CPU recipe: small muscles must be trained on as often
as large ones, which half-foreground sampling does not do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.presets.base import Augmentation
from MuscleQuantLib.training.augment import prepare_examples, sample_batch, training_transform
from MuscleQuantLib.training.trainer import make_loss

NO_AUGMENTATION = Augmentation(
    flip_prob=0.0, rotate_deg=0.0, scale=0.0, intensity_shift=0.0, intensity_scale=0.0
)


def _volume() -> tuple[np.ndarray, np.ndarray]:
    """A large class filling most of the volume and a 2×2×2 class in one corner."""
    label = np.zeros((24, 24, 24), dtype=np.uint8)
    label[4:20, 4:20, 4:20] = 1
    label[20:22, 20:22, 20:22] = 2
    return np.random.default_rng(0).normal(size=label.shape).astype(np.float32), label


def _share_with_small_class(num_classes: int | None, draws: int = 200) -> float:
    roi = (8, 8, 8)
    examples = prepare_examples([_volume()], roi, pad_value=0.0, num_classes=num_classes)
    transform = training_transform(roi, NO_AUGMENTATION, patches=1, num_classes=num_classes)
    transform.set_random_state(0)
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(draws):
        _, labels = sample_batch(examples, transform, 1, rng)
        hits += int((labels == 2).any())
    return hits / draws


def test_class_balanced_sampling_reaches_a_small_class_often():
    balanced = _share_with_small_class(num_classes=3)
    posneg = _share_with_small_class(num_classes=None)
    assert balanced > 0.25  # a third of the centres lie on the small class
    assert balanced > 2 * posneg


def test_batch_dice_loss_is_available():
    preset = get_preset("thigh")
    loss = make_loss(preset, preset.profile("cpu"))
    logits = torch.zeros((2, preset.num_classes, 4, 4, 4), requires_grad=True)
    target = torch.zeros((2, 1, 4, 4, 4), dtype=torch.long)
    value = loss(logits, target)
    value.backward()
    assert torch.isfinite(value) and logits.grad is not None


@pytest.mark.parametrize("profile", ["paper", "unet3d", "cpu", "cpu_3d", "tiny"])
def test_thigh_profiles_build(profile):
    from MuscleQuantLib.networks import build_network

    preset = get_preset("thigh")
    network = build_network(preset.profile(profile).network, preset.network_args(profile))
    assert sum(p.numel() for p in network.parameters()) > 0


def test_slice_unet_keeps_the_3d_shape_and_uses_neighbouring_slices():
    from MuscleQuantLib.models.networks import check_network_args
    from MuscleQuantLib.networks import SliceUNet, build_network

    preset = get_preset("thigh")
    args = check_network_args("SliceUNet", preset.network_args("cpu"), spatial_dims=3)  # a card may name it
    network = build_network("SliceUNet", args).eval()
    assert isinstance(network, SliceUNet)
    x = torch.zeros((1, 1, 5, 32, 32))
    with torch.no_grad():
        base = network(x)
        x[:, :, 3] = 1.0  # change only slice 3: slices 2–4 see it, slice 0 does not
        changed = network(x)
    assert base.shape == (1, preset.num_classes, 5, 32, 32)
    differs = (changed - base).abs().amax(dim=(0, 1, 3, 4))
    assert differs[0] == 0 and differs[2] > 0 and differs[4] > 0


def test_slice_unet_centre_prediction_matches_the_full_forward():
    """Single-slice training scores ``forward_centre``; it must be the very prediction inference makes
    for those slices when their real neighbours are present."""
    from MuscleQuantLib.networks import SliceUNet

    network = SliceUNet(out_channels=3, features=(4, 4, 8, 8, 16, 4), context=1).eval()
    x = torch.randn((2, 1, 5, 32, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = network(x)
        centre = network.forward_centre(x)
        single = network.forward_centre(x[:, :, 1:4])
    assert centre.shape == (2, 3, 3, 32, 32)
    assert torch.allclose(centre, full[:, :, 1:4], atol=1e-6)
    assert torch.allclose(single, full[:, :, 2:3], atol=1e-6)
    with pytest.raises(ValueError, match="at least 3 slices"):
        network.forward_centre(x[:, :, :2])


@pytest.mark.parametrize("preset", ["thigh", "l3"])
def test_random_contrast_curves_stay_in_the_presets_intensity_range(preset):
    """The thigh normalises to (0, 1): a curve drawn over (-1, 1) put training patches where inference never is."""
    from MuscleQuantLib.training.augment import RandContrastCurved

    low, high = get_preset(preset).intensity.output_range
    curve = RandContrastCurved("image", prob=1.0, value_range=(low, high))
    curve.set_random_state(3)
    image = torch.linspace(low, high, 500).reshape(1, 20, 25)
    for _ in range(20):
        out = curve({"image": image})["image"]
        assert float(out.min()) >= low and float(out.max()) <= high
    transform = training_transform((16, 16), Augmentation(), 1, contrast_curve=1.0, value_range=(low, high))
    assert transform.transforms[-1].value_range == (low, high)
