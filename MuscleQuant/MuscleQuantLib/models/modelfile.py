"""Save and load models: a folder with ``model.json`` and one ``weights*.safetensors`` per member.

Loading never unpickles: every file's size and SHA-256 are checked against the card before any tensor
is read, weights are read only with ``safetensors``, the network comes from a fixed allowlist, and
``load_state_dict(strict=True)`` refuses weights that do not fit it exactly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .card import CARD_FILE, check_card, new_card, read_card
from .networks import build_network

if TYPE_CHECKING:  # torch loads only to build a network: checking files and cards does not need it
    import torch

    from .ensemble import EnsembleModel

HASH_CHUNK = 1 << 20
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin")


def sha256_file(path: str | Path) -> str:
    """Streamed SHA-256, so multi-GB weights never sit in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def refuse_pickle(path: str | Path) -> None:
    """PyTorch checkpoints are pickles and can run code when loaded; say how to convert instead."""
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        raise InputError("PyTorch/pickle checkpoints are refused because loading them can run code; save the "
                         "model with MuscleQuant (safetensors weights plus model.json)", path=path)


def check_files(model_dir: str | Path, card: dict[str, Any]) -> None:
    """Every member file exists with the size and SHA-256 the card records."""
    model_dir = Path(model_dir)
    for member in card["members"]:
        path = model_dir / member["file"]
        if not path.is_file():
            raise InputError("weights file listed in the card is missing", path=path)
        size = path.stat().st_size
        if size != member["size"]:
            raise InputError(f"weights file is {size} bytes, the card says {member['size']} (truncated or "
                             f"corrupt)", path=path)
        actual = sha256_file(path)
        if actual != member["sha256"]:
            raise InputError(f"weights file is corrupt: SHA-256 {actual}, the card says {member['sha256']}",
                             path=path)


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file (a format with no code in it); anything else is refused."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"not a readable safetensors file: {' '.join(str(exc).split())}", path=path) from exc


def load_model(model_dir: str | Path, device: str | torch.device = "cpu") -> EnsembleModel:
    """The model in ``model_dir``, verified and ready for inference (eval mode, on ``device``)."""
    from .ensemble import EnsembleModel

    model_dir = Path(model_dir)
    refuse_pickle(model_dir)
    card = read_card(model_dir)
    check_files(model_dir, card)  # before any tensor is read
    network = card["network"]
    members = []
    for member in card["members"]:
        path = model_dir / member["file"]
        net = build_network(network["name"], network["args"], card["spatial_dims"], model_dir / CARD_FILE)
        try:
            net.load_state_dict(_read_weights(path), strict=True)
        except RuntimeError as exc:
            raise InputError(f"weights do not fit the card's {network['name']}: "
                             f"{' '.join(str(exc).split())[:300]}", path=path) from exc
        members.append(net.eval())
    num_classes = 2 if card["output_activation"] == "sigmoid" else len(card["labels"])
    model = EnsembleModel(members, num_classes, card["output_activation"], card["ensemble"], card)
    return model.to(device).eval()


def verify_model(model_dir: str | Path, *, load: bool = True) -> dict[str, Any]:
    """Recheck a model folder: the card, every hash and (``load``) that the weights fit the network."""
    if load:
        return load_model(model_dir).card
    card = read_card(model_dir)
    check_files(model_dir, card)
    return card


@contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A hidden temporary folder beside ``target``, removed unless the block moved it away."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def install_dir(staged: Path, target: Path, overwrite: bool = False) -> None:
    """Move a complete folder into place in one rename; an existing one is replaced only if asked."""
    if target.exists():
        if not overwrite:
            raise InputError("already exists; pass overwrite to replace it", path=target)
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.rename(target, old)
        try:
            os.rename(staged, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staged, target)


def save_model(members: list[torch.nn.Module], card_fields: dict[str, Any], out_dir: str | Path, *,
               folds: list[int | None] | None = None, overwrite: bool = False) -> Path:
    """Write a model folder atomically and check it loads before it appears; returns ``out_dir``.

    ``card_fields`` holds everything the card needs except what is measured here (members with their
    hashes and sizes, software versions, creation time, card hash). The members must be instances of
    the card's network: the written model is loaded back (strict) before it is moved into place.
    """
    if not members:
        raise ValueError("save_model needs at least one member")
    out_dir = Path(out_dir)
    folds = folds if folds is not None else ([None] if len(members) == 1 else list(range(len(members))))
    if len(folds) != len(members):
        raise ValueError("folds must have one entry per member")
    if out_dir.exists() and not overwrite:
        raise InputError("already exists; pass overwrite to replace it", path=out_dir)
    from safetensors.torch import save_file

    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = ["weights.safetensors"] if len(members) == 1 else [f"weights_fold{i}.safetensors"
                                                               for i in range(len(members))]
    # Check the caller's fields first, so a mistake is reported against out_dir before anything is written.
    expected_members = [{"file": n, "sha256": "0" * 64, "size": 1, "fold": f} for n, f in zip(names, folds, strict=True)]
    check_card(new_card(card_fields, expected_members, created), out_dir / CARD_FILE)
    with staging_dir(out_dir) as tmp:
        records = []
        for index, (member, fold, name) in enumerate(zip(members, folds, names, strict=True)):
            state = {k: v.detach().to("cpu").contiguous().clone() for k, v in member.state_dict().items()}
            save_file(state, str(tmp / name), metadata={"format": "pt", "member": str(index)})
            records.append({"file": name, "sha256": sha256_file(tmp / name), "size": (tmp / name).stat().st_size,
                            "fold": fold})
        card = new_card(card_fields, records, created)
        from ..fileio import write_json

        write_json(tmp / CARD_FILE, card)
        load_model(tmp)  # refuse to publish a model that would not load
        install_dir(tmp, out_dir, overwrite)
    return out_dir


def copy_model(source_dir: str | Path, target: Path, overwrite: bool = False) -> dict[str, Any]:
    """Copy only the card and its weights (nothing else a folder may hold), verified on both sides."""
    card = verify_model(source_dir)
    with staging_dir(target) as tmp:
        for name in [CARD_FILE, *(m["file"] for m in card["members"])]:
            shutil.copyfile(Path(source_dir) / name, tmp / name)
        verify_model(tmp, load=False)
        install_dir(tmp, target, overwrite)
    return card
