"""Vertebra label values shared by every phantom with a spine (the "vertebrae" extra label map).

C1..C7 = 1..7, T1..T12 = 8..19, L1..L5 = 20..24, sacrum = 25. Level finders train on these.
"""

from __future__ import annotations

VERTEBRA_NAMES: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "sacrum",
)
VERTEBRA_LABELS: dict[str, int] = {name: i + 1 for i, name in enumerate(VERTEBRA_NAMES)}
VERTEBRA_LABEL_NAMES: dict[int, str] = {v: k for k, v in VERTEBRA_LABELS.items()}
