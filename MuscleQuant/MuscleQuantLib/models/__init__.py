"""Model files and the model registry: safetensors weights plus a JSON card, fold ensembles voting
pixel-wise, checked downloads into a per-user cache. Nothing here ever unpickles."""

from .card import CARD_FILE, read_card
from .ensemble import EnsembleModel, majority_vote
from .modelfile import load_model, save_model, sha256_file, verify_model
from .networks import NETWORKS, build_network

__all__ = ["CARD_FILE", "NETWORKS", "EnsembleModel", "build_network", "load_model", "majority_vote", "read_card",
           "save_model", "sha256_file", "verify_model"]
