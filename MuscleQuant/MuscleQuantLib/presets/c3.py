"""C3 skeletal muscle on head-and-neck CT, 2D stage (Naser et al. 2022; SPEC 2.2).

The 3D C3-slab stage that chooses the slice is a level finder (``levels``), not this preset.
"""

from .base import Augmentation, Intensity, LabelSpec, Preset, Profile, TrainingRecipe

_RES_UNET = {"channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2, "norm": "batch"}

PRESET = Preset(
    name="c3",
    title="C3 neck skeletal muscle (CT)",
    modality="CT",
    spatial_dims=2,
    labels=(
        LabelSpec(1, "paravertebral_muscles"),
        LabelSpec(2, "sternocleidomastoid"),
    ),
    intensity=Intensity("ct_window", window=(-250.0, 250.0)),
    augmentation=Augmentation(flip_prob=0.5, rotate_deg=12.0, scale=0.10),
    profiles={
        # MONAI UNet with residual units, 4 random 96² patches per patient, flips/rotation ±12°/scale ±10 %,
        # Adam (0.9, 0.999), soft Dice, 300 iterations at 2e-4 then 1e-4 for the last 50.
        "paper": Profile(
            network="UNet",
            network_args=_RES_UNET,
            spacing=(1.0, 1.0),
            roi=(96, 96),
            training=TrainingRecipe(loss="dice", optimizer="adam", learning_rate=2e-4, batch_size=4, max_epochs=300,
                                    iterations_per_epoch=1, patches_per_case=4, lr_schedule="step",
                                    lr_step_fraction=250 / 300, lr_step_to=1e-4, early_stop_patience=300),
        ),
        "cpu": Profile(
            network="UNet",
            network_args=_RES_UNET,
            spacing=(1.5, 1.5),
            roi=(96, 96),
            training=TrainingRecipe(loss="dice_ce", optimizer="adam", learning_rate=2e-3, batch_size=8, max_epochs=60,
                                    iterations_per_epoch=20, patches_per_case=4, lr_schedule="step",
                                    lr_step_fraction=0.833, lr_step_to=5e-4, early_stop_patience=10),
            note="paper network at 1.5 mm; higher learning rate and Dice+CE to converge in minutes on CPU",
        ),
        "tiny": Profile(
            network="UNet",
            network_args={"channels": [8, 16, 32, 64], "strides": [2, 2, 2], "num_res_units": 1, "norm": "batch"},
            spacing=(3.0, 3.0),
            roi=(64, 64),
            training=TrainingRecipe(loss="dice_ce", optimizer="adam", learning_rate=5e-3, batch_size=4, max_epochs=8,
                                    iterations_per_epoch=10, patches_per_case=2, early_stop_patience=100),
            note="smoke-test size: trains in seconds, proves the pipeline learns; not for measurement",
        ),
    },
    hu_range="alberta",
    min_island_mm2=10.0,
    target_level="C3",
    phantom_anatomy="c3",
    citation="Naser M.A. et al. 2022 (C3 slab + 2D muscle segmentation); Swartz J.E. et al., Oral Oncol 2016",
)
