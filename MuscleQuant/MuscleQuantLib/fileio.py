"""Atomic file writing: a reader never sees a half-written result, a crash leaves no partial file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds.

    The temporary name keeps the target's suffixes so that writers choosing a format by
    extension (SimpleITK, matplotlib) still pick the right one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes) or ".tmp"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name.split('.')[0]}-", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp creates 0600; results are ordinary files
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def exclusive(target: str | Path) -> Iterator[None]:
    """Hold an exclusive lock for updating ``target`` (a lock file beside it), so read-modify-write
    updates from parallel runs — a batch script quantifying cases side by side — never lose a row."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a+b") as handle:
        if os.name == "nt":  # pragma: no cover - Windows Slicer installs
            import msvcrt

            handle.seek(0)
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after ~10 s; keep waiting
                    continue
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(target: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_json(target: str | Path, data: Any) -> Path:
    """Write JSON atomically, with stable key order so that identical runs give identical files."""
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"
    return write_atomic(target, lambda p: p.write_text(text, encoding="utf-8"))


def _json_default(value: Any) -> Any:
    """Serialise numpy scalars/arrays and paths that json cannot handle itself."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def names_existing_path(path: Path) -> bool:
    """Whether ``path`` exists; a string too long to be a file name (inline values) simply does not."""
    try:
        return path.exists()
    except OSError:
        return False
