"""27 thigh muscles plus femur and iliac bone on whole-thigh CT (Kim et al., Sci Rep 2024; SPEC 2.4).

The label list is data: correct it here and every consumer (training, output, quantification) follows.
"""

from .base import Intensity, LabelSpec, Preset, Profile, TrainingRecipe

MUSCLE_GROUPS: dict[str, tuple[str, ...]] = {
    "anterior": ("sartorius", "rectus_femoris", "vastus_lateralis", "vastus_intermedius", "vastus_medialis"),
    "medial": ("adductor_longus", "adductor_brevis", "adductor_magnus", "gracilis", "pectineus"),
    "posterior": ("semitendinosus", "semimembranosus", "biceps_femoris"),
    "gluteal": ("gluteus_maximus", "gluteus_medius", "gluteus_minimus", "tensor_fasciae_latae", "piriformis",
                "obturator_internus", "obturator_externus", "quadratus_femoris"),
    "other": ("iliacus", "iliopsoas", "psoas", "abdominal_oblique", "rectus_abdominis", "multifidus"),
}
MUSCLES: tuple[str, ...] = tuple(name for group in MUSCLE_GROUPS.values() for name in group)
BONES: tuple[str, ...] = ("femur", "iliac_bone")

_PAPER_RECIPE = TrainingRecipe(loss="dice", optimizer="adamw", learning_rate=8e-5, weight_decay=1e-5, batch_size=2,
                               max_epochs=500, iterations_per_epoch=50, patches_per_case=2, early_stop_patience=50)

PRESET = Preset(
    name="thigh",
    title="Thigh: 27 muscles, femur and iliac bone (CT)",
    modality="CT",
    spatial_dims=3,
    labels=tuple(LabelSpec(i + 1, name, tissue="bone" if name in BONES else "muscle")
                 for i, name in enumerate(MUSCLES + BONES)),
    intensity=Intensity("ct_window", window=(-57.0, 164.0), output_range=(0.0, 1.0), gamma=2.0),
    profiles={
        # UNETR (hidden 768, 12 heads, MLP 3072, ViT patch 16³) on 96³ patches at 1.5×1.5×2 mm,
        # clip −57…164 HU, gamma 2, crop to foreground; AdamW 8e-5, wd 1e-5, batch 2, Dice loss.
        "paper": Profile(
            network="UNETR",
            network_args={"feature_size": 16, "hidden_size": 768, "mlp_dim": 3072, "num_heads": 12,
                          "proj_type": "conv", "norm_name": "instance", "res_block": True},
            spacing=(1.5, 1.5, 2.0),
            roi=(96, 96, 96),
            training=_PAPER_RECIPE,
        ),
        "unet3d": Profile(
            network="BasicUNet",
            network_args={"features": [32, 32, 64, 128, 256, 32], "norm": "instance"},
            spacing=(1.5, 1.5, 2.0),
            roi=(96, 96, 96),
            training=TrainingRecipe(loss="dice", optimizer="adamw", learning_rate=1e-4, weight_decay=1e-5,
                                    batch_size=2, max_epochs=500, iterations_per_epoch=50, patches_per_case=2,
                                    early_stop_patience=50),
            note="the paper's 3D U-Net baseline",
        ),
        # 2.5D: the same MONAI BasicUNet blocks as the 3D baseline, run on each axial slice with the slices
        # 5 mm above and below as channels; on one CPU thread a 3×3 kernel costs a third of a 3×3×3 one, so
        # every sample can span the whole cross-section (96×128 voxels = 34×45 cm). Each training sample is
        # one slice (with its two neighbours as input) centred on a class chosen uniformly, so a batch of 16
        # holds slices from all over the thigh and the small hip muscles as often as the vasti; a stack of
        # 16 neighbouring slices per sample (the previous recipe) cost twice as much per step and its slices
        # mostly repeated each other. bench_segmentation.py (12 phantoms, 10 min, quiet 2-core machine):
        # held-out mean Dice over the 27 muscles 0.900, against 0.717 for stacked patches in the same run
        # conditions and lower still for the 3D U-Net below; 0.877 with one thread beside the test suite.
        "cpu": Profile(
            network="SliceUNet",
            network_args={"features": [16, 16, 32, 64, 128, 16], "context": 1, "norm": "instance"},
            spacing=(3.5, 3.5, 5.0),
            roi=(16, 96, 128),  # inference window; training samples are (3, 96, 128): one slice and its context
            # One Dice per class over the batch plus cross-entropy (Dice alone left obturator externus on the air
            # in front of the thighs), and poly decay over the time budget so training ends at a
            # low rate.
            training=TrainingRecipe(loss="dice_batch_ce", optimizer="adamw", learning_rate=1e-2, weight_decay=1e-5,
                                    batch_size=16, max_epochs=200, iterations_per_epoch=100, patches_per_case=4,
                                    lr_schedule="poly", sampling="classes", early_stop_patience=20,
                                    single_slices=True),
            note="2.5D U-Net (2D BasicUNet per axial slice, ±1 slice context) at 3.5×3.5×5 mm, trained on single "
                 "slices, for CPU minutes",
        ),
        "cpu_3d": Profile(
            network="BasicUNet",
            network_args={"features": [16, 16, 32, 64, 128, 16], "norm": "instance"},
            spacing=(3.5, 3.5, 5.0),
            roi=(48, 64, 64),
            training=TrainingRecipe(loss="dice", optimizer="adamw", learning_rate=5e-3, weight_decay=1e-5,
                                    batch_size=2, max_epochs=60, iterations_per_epoch=25, patches_per_case=2,
                                    early_stop_patience=10),
            note="3D U-Net baseline at 3.5×3.5×5 mm (the previous CPU profile)",
        ),
        "cpu_unetr": Profile(
            network="UNETR",
            network_args={"feature_size": 8, "hidden_size": 192, "mlp_dim": 768, "num_heads": 4,
                          "proj_type": "conv", "norm_name": "instance", "res_block": True},
            spacing=(3.5, 3.5, 5.0),
            roi=(64, 64, 64),
            training=TrainingRecipe(loss="dice", optimizer="adamw", learning_rate=5e-4, weight_decay=1e-5,
                                    batch_size=2, max_epochs=60, iterations_per_epoch=10, patches_per_case=2,
                                    early_stop_patience=10),
            note="UNETR at a quarter of the paper's width, for CPU",
        ),
        "tiny": Profile(
            network="BasicUNet",
            network_args={"features": [8, 8, 16, 32, 64, 8], "norm": "instance"},
            spacing=(10.0, 10.0, 12.0),
            roi=(32, 32, 48),
            training=TrainingRecipe(loss="dice", optimizer="adamw", learning_rate=1e-2, weight_decay=1e-5,
                                    batch_size=2, max_epochs=8, iterations_per_epoch=15, patches_per_case=1,
                                    early_stop_patience=100),
            note="smoke-test size: trains in seconds, proves the pipeline learns; not for measurement "
                 "(soft Dice: with 30 classes Dice+CE learned the background first: 0.07 vs 0.27 after 160 iterations)",
        ),
    },
    hu_range="alberta",
    min_island_mm3=300.0,
    target_level="thigh",
    phantom_anatomy="thigh",
    citation="Kim H. et al., Scientific Reports 2024 (27 thigh muscles, UNETR)",
)
