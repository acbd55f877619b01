"""Read a level off a vertebra-ladder model: the network segments the vertebrae and names each, and the
finder fits the ladder's fixed order to the whole scan at once.

Locally, L2, L3 and L4 look alike; what tells them apart is counting from something distinctive (the
sacrum, the iliac crests, the last ribs) that may lie 100 mm away. A semi-Markov Viterbi fit forces the
per-slice evidence into one consistent sequence — sacrum, disc, L5, disc, L4, … — with plausible body
heights and disc gaps, so every slice's evidence votes for one shared count. The target's fitted body
then becomes an ordinary slab profile and the slab reader (edges, thickness, confidence) takes over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .specs import LevelSpec

DISC = "disc"
FLOOR = 1e-3  # probability floor: one confidently wrong slice must not veto a ladder


@dataclass
class Ladder:
    """The fitted sequence: (name, first, last) network slices per segment, caudal to cranial."""

    segments: list[tuple[str, int, int]]
    agreement: float  # mean probability the network gives the fitted class, over body slices

    def span(self) -> str:
        names = [name for name, _, _ in self.segments if name != DISC]
        return f"{names[0]}–{names[-1]}" if names else "no vertebra"

    def segment(self, name: str) -> tuple[int, int] | None:
        return next(((a, b) for n, a, b in self.segments if n == name), None)


def is_ladder(label_names: list[str]) -> bool:
    """A model whose classes (after background) are all vertebrae, at least three of them (a one-class
    slab model named after its vertebra, e.g. "C3", is not a ladder)."""
    from ..phantoms.vertebrae import VERTEBRA_LABELS

    return len(label_names) >= 3 and all(name in VERTEBRA_LABELS for name in label_names)


def slice_probabilities(probabilities: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Z, C) per-slice evidence for each vertebra class and, last, for "disc": how much bone the network
    sees in a slice (relative to a typical vertebra slice of this scan) split by the classes it names,
    and the rest as disc. Also which slices hold enough body to count."""
    area = body.reshape(body.shape[0], -1).sum(axis=1).astype(np.float64)
    enough = area >= max(4.0, 0.05 * area.max(initial=0.0))
    bone = (
        probabilities[1:] * (probabilities[0] < 0.7)[None]
    )  # faint haze far from the spine adds up otherwise
    mass = bone.reshape(probabilities.shape[0] - 1, body.shape[0], -1).sum(axis=2).T  # (Z, C-1)
    total = mass.sum(axis=1)
    seen = total[total > 0.2 * total.max(initial=0.0)]
    typical = float(np.percentile(seen, 75)) if seen.size else 1.0
    presence = np.clip(total / max(typical, 1e-6), 0.0, 1.0)
    share = mass / np.maximum(total, 1e-9)[:, None]
    per_slice = np.hstack([presence[:, None] * share, 1.0 - presence[:, None]])
    return per_slice, enough & (total.max(initial=0.0) > 0)


def fit_ladder(
    spec: LevelSpec, names: list[str], per_slice: np.ndarray, enough: np.ndarray, slice_mm: float
) -> Ladder:
    """Best ordered sequence of vertebra and disc segments (``names``: the model's classes 1.., vertebrae
    caudal to cranial; ``per_slice`` has one more column, disc). The end classes and segments cut by the
    scan's edges may be of any length; inner bodies must be ``spec.body_mm`` tall, discs at most
    ``spec.disc_mm``."""
    vertebrae = list(names)
    names = [*names, DISC]
    column = {n: i for i, n in enumerate(names)}
    states = [s for v in vertebrae for s in (v, DISC)][:-1]
    nz, ns = per_slice.shape[0], len(states)
    log_e = np.log(np.maximum(per_slice, FLOOR))
    log_e[~enough] = 0.0
    cum = np.vstack([np.zeros(ns), np.cumsum(log_e[:, [column[s] for s in states]], axis=0)])  # (Z+1, S)
    low_b, high_b = (
        max(1, int(np.floor(spec.body_mm[0] / slice_mm))),
        int(np.ceil(spec.body_mm[1] / slice_mm)) + 1,
    )
    high_d = int(np.ceil(spec.disc_mm / slice_mm)) + 1
    bounds = [
        (0, high_d) if s == DISC else (low_b, nz if i in (0, ns - 1) else high_b)
        for i, s in enumerate(states)
    ]
    best = np.full((nz + 1, ns), -np.inf)
    back = np.zeros((nz + 1, ns), dtype=np.int64)  # segment length (0: a disc of no thickness)
    for z in range(1, nz + 1):
        for s in range(ns):
            low, high = bounds[s]
            d = np.arange(1, min(high, z) + 1)
            start = z - d
            previous = np.where(start == 0, 0.0, best[start, s - 1] if s > 0 else -np.inf)
            valid = (d >= low) | (start == 0) | (z == nz)  # edge segments may be cut short
            score = np.where(valid, cum[z, s] - cum[start, s] + previous, -np.inf)
            if score.size:
                k = int(np.argmax(score))
                best[z, s], back[z, s] = score[k], d[k]
            if low == 0 and s > 0 and best[z, s - 1] > best[z, s]:
                best[z, s], back[z, s] = best[z, s - 1], 0
    segments, z, s = [], nz, int(np.argmax(best[nz]))
    while z > 0:
        d = int(back[z, s])
        if d:
            segments.append((states[s], z - d, z - 1))
        z -= d
        s -= 1
    segments.reverse()
    fitted = np.empty(nz, dtype=np.int64)
    for name, a, b in segments:
        fitted[a : b + 1] = column[name]
    agreement = float(per_slice[np.arange(nz), fitted][enough].mean()) if enough.any() else 0.0
    return Ladder(segments, agreement)


def ladder_profiles(
    ladder: Ladder, target: str, names: list[str], per_slice: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(vote, slab, cranial, caudal) profiles of the target's fitted body for the slab reader: the
    network's own target probability near the fitted segment (for sub-slice edges), the ladder's answer
    elsewhere. None when the ladder does not reach the target."""
    segment = ladder.segment(target)
    if segment is None:
        return None
    a, b = segment
    nz = per_slice.shape[0]
    z = np.arange(nz)
    vote = ((z >= a) & (z <= b)).astype(np.float64)
    target_p = per_slice[:, names.index(target)]
    typical = max(float(np.median(target_p[a : b + 1])), 1e-3)  # a hesitant network is still a step
    slab = np.where((z >= a - 2) & (z <= b + 2), np.clip(target_p / typical, 0.0, 1.0), 0.0)
    slab = np.maximum(slab, 0.5 * vote)  # the fitted body stays one run whatever the network's dips
    centre = (a + b) / 2
    return vote, slab, np.where(z > centre, 1.0 - slab, 0.0), np.where(z < centre, 1.0 - slab, 0.0)
