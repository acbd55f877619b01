"""Checked downloads: stream to a ``.part`` file, resume or restart when the connection drops, verify
SHA-256, then rename into place. The target name only ever holds a complete, verified file, and a
failed download leaves nothing behind."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

from .. import __version__
from ..errors import InputError
from ..progress import NULL_PROGRESS, Progress

CHUNK = 1 << 20
RETRIES = 4  # attempts after the first one
BACKOFF_S = 1.0  # doubled after each failed attempt, capped at BACKOFF_CAP_S
BACKOFF_CAP_S = 30.0
TIMEOUT_S = 60.0  # a stalled connection counts as dropped after this long without data
REPORT_EVERY_S = 0.5

# Errors after which trying again may help: socket errors, timeouts and URLError are all OSError.
TRANSIENT = (http.client.HTTPException, OSError)


class _Dropped(Exception):
    """The body ended before its announced length."""


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"musclequant/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)  # noqa: S310


def _resumed_from(response: http.client.HTTPResponse, offset: int) -> bool:
    """True if the server honoured our Range request exactly; otherwise the body is the whole file."""
    if not offset or response.status != 206:
        return False
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return bool(match) and int(match.group(1)) == offset


def _hash_existing(path: Path) -> tuple[Any, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest, size


def _stream(response: http.client.HTTPResponse, out: BinaryIO, digest: Any, done: int,
            total: int | None, url: str, progress: Progress, max_bytes: int | None) -> int:
    """Copy the body; returns the bytes now in the part file. A short body raises :class:`_Dropped`
    (urllib does not: a closed connection just looks like the end)."""
    length = response.headers.get("Content-Length")
    expected_end = done + int(length) if length and length.isdigit() else None
    last_report = 0.0
    while chunk := response.read(CHUNK):
        done += len(chunk)
        if max_bytes is not None and done > max_bytes:
            raise InputError(f"server sent more than the expected {max_bytes} bytes; refused", path=url)
        out.write(chunk)
        digest.update(chunk)
        now = time.monotonic()
        if now - last_report >= REPORT_EVERY_S:
            last_report = now
            fraction = done / total if total else None
            text = f"{_human(done)} of {_human(total)}" if total else _human(done)
            progress.update("download", fraction, text, bytes=done, total_bytes=total)
    if expected_end is not None and done < expected_end:
        raise _Dropped(f"connection closed after {done} of {expected_end} bytes")
    return done


def download(url: str, target: str | Path, sha256: str, *, size: int | None = None,
             progress: Progress = NULL_PROGRESS, retries: int = RETRIES, backoff_s: float = BACKOFF_S,
             timeout_s: float = TIMEOUT_S) -> Path:
    """Download ``url`` to ``target`` if and only if its SHA-256 is ``sha256``; returns ``target``.

    Dropped connections are resumed with an HTTP Range request (or restarted if the server ignores it)
    up to ``retries`` more times with exponential backoff. A wrong checksum is not retried: the part
    file is deleted and an :class:`InputError` names the URL and both hashes.
    """
    if not re.match(r"^https?://", url, re.IGNORECASE):
        raise InputError("only http:// and https:// downloads are allowed", path=url)
    sha256 = sha256.lower()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest, done = hashlib.sha256(), 0
    attempt = 0
    try:
        part.unlink(missing_ok=True)
        while True:
            try:
                with _open(url, done, timeout_s) as response:
                    if not _resumed_from(response, done):
                        digest, done = hashlib.sha256(), 0  # full body: start the part file again
                    length = response.headers.get("Content-Length")
                    total = size or (done + int(length) if length and length.isdigit() else None)
                    with open(part, "ab" if done else "wb") as out:
                        done = _stream(response, out, digest, done, total, url, progress, size)
                        out.flush()
                        os.fsync(out.fileno())
                break
            except urllib.error.HTTPError as exc:
                if exc.code == 416 and done:  # our range is past the end: start over
                    digest, done = hashlib.sha256(), 0
                    part.unlink(missing_ok=True)
                elif exc.code < 500 and exc.code not in (408, 429):
                    raise InputError(f"download refused by the server: HTTP {exc.code} {exc.reason}",
                                     path=url) from exc
                attempt = _wait_or_give_up(attempt, retries, backoff_s, url, exc, progress)
            except (_Dropped, *TRANSIENT) as exc:
                if part.exists():  # keep what arrived; the next attempt resumes from there
                    digest, done = _hash_existing(part)
                attempt = _wait_or_give_up(attempt, retries, backoff_s, url, exc, progress)
        actual = digest.hexdigest()
        if actual != sha256:
            raise InputError(f"checksum mismatch: expected SHA-256 {sha256}, got {actual} ({done} bytes); "
                             "the download was deleted", path=url)
        if size is not None and done != size:
            raise InputError(f"size mismatch: expected {size} bytes, got {done}", path=url)
        os.replace(part, target)
        progress.update("download", 1.0, f"{_human(done)}, SHA-256 verified", bytes=done, total_bytes=done)
        return target
    finally:
        part.unlink(missing_ok=True)


def _wait_or_give_up(attempt: int, retries: int, backoff_s: float, url: str, exc: BaseException,
                     progress: Progress) -> int:
    """Sleep before the next attempt, or raise once the retries are used up."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if attempt >= retries:
        raise InputError(f"download failed after {attempt + 1} attempts: {reason}", path=url) from exc
    delay = min(backoff_s * 2**attempt, BACKOFF_CAP_S)
    progress.info(f"connection problem ({reason}); retrying in {delay:.1f} s")
    time.sleep(delay)
    return attempt + 1


def _human(size: int) -> str:
    """Bytes as a person reads them in a progress line."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
