"""The model card (``model.json``): what a model is, how to rebuild it, and the hashes that protect it.

The card carries ``card_sha256``, the SHA-256 of its own canonical JSON without that field, so a
corrupted card (one flipped byte) is refused just like a corrupted weights file. This protects against
damage, not against someone who edits a card on purpose: trust comes from the registry's archive hash
or from the user importing their own model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from ..errors import InputError
from .networks import check_network_args, output_channels
from .schemas import CARD_SCHEMA, validate

CARD_FILE = "model.json"
FORMAT_VERSION = 1
MAX_CARD_BYTES = 4 << 20  # a card is a few kB; refuse to parse anything absurd
# Fields save_model fills itself; a caller's values for them are ignored.
DERIVED_FIELDS = ("format_version", "members", "software", "created", "card_sha256")


def canonical_digest(card: dict[str, Any]) -> str:
    """SHA-256 of the card without ``card_sha256``, serialised canonically (sorted keys, no spaces)."""
    body = {k: v for k, v in card.items() if k != "card_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def seal(card: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``card`` with ``card_sha256`` filled in."""
    sealed = copy.deepcopy(card)
    sealed["card_sha256"] = canonical_digest(sealed)
    return sealed


def software_versions() -> dict[str, str]:
    """Versions that produced a model, recorded so a result can be reproduced or explained."""
    import monai
    import safetensors
    import torch

    from .. import __version__

    return {"torch": torch.__version__, "monai": monai.__version__, "safetensors": safetensors.__version__,
            "musclequant": __version__, "python": platform.python_version()}


def read_card(model_dir: str | Path) -> dict[str, Any]:
    """Read, integrity-check and validate ``model_dir/model.json``; any problem is an :class:`InputError`."""
    path = Path(model_dir) / CARD_FILE
    if not path.is_file():
        raise InputError(f"no {CARD_FILE} here; a model is a folder holding {CARD_FILE} and its weights",
                         path=model_dir)
    if path.stat().st_size > MAX_CARD_BYTES:
        raise InputError(f"model card is larger than {MAX_CARD_BYTES >> 20} MiB; refused", path=path)
    try:
        card = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise InputError(f"model card is not valid JSON (corrupt?): {exc}", path=path) from exc
    if not isinstance(card, dict):
        raise InputError("model card must be a JSON object", path=path)
    stored = card.get("card_sha256")
    if isinstance(stored, str):
        actual = canonical_digest(card)
        if actual != stored:
            raise InputError(f"model card is corrupt or was edited: its SHA-256 is {actual}, the card says "
                             f"{stored}", path=path, field="card_sha256")
    check_card(card, path)
    return card


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def check_card(card: dict[str, Any], source: str | Path) -> None:
    """Schema plus the rules a schema cannot express (consistency between fields)."""
    validate(card, CARD_SCHEMA, source)
    network = card["network"]
    check_network_args(network["name"], network["args"], card["spatial_dims"], source)
    members = card["members"]
    files = [m["file"] for m in members]
    if len(set(files)) != len(files):
        raise InputError("two members name the same weights file", path=source, field="members")
    if card["ensemble"] == "single" and len(members) != 1:
        raise InputError(f"'single' needs exactly one member, found {len(members)}", path=source,
                         field="ensemble")
    if card["ensemble"] == "majority" and len(members) < 2:
        raise InputError("'majority' needs at least two members", path=source, field="ensemble")
    labels = card["labels"]
    values = [label["value"] for label in labels]
    if len(set(values)) != len(values):
        raise InputError("label values must be unique", path=source, field="labels")
    channels = output_channels(network["name"], network["args"])
    expected = 1 if card["output_activation"] == "sigmoid" else len(labels)
    if card["output_activation"] == "sigmoid" and len(labels) != 2:
        raise InputError("a sigmoid model has exactly two labels (background, foreground)", path=source,
                         field="labels")
    if channels is not None and channels != expected:
        raise InputError(f"network has {channels} output channels but {card['output_activation']} with "
                         f"{len(labels)} labels needs {expected}", path=source, field="network.args.out_channels")


def new_card(fields: dict[str, Any], members: list[dict[str, Any]], created: str) -> dict[str, Any]:
    """A complete, sealed card from the caller's fields plus what saving measured."""
    card = {k: copy.deepcopy(v) for k, v in fields.items() if k not in DERIVED_FIELDS}
    card.setdefault("ensemble", "single" if len(members) == 1 else "majority")
    card.setdefault("output_activation", "softmax")
    card.setdefault("preprocessing", {})
    card.setdefault("training", {})
    card.setdefault("metrics", {})
    card.update(format_version=FORMAT_VERSION, members=members, software=software_versions(), created=created)
    return seal(_plain_json(card))


def _plain_json(value: Any) -> Any:
    """The card as plain JSON (tuples to lists, numpy numbers to Python ones); NaN is refused."""
    def default(obj: Any) -> Any:
        if hasattr(obj, "tolist"):
            return obj.tolist()
        raise TypeError(f"card field of type {type(obj).__name__} is not JSON")

    try:
        return json.loads(json.dumps(value, default=default, allow_nan=False))
    except ValueError as exc:
        raise ValueError(f"card fields must be finite JSON values: {exc}") from exc


def summary(card: dict[str, Any]) -> dict[str, Any]:
    """The part of a card a registry entry repeats, so users can choose before downloading."""
    return {"network": card["network"]["name"], "spatial_dims": card["spatial_dims"],
            "ensemble": card["ensemble"], "members": len(card["members"]),
            "labels": [label["name"] for label in card["labels"]]}
