"""Anatomy presets: one module per anatomy, each defining ``PRESET``; discovered automatically so a
fifth anatomy is one new file in this package."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from .base import Preset

_NOT_PRESETS = {"base", "terminology"}


@cache
def all_presets() -> dict[str, Preset]:
    """Every preset in this package, by name."""
    found: dict[str, Preset] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_PRESETS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        preset = getattr(module, "PRESET", None)
        if isinstance(preset, Preset):
            if preset.name in found:
                raise RuntimeError(f"two presets named {preset.name!r}")
            found[preset.name] = preset
    return dict(sorted(found.items()))


def get_preset(name: str) -> Preset:
    """The preset called ``name``; the error lists the valid names."""
    presets = all_presets()
    if name not in presets:
        from ..errors import InputError

        raise InputError(f"unknown preset {name!r}; choose from {', '.join(presets)}", field="--preset")
    return presets[name]


__all__ = ["Preset", "all_presets", "get_preset"]
