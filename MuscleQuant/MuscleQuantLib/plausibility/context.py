"""What every check sees: the preset's ranges, the sided regions, the image values and the body."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import SliceFrame
from .ranges import PresetRanges
from .regions import Region


@dataclass
class Context:
    ranges: PresetRanges
    regions: list[Region]
    values: np.ndarray | None  # canonical slice (2D) or volume (3D), HU for CT
    body: np.ndarray  # bool, same shape
    voxel: float  # mm² (2D) or mm³ (3D)
    modality: str
    frame: SliceFrame | None  # 2D only
    midline_x: float = 0.0  # canonical x of the body centre (sides are split there)
    spacing_yx: tuple[float, float] = (1.0, 1.0)  # mm per voxel along canonical y and x
    _sizes: dict[str, float] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return "mm2" if self.ranges.spatial_dims == 2 else "mm3"

    @property
    def size_word(self) -> str:
        return "area" if self.ranges.spatial_dims == 2 else "volume"

    def size(self, region: Region) -> float:
        if region.name not in self._sizes:
            self._sizes[region.name] = float(np.count_nonzero(region.mask)) * self.voxel
        return self._sizes[region.name]

    def muscle_regions(self) -> list[Region]:
        return [r for r in self.regions if r.spec.muscle]
