"""Model files and the model registry: safetensors weights plus a JSON card, fold ensembles voting
pixel-wise, checked downloads into a per-user cache. Nothing here ever unpickles.

Names are imported on first use (PEP 562) so that importing the package — as the command line does
to find its subcommands — does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CARD_FILE": "card", "read_card": "card",
    "EnsembleModel": "ensemble", "majority_vote": "ensemble",
    "load_model": "modelfile", "save_model": "modelfile", "sha256_file": "modelfile", "verify_model": "modelfile",
    "NETWORKS": "networks", "build_network": "networks",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
