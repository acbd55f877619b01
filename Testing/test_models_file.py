"""Model files: save/load round trip, integrity (one flipped byte anywhere is refused), no unpickling,
and only allowlisted networks with arguments their constructors really have."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from models_helpers import card_fields, edit_card, flip_byte, make_model, tiny_unet

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.models import load_model, read_card, save_model, verify_model
from MuscleQuantLib.models.card import CARD_FILE
from MuscleQuantLib.models.registry import import_model


class Payload:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_save_then_load_gives_identical_outputs(tmp_path):
    members = [tiny_unet(seed) for seed in range(3)]
    model = load_model(save_model(members, card_fields(), tmp_path / "model"))
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        expected = torch.cat([torch.softmax(m(x), dim=1) for m in members], dim=1)
        assert torch.equal(model(x), expected)
    card = model.card
    assert card["ensemble"] == "majority" and [m["fold"] for m in card["members"]] == [0, 1, 2]
    assert card["software"]["torch"] == torch.__version__
    assert all(len(m["sha256"]) == 64 for m in card["members"])
    assert not model.training


def test_save_is_atomic_and_checks_the_model_loads(tmp_path):
    wrong_shape = tiny_unet(channels=[4, 16])  # the card says channels [4, 8]
    with pytest.raises(InputError, match="do not fit"):
        save_model([wrong_shape], card_fields(), tmp_path / "model")
    assert list(tmp_path.iterdir()) == []  # no model, no staging folder


def test_save_checks_fields_first_and_never_overwrites_silently(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(InputError, match=rf"^{out}/model\.json: network\.args\.bogus: UNet has no argument"):
        save_model([tiny_unet()], card_fields(network={"name": "UNet", "args": {"bogus": 1}}), out)
    assert list(tmp_path.iterdir()) == []
    make_model(out)
    first = (out / "model.json").read_bytes()
    with pytest.raises(InputError, match="already exists"):
        save_model([tiny_unet(seed=5)], card_fields(), out)
    assert (out / "model.json").read_bytes() == first
    save_model([tiny_unet(seed=5)], card_fields(), out, overwrite=True)
    assert (out / "model.json").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_flipped_byte_in_weights_is_refused(tmp_path):
    model_dir = make_model(tmp_path / "model")
    weights = model_dir / "weights.safetensors"
    size = weights.stat().st_size
    for offset in (3, size // 2, size - 1):  # header length, tensor data, last byte
        flip_byte(weights, offset)
        with pytest.raises(InputError, match=r"weights\.safetensors: weights file is corrupt: SHA-256"):
            load_model(model_dir)
        flip_byte(weights, offset)  # undo
    load_model(model_dir)
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(InputError, match="truncated"):
        verify_model(model_dir)


def test_every_flipped_byte_in_the_card_is_refused(tmp_path):
    model_dir = make_model(tmp_path / "model")
    card_path = model_dir / CARD_FILE
    original = card_path.read_bytes()
    for offset in range(len(original)):
        card_path.write_bytes(original[:offset] + bytes([original[offset] ^ 0x01]) + original[offset + 1:])
        with pytest.raises(InputError):
            read_card(model_dir)
    card_path.write_bytes(original)
    read_card(model_dir)


def test_edited_card_value_names_the_card_hash(tmp_path):
    model_dir = make_model(tmp_path / "model")
    card_path = model_dir / CARD_FILE
    card_path.write_text(card_path.read_text(encoding="utf-8").replace('"dice": 0.5', '"dice": 0.9'), encoding="utf-8")
    with pytest.raises(InputError, match=r"model\.json: card_sha256: model card is corrupt or was edited"):
        load_model(model_dir)


def _pickle_payloads(tmp_path, marker):
    """Raw pickle bytes and a torch.save archive, both running ``open(marker, 'w', encoding="utf-8")`` when unpickled."""
    raw = pickle.dumps({"weight": Payload(marker)})
    torch_file = tmp_path / "payload.pt"
    torch.save({"weight": Payload(marker)}, torch_file)
    return {"pickle": raw, "torch.save": torch_file.read_bytes()}


def test_payloads_are_live(tmp_path):
    """The payloads used below really execute when unpickled, so their absence of effect means something."""
    marker = tmp_path / "ran"
    pickle.loads(_pickle_payloads(tmp_path, marker)["pickle"])
    assert marker.exists()


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_pickle_payload_in_safetensors_file_never_executes(tmp_path, kind):
    marker = tmp_path / "executed"
    model_dir = make_model(tmp_path / "model")
    (model_dir / "weights.safetensors").write_bytes(_pickle_payloads(tmp_path, marker)[kind])
    edit_card(model_dir, lambda card: None)  # hashes now match the payload: only the format protects us
    with pytest.raises(InputError, match="not a readable safetensors file"):
        load_model(model_dir)
    with pytest.raises(InputError):
        import_model(model_dir)
    assert not marker.exists()


def test_pickle_checkpoints_are_refused_by_name(tmp_path, monkeypatch):
    marker = tmp_path / "executed"
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(_pickle_payloads(tmp_path, marker)["torch.save"])
    for action in (load_model, import_model):
        with pytest.raises(InputError, match="pickle checkpoints are refused"):
            action(checkpoint)
    model_dir = make_model(tmp_path / "model")  # a card pointing at a .pt member
    (model_dir / "weights.pt").write_bytes(checkpoint.read_bytes())

    def point_at_pt(card):
        card["members"][0]["file"] = "weights.pt"

    edit_card(model_dir, point_at_pt)
    with pytest.raises(InputError, match=r"members\[0\]\.file"):
        load_model(model_dir)
    assert not marker.exists()


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["network"].update(name="os.system"), r"network\.name: unknown network 'os\.system'"),
    (lambda c: c["network"].update(name="Evil"), r"network\.name: unknown network 'Evil'; allowed: .*UNet"),
    (lambda c: c["network"]["args"].update(__class__="x"), r"network\.args\.__class__: UNet has no argument"),
    (lambda c: c["network"]["args"].update(out_channels=4), r"network\.args\.out_channels: network has 4"),
    (lambda c: c["network"]["args"].pop("strides"), r"network\.args: UNet needs strides"),
    (lambda c: c.update(ensemble="majority"), r"ensemble: 'majority' needs at least two members"),
    (lambda c: c.update(unexpected=1), r"unexpected: unknown field"),
    (lambda c: c["labels"][1].update(value=0), r"labels: label values must be unique"),
])
def test_bad_cards_are_refused_with_the_field_named(tmp_path, change, message):
    model_dir = make_model(tmp_path / "model")
    edit_card(model_dir, change)
    with pytest.raises(InputError, match=message):
        load_model(model_dir)


def test_weights_of_another_network_are_refused(tmp_path):
    model_dir = make_model(tmp_path / "model")
    wider = {"name": "UNet", "args": {**card_fields()["network"]["args"], "channels": [4, 16]}}
    other = save_model([tiny_unet(channels=[4, 16])], card_fields(network=wider), tmp_path / "other")
    (model_dir / "weights.safetensors").write_bytes((other / "weights.safetensors").read_bytes())
    edit_card(model_dir, lambda card: None)
    with pytest.raises(InputError, match="weights do not fit the card's UNet"):
        load_model(model_dir)


def test_card_is_plain_sorted_json(tmp_path):
    card = json.loads((make_model(tmp_path / "model") / CARD_FILE).read_text(encoding="utf-8"))
    assert card["format_version"] == 1 and card["labels"][1]["terminology"]["type"]["code"] == "37670001"
