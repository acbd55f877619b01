"""Temporalis muscle on T1 post-contrast head MRI (Mi et al., Br J Cancer 2022; SPEC 2.1)."""

from .base import Intensity, LabelSpec, Preset, Profile, TrainingRecipe

PRESET = Preset(
    name="temporalis",
    title="Temporalis muscle (T1 post-contrast MRI)",
    modality="MR",
    spatial_dims=2,
    labels=(LabelSpec(1, "temporalis"),),
    intensity=Intensity("zscore", bias_correction=True),
    output_activation="sigmoid",
    profiles={
        # 2D U-Net, 4 down/up-samplings, 3×3 convs with batch norm, dropout 0.5 in the two deepest blocks,
        # 256×256 input at 1 mm → 16×16×1024 bottleneck, sigmoid > 0.5, Dice loss, Adam, batch 2,
        # early stop after 3 epochs without validation improvement.
        "paper": Profile(
            network="DeepDropoutUNet",
            network_args={"features": [64, 128, 256, 512, 1024, 64], "norm": "batch", "act": "relu", "deep_dropout": 0.5},
            spacing=(1.0, 1.0),
            roi=(256, 256),
            training=TrainingRecipe(loss="dice", optimizer="adam", learning_rate=1e-4, batch_size=2, max_epochs=50,
                                    iterations_per_epoch=100, early_stop_patience=3),
        ),
        "cpu": Profile(
            network="DeepDropoutUNet",
            network_args={"features": [16, 32, 64, 128, 256, 16], "norm": "batch", "act": "relu", "deep_dropout": 0.5},
            spacing=(1.5, 1.5),
            roi=(160, 160),
            training=TrainingRecipe(loss="dice", optimizer="adam", learning_rate=1e-3, batch_size=4, max_epochs=60,
                                    iterations_per_epoch=20, early_stop_patience=8),
            note="paper design at a quarter of the width and 1.5 mm",
        ),
        "tiny": Profile(
            network="DeepDropoutUNet",
            network_args={"features": [8, 16, 32, 64, 128, 8], "norm": "batch", "act": "relu", "deep_dropout": 0.5},
            spacing=(3.0, 3.0),
            roi=(64, 64),
            training=TrainingRecipe(loss="dice", optimizer="adam", learning_rate=5e-3, batch_size=4, max_epochs=8,
                                    iterations_per_epoch=10, early_stop_patience=100),
            note="smoke-test size: trains in seconds, proves the pipeline learns; not for measurement",
        ),
    },
    hu_range=None,
    min_island_mm2=15.0,
    target_level="superior_orbital_quarter",
    phantom_anatomy="temporalis",
    citation="Mi E. et al., Br J Cancer 2022 (temporalis segmentation and survival)",
)
