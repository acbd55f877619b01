"""C3 level finder, stage 1 of Naser et al. 2022 (SPEC 2.2): a 3D ResUNet segments the 33 mm C3 section;
its middle slice is where the 2D C3 muscle model (preset ``c3``) measures. Beyond the paper, the body
above and below the section are classes too, so every voxel (and every out-of-view scan) teaches the
network where C3 is."""

from ._slab import SLAB_AUGMENTATION, cpu_profile, paper_profile, tiny_profile
from .base import Intensity, LabelSpec, Preset

PRESET = Preset(
    name="c3_level",
    title="C3 section slab (level finder, CT)",
    modality="CT",
    spatial_dims=3,
    labels=(LabelSpec(1, "C3", paired=False), LabelSpec(2, "cranial", paired=False),
            LabelSpec(3, "caudal", paired=False)),
    intensity=Intensity("ct_window", window=(-250.0, 250.0)),
    augmentation=SLAB_AUGMENTATION,
    profiles={
        "paper": paper_profile(),
        "cpu": cpu_profile((6.0, 6.0, 3.0), (64, 32, 32),
                           "paper's residual UNet at 6 mm in-plane / 3 mm slices, 192 mm tall patches"),
        "tiny": tiny_profile((8.0, 8.0, 4.0), (48, 24, 24)),
    },
    hu_range=None,
    target_level="C3",
    phantom_anatomy="c3",
    citation="Naser M.A. et al. 2022 (3D ResUNet of the C3 section, middle slice)",
    label_source="zones:C3_section:C3_section:cranial",  # a scan without any vertebra is a head scan
    role="level",
)
