"""Helpers for the models tests: tiny real networks, card surgery, and a bounded HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import torch
from monai.networks.nets import UNet

from MuscleQuantLib.models.card import CARD_FILE, seal
from MuscleQuantLib.models.modelfile import save_model, sha256_file

UNET_ARGS = {"in_channels": 1, "out_channels": 3, "channels": [4, 8], "strides": [2], "num_res_units": 1}
LABELS = ["background", "left temporalis", "right temporalis"]


def tiny_unet(seed: int = 0, **overrides: Any) -> torch.nn.Module:
    """A 2D MONAI UNet small enough to build and save in milliseconds."""
    torch.manual_seed(seed)
    args = {**UNET_ARGS, **overrides}
    return UNet(spatial_dims=2, **{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}).eval()


def card_fields(model_id: str = "tiny-temporalis", version: str = "0.1.0", **overrides: Any) -> dict[str, Any]:
    fields = {
        "model_id": model_id, "name": "Tiny temporalis test model", "version": version, "preset": "temporalis",
        "network": {"name": "UNet", "args": dict(UNET_ARGS)}, "spatial_dims": 2,
        "preprocessing": {"normalise": "zscore", "spacing_mm": [1.0, 1.0]},
        "labels": [{"value": i, "name": name, "color": [40 * i, 80, 120],
                    "terminology": {} if i == 0 else {"category": {"scheme": "SCT", "code": "123037004",
                                                                   "meaning": "Anatomical Structure"},
                                                      "type": {"scheme": "SCT", "code": "37670001",
                                                               "meaning": "Temporalis muscle"}}}
                   for i, name in enumerate(LABELS)],
        "training": {"cases": 4, "data": "phantoms", "seed": 0, "epochs": 1, "duration_s": 0.1, "device": "cpu"},
        "metrics": {"dice": 0.5},
    }
    fields.update(overrides)
    return fields


def make_model(out_dir: Path, members: int = 1, **overrides: Any) -> Path:
    """A saved model folder with ``members`` tiny UNets (a fold ensemble when more than one)."""
    return save_model([tiny_unet(seed) for seed in range(members)], card_fields(**overrides), out_dir)


def edit_card(model_dir: Path, change: Callable[[dict[str, Any]], None], rehash: bool = True) -> None:
    """Change a card the way an attacker with write access would: edit, refresh hashes, reseal."""
    card = json.loads((model_dir / CARD_FILE).read_text(encoding="utf-8"))
    change(card)
    if rehash:
        for member in card["members"]:
            path = model_dir / member["file"]
            if path.exists():
                member.update(sha256=sha256_file(path), size=path.stat().st_size)
    (model_dir / CARD_FILE).write_text(json.dumps(seal(card), indent=2), encoding="utf-8")


def flip_byte(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


class Route:
    """How the test server answers one path: the body, whether it honours Range, and how many of the
    first requests it cuts off half-way."""

    def __init__(self, body: bytes, honour_range: bool = True, drop_first: int = 0, status: int = 200):
        self.body, self.honour_range, self.drop_first, self.status = body, honour_range, drop_first, status
        self.requests: list[str | None] = []  # the Range header of each request


class _Handler(BaseHTTPRequestHandler):
    timeout = 5  # a stuck client cannot hold the server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        route: Route | None = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
            return
        range_header = self.headers.get("Range")
        route.requests.append(range_header)
        if route.status != 200:
            self.send_error(route.status)
            return
        body, start = route.body, 0
        match = re.match(r"bytes=(\d+)-$", range_header or "")
        if match and route.honour_range:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if len(route.requests) <= route.drop_first:
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True  # the rest never comes
            return
        self.wfile.write(body[start:])

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def http_server(routes: dict[str, Route], lifetime_s: float = 60.0) -> Iterator[str]:
    """Serve ``routes`` on 127.0.0.1 (a free port) in a thread; yields the base URL. The server stops when
    the block ends, or by itself after ``lifetime_s`` if a test hangs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.routes = routes  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    watchdog = threading.Timer(lifetime_s, server.shutdown)
    watchdog.daemon = True
    thread.start()
    watchdog.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_registry(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"format_version": 1, "models": entries}, indent=2), encoding="utf-8")
    return path


def registry_entry(packed: dict[str, Any], url: str, **overrides: Any) -> dict[str, Any]:
    """A registry entry for an archive made by ``pack_model``."""
    return {**packed, "url": url, "licence": "CC-BY-4.0", "citation": "Test et al. 2026", **overrides}
