"""Checked downloads against a real HTTP server on 127.0.0.1: good file, wrong checksum, a connection
dropped once (resumed or restarted) and always (clean failure), and a registry fetch into the cache."""

from __future__ import annotations

import hashlib
import os

import pytest
from models_helpers import Route, http_server, make_model, registry_entry, write_registry

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.models import load_model
from MuscleQuantLib.models.archive import pack_model
from MuscleQuantLib.models.download import download
from MuscleQuantLib.models.registry import fetch_model, installed_dir

BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()
FAST = {"backoff_s": 0.01, "timeout_s": 5.0}


def test_good_file(tmp_path):
    with http_server({"/m.zip": Route(BODY)}) as base:
        target = download(f"{base}/m.zip", tmp_path / "m.zip", SHA, size=len(BODY), **FAST)
    assert target.read_bytes() == BODY
    assert os.listdir(tmp_path) == ["m.zip"]


def test_wrong_checksum_deletes_everything_and_names_url_and_hashes(tmp_path):
    tampered = BODY[:-1] + bytes([BODY[-1] ^ 0xFF])
    with http_server({"/m.zip": Route(tampered)}) as base:
        with pytest.raises(InputError) as caught:
            download(f"{base}/m.zip", tmp_path / "m.zip", SHA, **FAST)
    message = str(caught.value)
    assert f"{base}/m.zip" in message and SHA in message
    assert hashlib.sha256(tampered).hexdigest() in message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("honour_range", [True, False])
def test_connection_dropped_once_is_retried(tmp_path, honour_range):
    route = Route(BODY, honour_range=honour_range, drop_first=1)
    with http_server({"/m.zip": route}) as base:
        target = download(f"{base}/m.zip", tmp_path / "m.zip", SHA, size=len(BODY), **FAST)
    assert target.read_bytes() == BODY
    assert route.requests == [None, f"bytes={len(BODY) // 2}-"]  # the retry asked for the rest only
    assert os.listdir(tmp_path) == ["m.zip"]


def test_connection_always_dropped_fails_cleanly(tmp_path):
    route = Route(BODY, drop_first=100)
    with http_server({"/m.zip": route}) as base:
        with pytest.raises(InputError, match=r"download failed after 3 attempts: connection closed after"):
            download(f"{base}/m.zip", tmp_path / "m.zip", SHA, retries=2, **FAST)
    assert len(route.requests) == 3
    assert os.listdir(tmp_path) == []


def test_client_errors_are_not_retried(tmp_path):
    route = Route(BODY, status=404)
    with http_server({"/m.zip": route}) as base:
        with pytest.raises(InputError, match="HTTP 404"):
            download(f"{base}/m.zip", tmp_path / "m.zip", SHA, **FAST)
    assert len(route.requests) == 1 and os.listdir(tmp_path) == []


def test_more_bytes_than_announced_are_refused(tmp_path):
    with http_server({"/m.zip": Route(BODY + b"extra")}) as base:
        with pytest.raises(InputError, match="more than the expected"):
            download(f"{base}/m.zip", tmp_path / "m.zip", SHA, size=len(BODY), **FAST)
    assert os.listdir(tmp_path) == []


def test_only_http_urls(tmp_path):
    with pytest.raises(InputError, match="only http"):
        download("file:///etc/passwd", tmp_path / "x", SHA)


@pytest.fixture
def served_model(tmp_path, monkeypatch):
    """A packed model archive and a registry entry pointing at where the test server will serve it."""
    monkeypatch.setenv("MUSCLEQUANT_HOME", str(tmp_path / "home"))
    packed = pack_model(make_model(tmp_path / "model"), tmp_path / "model.zip")
    return packed, (tmp_path / "model.zip").read_bytes()


def test_fetch_installs_a_verified_model_after_a_dropped_connection(tmp_path, served_model):
    packed, archive = served_model
    with http_server({"/tiny.zip": Route(archive, drop_first=1)}) as base:
        registry = write_registry(tmp_path / "Models.json", [registry_entry(packed, f"{base}/tiny.zip")])
        result = fetch_model("tiny-temporalis", registry_path=registry, **FAST)
        again = fetch_model("tiny-temporalis", registry_path=registry, **FAST)
    target = installed_dir("tiny-temporalis", "0.1.0")
    assert result["path"] == str(target) and result["downloaded"] and not again["downloaded"]
    load_model(target)
    assert os.listdir(tmp_path / "home" / "downloads") == []


def test_fetch_refuses_an_archive_holding_another_model(tmp_path, served_model):
    packed, archive = served_model
    with http_server({"/tiny.zip": Route(archive)}) as base:
        entry = registry_entry(packed, f"{base}/tiny.zip", id="other-model")
        registry = write_registry(tmp_path / "Models.json", [entry])
        with pytest.raises(InputError, match="the registry promised other-model 0.1.0"):
            fetch_model("other-model", registry_path=registry, **FAST)
    models = tmp_path / "home" / "models"
    assert [p for p in models.rglob("*") if p.is_file()] == []
