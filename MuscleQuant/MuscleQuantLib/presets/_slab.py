"""Shared design of the level finders' slab models (SPEC 2.2: the C3 paper's 3D ResUNet stage).

A slab model segments, in 3D, the body between two levels (the 33 mm C3 section, the L3 vertebral
body's extent, the orbit from mid-orbit to orbital roof); the finder reads the level off the slab's
z-profile. The 'cpu' profile keeps the paper's network family (MONAI UNet with residual units) but
works at coarse in-plane spacing with tall patches, so ribs, iliac crests or orbits are in view of
every patch and a finder trains in a few CPU minutes.
"""

from __future__ import annotations

from .base import Augmentation, Profile, TrainingRecipe

# MONAI UNet with residual units (Naser et al. 2022), full width at 1 mm in the paper profile.
PAPER_RES_UNET = {"channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2, "norm": "batch"}
CPU_RES_UNET = {"channels": [8, 16, 32, 48, 64], "strides": [2, 2, 2, 2], "num_res_units": 1, "norm": "batch"}

SLAB_AUGMENTATION = Augmentation(flip_prob=0.5, rotate_deg=12.0, scale=0.10, intensity_shift=0.05,
                                 intensity_scale=0.05)


def paper_profile() -> Profile:
    """The C3 paper's recipe: 1 mm isotropic, 4 random 96³ patches per patient, Adam, soft Dice,
    300 iterations at 2e-4 then 1e-4 for the last 50."""
    return Profile(
        network="UNet", network_args=PAPER_RES_UNET, spacing=(1.0, 1.0, 1.0), roi=(96, 96, 96),
        training=TrainingRecipe(loss="dice", optimizer="adam", learning_rate=2e-4, batch_size=4, max_epochs=300,
                                iterations_per_epoch=1, patches_per_case=4, lr_schedule="step",
                                lr_step_fraction=250 / 300, lr_step_to=1e-4, early_stop_patience=300),
    )


def cpu_profile(spacing: tuple[float, float, float], roi: tuple[int, int, int], note: str) -> Profile:
    """Coarse-grid ResUNet; ``spacing`` is (x, y, z) mm, ``roi`` is (z, y, x) voxels (array order)."""
    return Profile(
        network="UNet", network_args=CPU_RES_UNET, spacing=spacing, roi=roi,
        training=TrainingRecipe(loss="dice_ce", optimizer="adam", learning_rate=3e-3, batch_size=2, max_epochs=60,
                                iterations_per_epoch=50, patches_per_case=2, lr_schedule="plateau",
                                early_stop_patience=20),
        note=note,
    )


def tiny_profile(spacing: tuple[float, float, float], roi: tuple[int, int, int]) -> Profile:
    """Smoke-test size: trains in seconds on a few phantoms to prove the finder learns; not for use."""
    return Profile(
        network="UNet", network_args={"channels": [8, 16, 32], "strides": [2, 2], "num_res_units": 1, "norm": "batch"},
        spacing=spacing, roi=roi,
        training=TrainingRecipe(loss="dice_ce", optimizer="adam", learning_rate=5e-3, batch_size=2, max_epochs=8,
                                iterations_per_epoch=10, patches_per_case=2, early_stop_patience=100),
        note="smoke-test size: trains in seconds, proves the finder learns; not for measurement",
    )
