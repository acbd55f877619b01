"""Tissue classes of the randomised generator's label maps, and how they map to a preset's training
classes. The generator draws tissues, not muscles only: every organ that can look like muscle is its
own class so the intensity model can give it a muscle-like value and the network learns it is not muscle."""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class T(IntEnum):
    """Tissue classes (uint8). Muscle classes of the L3 preset come first after air."""

    AIR = 0
    RECTUS = 1
    WALL = 2  # external + internal oblique, transversus
    PSOAS = 3
    QL = 4
    ERECTOR = 5  # erector spinae + multifidus (TotalSegmentator's autochthon)
    OTHER_MUSCLE = 6  # latissimus, serratus, diaphragm crura: muscle, not an L3 group
    ARM_MUSCLE = 7
    SAT = 8  # subcutaneous fat
    VAT = 9  # visceral / retroperitoneal fat
    SKIN = 10
    CANCELLOUS = 11
    CORTICAL = 12
    CANAL = 13
    DISC = 14
    RIB = 15
    ILIUM = 16
    ARM_BONE = 17
    LIVER = 18
    SPLEEN = 19
    KIDNEY = 20
    KIDNEY_MEDULLA = 21
    PANCREAS = 22
    GALLBLADDER = 23
    STOMACH_WALL = 24
    STOMACH_CONTENT = 25
    BOWEL_WALL = 26
    BOWEL_FLUID = 27
    GAS = 28
    STOOL = 29
    ORAL_CONTRAST = 30
    AORTA = 31
    IVC = 32
    LUNG = 33
    TABLE = 34
    MATTRESS = 35
    METAL = 36


N_CLASSES = len(T)
L3_MUSCLES = (T.RECTUS, T.WALL, T.PSOAS, T.QL, T.ERECTOR)
ORGANS = (T.LIVER, T.SPLEEN, T.KIDNEY, T.KIDNEY_MEDULLA, T.PANCREAS, T.GALLBLADDER, T.STOMACH_WALL,
          T.STOMACH_CONTENT, T.BOWEL_WALL, T.BOWEL_FLUID, T.STOOL, T.ORAL_CONTRAST, T.AORTA, T.IVC)


def l3_training_labels(tissues: np.ndarray) -> np.ndarray:
    """The L3 preset's classes (1 rectus … 5 erector spinae, 0 everything else) from a tissue map."""
    lookup = np.zeros(N_CLASSES, dtype=np.uint8)
    for value in L3_MUSCLES:
        lookup[int(value)] = int(value)  # the tissue ids of the five groups equal the preset's values
    return lookup[tissues]
