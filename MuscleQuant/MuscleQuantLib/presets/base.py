"""What a preset fixes (SPEC 2): modality and intensity handling, labels, network, sampling,
training recipe, post-processing and the level it measures at. Presets are data; the pipeline that
uses them exists once (``pipeline``, ``training``, ``inference``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Named HU windows for muscle (SPEC 2.3/3); a custom "lo,hi" is accepted wherever a name is.
HU_RANGES: dict[str, tuple[float, float]] = {
    "alberta": (-29.0, 150.0),  # the common range (Mitsiopoulos 1998 / Alberta protocol)
    "kreher": (-20.0, 200.0),  # Kreher et al. 2022, L3 paper
}
IMAT_RANGE = (-190.0, -30.0)


@dataclass(frozen=True)
class LabelSpec:
    """A training class. ``paired`` muscles are split into ``<name>_left``/``<name>_right`` on output."""

    value: int
    name: str
    paired: bool = True
    # "muscle" or "bone": the muscle HU window (post-processing, all-muscle scores) applies to muscle only;
    # a bone label inside it would be erased, since bone lies above the window by definition.
    tissue: str = "muscle"


@dataclass(frozen=True)
class OutputLabel:
    """A label of the segmentation written for users (sided where the muscle is paired)."""

    value: int
    name: str
    source_value: int  # the training class it comes from
    side: str | None  # "left", "right" or None


@dataclass(frozen=True)
class Intensity:
    """How voxel values become network input."""

    kind: str  # "ct_window": clip HU then scale; "zscore": MR z-score inside the head/body
    window: tuple[float, float] | None = None
    output_range: tuple[float, float] = (-1.0, 1.0)
    gamma: float | None = None  # contrast gamma after scaling to [0, 1] (thigh paper)
    bias_correction: bool = False  # N4 before z-score (temporalis paper)


@dataclass(frozen=True)
class Augmentation:
    flip_prob: float = 0.5
    rotate_deg: float = 12.0
    scale: float = 0.10
    intensity_shift: float = 0.05  # in normalised units
    intensity_scale: float = 0.05


@dataclass(frozen=True)
class TrainingRecipe:
    loss: str  # "dice" (soft Dice per patch), "dice_batch" (per class over the batch), "dice_ce", or "dice_batch_ce" (batch Dice + cross-entropy)
    optimizer: str  # "adam" or "adamw"
    learning_rate: float
    batch_size: int
    max_epochs: int
    iterations_per_epoch: int
    weight_decay: float = 0.0
    patches_per_case: int = 1
    lr_schedule: str | None = None  # "plateau", "step" or "poly" (decays over the iterations or time budget)
    lr_step_fraction: float = 0.833  # "step": drop at this fraction of training (C3: last 50 of 300)
    lr_step_to: float | None = None
    early_stop_patience: int = 10  # epochs without validation improvement
    train_slab_mm: float = 12.0  # 2D: train on labelled slices within this distance of the target level
    # Patch centres: "posneg" (half on any label, half anywhere) or "classes" (each class equally often,
    # so small structures are seen as often as large ones).
    sampling: str = "posneg"
    # 2.5D networks (SliceUNet): each training sample is one slice with its context slices and the loss
    # covers that slice only, so a batch holds slices from many places instead of a stack of neighbours.
    single_slices: bool = False


@dataclass(frozen=True)
class Profile:
    """A network + sampling + recipe that belong together. 'paper' is faithful to the publication;
    'cpu' keeps the design but shrinks width/resolution so it trains in minutes on a laptop CPU."""

    network: str
    network_args: dict[str, Any]
    spacing: tuple[float, ...]  # target spacing (mm): (x, y) for 2D, (x, y, z) for 3D
    roi: tuple[int, ...]  # network input/patch size in voxels, array order: (y, x) for 2D, (z, y, x) for 3D
    training: TrainingRecipe
    note: str = ""


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    modality: str  # "CT" or "MR"
    spatial_dims: int  # 2: one slice; 3: the volume
    labels: tuple[LabelSpec, ...]
    intensity: Intensity
    profiles: dict[str, Profile]
    output_activation: str = "softmax"  # "sigmoid" for single-class presets trained like the paper
    augmentation: Augmentation = field(default_factory=Augmentation)
    hu_range: str | None = "alberta"  # default post-processing HU window (CT only)
    min_island_mm2: float = 20.0  # 2D: drop smaller islands; 3D uses min_island_mm3
    min_island_mm3: float = 500.0
    # 2D: label groups that are one piece per side on an axial slice; every other piece of that side is
    # dropped. Thin bands (rectus, abdominal wall) are judged on the network's output, before the HU window
    # breaks them at fat planes and partial volume; thick muscles (e.g. psoas) after it, which also
    # parts them from an organ they ran into across a fat plane.
    one_piece_before_window: tuple[str, ...] = ()
    one_piece: tuple[str, ...] = ()
    piece_share: dict[str, float] = field(default_factory=dict)  # a further piece stays at this share of the largest
    grow_to_fat: tuple[str, ...] = ()  # CT: thin bands grown one pixel to their fat edge before the HU window
    # 2D CT: depth (mm) to which a group is unlabelled where it lies against an organ, an unlabelled in-window
    # region of at least ``organ_min_mm2`` (pipeline.postprocess.peel_at_organs), after the HU window.
    peel_at_organs_mm: dict[str, float] = field(default_factory=dict)
    organ_min_mm2: float = 800.0
    target_level: str | None = None  # level name in phantom metadata / level finder output
    phantom_anatomy: str | None = None
    citation: str = ""
    default_profile: str = "cpu"
    # Where training labels come from: "labels" (the case's label map) or "extra:<name>" (a phantom's
    # extra label map, e.g. "extra:c3_section" for the C3 slab model of the level finder).
    label_source: str = "labels"
    role: str = "muscle"  # "muscle": users segment with it; "level": a level finder's model

    @property
    def num_classes(self) -> int:
        """Network output channels (background included; 1 for sigmoid presets)."""
        return 1 if self.output_activation == "sigmoid" else len(self.labels) + 1

    def muscle_values(self) -> tuple[int, ...]:
        """Training class values that are muscle (what the HU window and all-muscle figures cover)."""
        return tuple(label.value for label in self.labels if label.tissue == "muscle")

    def label_by_name(self) -> dict[str, LabelSpec]:
        return {label.name: label for label in self.labels}

    def output_values(self, names: tuple[str, ...]) -> tuple[int, ...]:
        """Sided output label values of the named label groups."""
        wanted = {label.value for label in self.labels if label.name in names}
        return tuple(o.value for o in self.output_labels() if o.source_value in wanted)

    def output_labels(self) -> tuple[OutputLabel, ...]:
        """Sided output labels, numbered 1.. in preset order (left before right)."""
        out: list[OutputLabel] = []
        for label in self.labels:
            sides = ("left", "right") if label.paired else (None,)
            for side in sides:
                name = f"{label.name}_{side}" if side else label.name
                out.append(OutputLabel(len(out) + 1, name, label.value, side))
        return tuple(out)

    def profile(self, name: str | None = None) -> Profile:
        key = name or self.default_profile
        if key not in self.profiles:
            raise KeyError(f"preset {self.name!r} has no profile {key!r}; choose from {', '.join(self.profiles)}")
        return self.profiles[key]

    def network_args(self, profile: str | None = None) -> dict[str, Any]:
        """Network keyword arguments with the channel counts this preset needs."""
        prof = self.profile(profile)
        args = dict(prof.network_args)
        channel_key = "out_channels"
        args[channel_key] = self.num_classes
        args.setdefault("in_channels", 1)
        if prof.network != "UNETR":
            args.setdefault("spatial_dims", self.spatial_dims)
        else:
            args.setdefault("spatial_dims", 3)
            args["img_size"] = list(prof.roi)
        return args
