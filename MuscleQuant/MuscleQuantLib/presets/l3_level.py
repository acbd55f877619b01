"""L3 level finder (SPEC 2.3) as a vertebra ladder: a 3D ResUNet segments the vertebrae and names each
(sacrum, L5 … T12, T11 and above; discs are background); the finder then fits the ladder's order along
the whole scan, so L3 is read by counting from the sacrum, the iliac crests and the last ribs together
instead of from the look of one vertebra. The L3 body's centre is the
mid-vertebral slice the L3 muscle model (preset ``l3``) measures on."""

from ._slab import SLAB_AUGMENTATION, cpu_profile, paper_profile, tiny_profile
from .base import Intensity, LabelSpec, Preset

# Caudal to cranial; the top class also stands for every vertebra above it (the rib-bearing T11 and up:
# T12, the last rib, and the sacrum are the ladder's two anchors).
LADDER = ("sacrum", "L5", "L4", "L3", "L2", "L1", "T12", "T11")

PRESET = Preset(
    name="l3_level",
    title="L3 vertebra ladder (level finder, CT)",
    modality="CT",
    spatial_dims=3,
    labels=tuple(LabelSpec(i + 1, name, paired=False) for i, name in enumerate(LADDER)),
    intensity=Intensity("ct_window", window=(-250.0, 250.0)),
    augmentation=SLAB_AUGMENTATION,
    profiles={
        "paper": paper_profile(),
        "cpu": cpu_profile((10.0, 10.0, 3.0), (96, 32, 32),
                           "residual UNet at 10 mm in-plane / 3 mm slices: 288 mm tall, 320 mm wide patches see ribs, "
                           "iliac crests and sacrum at once"),
        "tiny": tiny_profile((10.0, 10.0, 5.0), (48, 24, 24)),
    },
    hu_range=None,
    target_level="L3",
    phantom_anatomy="l3",
    citation="Vertebra ladder after the slab finder of Naser M.A. et al. 2022; L3 measurement after Kreher R. et al. 2022",
    label_source="ladder",
    role="level",
)
