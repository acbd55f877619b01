"""The trained radiomics survival pipeline as a model folder: ``model.json`` + ``weights.safetensors``.

Same rules as the segmentation models: a sealed card (its own SHA-256), the weights' SHA-256 and
size checked before any tensor is read, safetensors only (nothing is unpickled), networks rebuilt
from the card and loaded strictly. The scaler (training medians, means, SDs) is stored as tensors
beside the network weights, so the folder alone turns a feature table into risk scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.fileio import write_json
from MuscleQuantLib.models.card import CARD_FILE, canonical_digest, seal
from MuscleQuantLib.models.modelfile import install_dir, refuse_pickle, sha256_file, staging_dir

from .networks import DeepSurvNet, FeatureAutoencoder
from .training import DeepSurvSettings, FeatureScaler, encode, predict_risk

KIND = "radiomics_deepsurv"


def _finite(value: Any) -> Any:
    """The card with NaN/inf (a C-index CI from too few resamples) as null: strict JSON, still sealable."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    return value
WEIGHTS = "weights.safetensors"


@dataclass
class SurvivalPipeline:
    """Scaler → autoencoder → DeepSurv, plus the card that describes them."""

    scaler: FeatureScaler
    autoencoder: FeatureAutoencoder
    deepsurv: DeepSurvNet
    settings: DeepSurvSettings
    card: dict[str, Any]

    def codes(self, features: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.scaler.columns if c not in features.columns]
        if missing:
            raise InputError(f"the feature table lacks {len(missing)} of the model's features (first: {missing[0]}); "
                             "extract them with the feature settings recorded in the model card", field="features")
        return encode(self.autoencoder, self.scaler.transform(features))

    def risk(self, features: pd.DataFrame) -> np.ndarray:
        return predict_risk(self.deepsurv, self.codes(features))


def _tensors(pipeline: SurvivalPipeline) -> dict[str, torch.Tensor]:
    tensors = {f"autoencoder.{k}": v for k, v in pipeline.autoencoder.state_dict().items()}
    tensors.update({f"deepsurv.{k}": v for k, v in pipeline.deepsurv.state_dict().items()})
    for name in ("median", "mean", "sd"):
        tensors[f"scaler.{name}"] = torch.from_numpy(np.asarray(getattr(pipeline.scaler, name), dtype=np.float64))
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def save_pipeline(pipeline: SurvivalPipeline, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write the folder atomically and load it back before it appears."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise InputError("already exists; use --overwrite or another folder", path=out_dir)
    with staging_dir(out_dir) as tmp:
        save_file(_tensors(pipeline), str(tmp / WEIGHTS), metadata={"format": "pt", "kind": KIND})
        card = {**pipeline.card, "kind": KIND, "format_version": 1,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "feature_columns": list(pipeline.scaler.columns), "settings": pipeline.settings.to_dict(),
                "weights": {"file": WEIGHTS, "sha256": sha256_file(tmp / WEIGHTS), "size": (tmp / WEIGHTS).stat().st_size}}
        write_json(tmp / CARD_FILE, seal(json.loads(json.dumps(_finite(card), allow_nan=False))))
        load_pipeline(tmp)
        install_dir(tmp, out_dir, overwrite)
    return out_dir


def load_pipeline(model_dir: str | Path) -> SurvivalPipeline:
    """A verified pipeline; a corrupt card or weights file is refused before any tensor is read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    refuse_pickle(model_dir)
    path = model_dir / CARD_FILE
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no {CARD_FILE}: not a survival model folder", path=model_dir) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"model card is not valid JSON (corrupt?): {exc}", path=path) from None
    if not isinstance(card, dict) or card.get("kind") != KIND:
        raise InputError(f"not a {KIND} model card", path=path, field="kind")
    if card.get("card_sha256") != canonical_digest(card):
        raise InputError("model card is corrupt or was edited (its SHA-256 does not match)", path=path,
                         field="card_sha256")
    weights = model_dir / card["weights"]["file"]
    if not weights.is_file() or weights.stat().st_size != card["weights"]["size"] or sha256_file(weights) != card["weights"]["sha256"]:
        raise InputError("weights file is missing or corrupt (size or SHA-256 differs from the card)", path=weights)
    try:
        tensors = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"not a readable safetensors file: {exc}", path=weights) from None
    settings = DeepSurvSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in card["settings"].items()})
    columns = list(card["feature_columns"])
    autoencoder = FeatureAutoencoder(len(columns), settings.code_size, settings.ae_hidden, settings.ae_dropout)
    deepsurv = DeepSurvNet(settings.code_size, settings.hidden, settings.dropout)
    try:
        autoencoder.load_state_dict({k[12:]: v for k, v in tensors.items() if k.startswith("autoencoder.")}, strict=True)
        deepsurv.load_state_dict({k[9:]: v for k, v in tensors.items() if k.startswith("deepsurv.")}, strict=True)
    except RuntimeError as exc:
        raise InputError(f"weights do not fit the card's networks: {str(exc)[:300]}", path=weights) from None
    scaler = FeatureScaler(columns, *(tensors[f"scaler.{n}"].numpy() for n in ("median", "mean", "sd")))
    return SurvivalPipeline(scaler, autoencoder.eval(), deepsurv.eval(), settings, card)
