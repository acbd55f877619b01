"""All of a cohort command's output folder, or none of it.

A command writes its tables, figures and report into a hidden staging folder next to (or, when the output
folder exists, inside) ``--out`` and moves them into place only when everything was written. A full disk
or a read-only folder therefore leaves no half-written report and no figure without its table, and the
files of an earlier run stay as they were until the new ones are complete. File-system failures become
one-line :class:`InputError` messages naming the folder and the reason.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from MuscleQuantLib.errors import InputError

PREFIX = ".partial-"


def write_error(exc: OSError, path: str | Path) -> InputError:
    """A one-line message for a failed write (full disk, read-only, permissions)."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = f"cannot write here ({exc.strerror}): choose a folder you can write to"
    return InputError(f"{reason}; nothing was written", path=path)


def _staging_folder(out: Path) -> Path:
    if out.exists():
        if not out.is_dir():
            raise InputError("exists and is not a folder", path=out)
        return Path(tempfile.mkdtemp(prefix=PREFIX, dir=out))
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}{PREFIX}", dir=out.parent))


def _commit(staging: Path, out: Path) -> None:
    if not out.exists():
        os.replace(staging, out)  # one rename: the whole folder appears at once
        return
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


@contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """Yield a staging folder to write into; its files are moved into ``out`` when the block succeeds."""
    out = Path(out)
    try:
        staging = _staging_folder(out)
    except OSError as exc:
        raise write_error(exc, out) from exc
    try:
        yield staging
        _commit(staging, out)
    except OSError as exc:
        raise write_error(exc, out) from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def final_path(path: str | Path, staging: Path, out: Path) -> str:
    """Where a file written under ``staging`` lives after the commit."""
    path = Path(path)
    try:
        return str(out / path.relative_to(staging))
    except ValueError:
        return str(path)
