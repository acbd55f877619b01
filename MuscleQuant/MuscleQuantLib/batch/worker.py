"""The models a worker process holds: loaded on its first case and kept for every later one, so a batch
of a thousand cases loads each model once per worker, whichever executor runs the cases."""

from __future__ import annotations

import hashlib
import importlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .settings import BatchSettings

_LOCK = threading.Lock()
_CACHE: dict[tuple, LoadedModels] = {}
LOADS = {"count": 0}  # how many times this process loaded models (tests check "once per worker")


@dataclass
class LoadedModels:
    model: Any
    level_model: Any | None  # None: no level finder available (cases need a manifest slice)
    level_error: str | None
    device: Any


def card_sha256(model_dir: Path) -> str:
    """The model card's own SHA-256 (it covers every weights file's SHA-256), read without loading torch."""
    path = Path(model_dir) / "model.json"
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"not a model folder ({exc})", path=model_dir, field="--model") from None
    if "card_sha256" not in card:
        raise InputError("model card has no card_sha256", path=path)
    return str(card["card_sha256"])


def models_sha256(settings: BatchSettings) -> str:
    """One fingerprint of every model a case result depends on."""
    parts = [card_sha256(settings.model)]
    if settings.level_finder:
        parts.append(f"finder:{settings.level_finder}")
    elif settings.level_model:
        parts.append(card_sha256(settings.level_model))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _factory(reference: str) -> Any:
    module_name, _, name = reference.partition(":")
    return getattr(importlib.import_module(module_name), name)


def loaded(settings: BatchSettings) -> LoadedModels:
    """This process's models for ``settings`` (loaded on first use)."""
    key = (str(settings.model), str(settings.level_model), settings.level_finder, settings.device)
    with _LOCK:
        if key not in _CACHE:
            import torch

            from ..inference.runtime import load_inference_model
            from ..levels.find import load_level_model
            from ..levels.specs import spec_for
            from ..pipeline.predict import select_device
            from ..presets import get_preset

            torch.set_num_threads(max(1, settings.torch_threads))
            device = select_device(settings.device)
            model = load_inference_model(settings.model, settings.device)  # ONNX Runtime on a CPU when installed
            level_model, level_error = None, None
            if get_preset(model.card["preset"]).spatial_dims == 2:
                try:
                    if settings.level_finder:
                        level_model = _factory(settings.level_finder)()
                    else:
                        level_model = load_level_model(spec_for(model.card["preset"]), settings.level_model, device)
                except InputError as exc:
                    level_error = str(exc)
            LOADS["count"] += 1
            _CACHE[key] = LoadedModels(model, level_model, level_error, device)
        return _CACHE[key]
