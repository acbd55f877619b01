"""Orbit level finder for the temporalis (SPEC 2.1): a 3D ResUNet segments the head between mid-orbit and
orbital roof (the head above and below are two more classes) and the globes themselves. The globes'
centroid is the mid-orbit (Mi et al.'s TCGA level) and their absence means "orbits not in view"; the
slab's upper edge is the orbital roof, and halfway between is the superior orbital quarter (their level)."""

from dataclasses import replace

from ._slab import CPU_RES_UNET, SLAB_AUGMENTATION, cpu_profile, paper_profile, tiny_profile
from .base import Intensity, LabelSpec, Preset


def _orbit_cpu_profile():
    """The slab finders' CPU ResUNet at 5 mm in-plane, but with features at full in-plane resolution.

    MONAI's UNet downsamples in its first convolution, so with the shared strides its finest features lie
    at 10 mm in-plane: a 24 mm globe is two feature pixels, and the starter trained that way marked
    globes at 0.17 Dice on its own training images (val Dice 0.45 from epoch 9 to 30). The first stride
    here halves only z (2 → 4 mm), keeping 5 mm in-plane features; the globes are also sampled as patch
    centres as often as each zone ("classes")."""
    base = cpu_profile((5.0, 5.0, 2.0), (64, 32, 32),
                       "residual UNet at 5 mm in-plane / 2 mm slices, features at 5 mm in-plane (first stride "
                       "halves z only); globes stay about 5 voxels wide")
    return replace(base, network_args={**CPU_RES_UNET, "strides": [[2, 1, 1], 2, 2, 2]},
                   training=replace(base.training, sampling="classes"))


PRESET = Preset(
    name="orbit_level",
    title="Orbit slab, mid-orbit to orbital roof, and globes (level finder, MRI)",
    modality="MR",
    spatial_dims=3,
    labels=(LabelSpec(1, "orbit_slab", paired=False), LabelSpec(2, "cranial", paired=False),
            LabelSpec(3, "caudal", paired=False), LabelSpec(4, "globe", paired=False)),
    intensity=Intensity("zscore", bias_correction=False),  # z-score is enough to find the orbits; N4 is slow in 3D
    augmentation=SLAB_AUGMENTATION,
    profiles={
        "paper": paper_profile(),
        "cpu": _orbit_cpu_profile(),
        "tiny": tiny_profile((6.0, 6.0, 3.0), (48, 24, 24)),
    },
    hu_range=None,
    target_level="superior_orbital_quarter",
    phantom_anatomy="temporalis",
    citation="Mi E. et al., Br J Cancer 2022 (levels: superior orbital quarter, mid-orbit)",
    # out-of-view head slabs lie above the orbits; the globes come from the phantom's head_structures map
    label_source="zones:mid_orbit:orbital_roof:cranial|head_structures=globe",
    role="level",
)
