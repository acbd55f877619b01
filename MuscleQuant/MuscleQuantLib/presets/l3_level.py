"""L3 level finder (SPEC 2.3): the C3 paper's slab approach applied to L3 — a 3D ResUNet segments the body
between the top and bottom of the L3 vertebral body (metadata levels × body mask), with the body above
and below as two more classes; the slab's centre is the mid-vertebral slice the L3 muscle model
(preset ``l3``) measures on."""

from ._slab import SLAB_AUGMENTATION, cpu_profile, paper_profile, tiny_profile
from .base import Intensity, LabelSpec, Preset

PRESET = Preset(
    name="l3_level",
    title="L3 vertebral slab (level finder, CT)",
    modality="CT",
    spatial_dims=3,
    labels=(LabelSpec(1, "L3", paired=False), LabelSpec(2, "cranial", paired=False),
            LabelSpec(3, "caudal", paired=False)),
    intensity=Intensity("ct_window", window=(-250.0, 250.0)),
    augmentation=SLAB_AUGMENTATION,
    profiles={
        "paper": paper_profile(),
        "cpu": cpu_profile((8.0, 8.0, 3.0), (96, 32, 32),
                           "residual UNet at 8 mm in-plane / 3 mm slices: 288 mm tall patches see ribs, iliac crests "
                           "and sacrum at once"),
        "tiny": tiny_profile((10.0, 10.0, 5.0), (48, 24, 24)),
    },
    hu_range=None,
    target_level="L3",
    phantom_anatomy="l3",
    citation="Slab finder after Naser M.A. et al. 2022; L3 measurement after Kreher R. et al. 2022",
    label_source="zones:L3:L3",
    role="level",
)
