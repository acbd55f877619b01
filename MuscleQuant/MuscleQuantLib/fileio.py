"""Atomic file writing: a reader never sees a half-written result, a crash leaves no partial file."""

from __future__ import annotations

import contextvars
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InputError

JOURNAL_PREFIX = ".musclequant-commit-"


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
        deferred = _DEFERRED.get()
        if deferred is None:
            _finish_file(tmp)
        else:  # fsynced with the other files of the block, together
            os.chmod(tmp, 0o666 & ~_current_umask())
            deferred.append(target)
        os.replace(tmp, target)
    except OSError as exc:  # name the result, not the hidden temporary file
        tmp.unlink(missing_ok=True)
        raise _naming(exc, {str(tmp): target}) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _naming(exc: OSError, names: dict[str, Path]) -> OSError:
    """``exc`` with a staged/temporary file name replaced by the output it stands for."""
    filename = str(exc.filename) if exc.filename is not None else None
    for staged, target in names.items():
        if filename and (filename == staged or filename.startswith(staged + os.sep)):
            return OSError(exc.errno, exc.strerror or str(exc), str(target))
    return exc


_DEFERRED: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar("musclequant_deferred_sync", default=None)


@contextmanager
def synced_together() -> Iterator[None]:
    """Files written atomically inside the block are fsynced together when it ends (see :func:`_finish_files`),
    not one by one: for a folder whose files only count once the block succeeded, such as a batch case's
    temporary folder that is moved into place afterwards. Durable on a normal exit; an error on the way out
    (a full disk reported by fsync) is raised from the ``with``."""
    paths: list[Path] = []
    token = _DEFERRED.set(paths)
    try:
        yield
    finally:
        _DEFERRED.reset(token)
    _finish_files([p for p in paths if p.is_file()], chmod=False)


def _finish_file(tmp: Path, chmod: bool = True) -> None:
    """Ordinary permissions (mkstemp makes 0600) and the data on disk: fsync reports a full disk that
    buffered writes did not, so a file is never installed half written."""
    if chmod:
        os.chmod(tmp, 0o666 & ~_current_umask())
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())


def _finish_files(paths: list[Path], chmod: bool = True) -> None:
    """:func:`_finish_file` for several files at once: fsyncs issued together share the file system's journal
    commits (five one after another took 15-25 ms here, together about 2 ms). The first failure, in list
    order, is raised after every file was tried. A fresh pool per call: a pool kept across ``fork`` (batch
    workers) would have no threads."""
    if len(paths) < 2:
        for path in paths:
            _finish_file(path, chmod)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(paths), 8)) as pool:
        futures = [pool.submit(_finish_file, path, chmod) for path in paths]
    for future in futures:
        future.result()


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
    text = json_text(data)
    return write_atomic(target, lambda p: p.write_text(text, encoding="utf-8"))


def json_text(data: Any) -> str:
    """Strict JSON (RFC 8259): a non-finite number becomes null, because NaN/Infinity literals are not
    JSON and strict parsers (the Slicer module's protocol, JavaScript) reject the whole document."""
    return json.dumps(strict_json(data), indent=2, sort_keys=True, default=_json_default, allow_nan=False) + "\n"


def strict_json(value: Any) -> Any:
    """``value`` with every NaN/±inf float (also numpy scalars and arrays) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return strict_json(value.tolist())
    return value


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


def try_exclusive(target: str | Path, what: str) -> Any:
    """A held lock on ``target`` (a lock file beside it), or a one-line refusal when another process
    holds it: two runs writing one result (two ``train`` into one --out) would mix their files.
    The lock goes with the process, also when it is killed. Close the returned handle to release it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = open(target.parent / f".{target.name}.lock", "a+b")  # noqa: SIM115 - returned to the caller
    try:
        if os.name == "nt":  # pragma: no cover - Windows Slicer installs
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InputError(f"another {what} is writing here right now; wait for it or choose another folder",
                         path=target) from None
    return handle


class Commit:
    """Several outputs that appear together or not at all, and never destroy the previous result early.

    Each output is first written completely to a staged name beside its target (``file`` /
    ``folder``). ``commit()`` then records the (staged, target) pairs in a journal file — the commit
    point — and renames every staged output over its target. A crash before the journal leaves the
    previous result untouched (stale staged files are cleaned later); a crash after it is finished by
    :func:`recover`, which every commit into the same folder runs first. Renames need no free space,
    so a full disk can only fail while staging, when nothing of the previous result has changed.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.staged: list[tuple[Path, Path]] = []

    def __enter__(self) -> Commit:
        self.folder.mkdir(parents=True, exist_ok=True)
        recover(self.folder)
        return self

    def _stage_name(self, target: Path) -> Path:
        target = Path(target)
        if target.parent.resolve() != self.folder.resolve():
            raise ValueError(f"{target} is not in {self.folder}")
        suffix = "".join(target.suffixes) or ".tmp"
        fd, name = tempfile.mkstemp(prefix=f".{target.name.split('.')[0]}-{os.getpid()}-", suffix=f".mqstage{suffix}",
                                    dir=self.folder)
        os.close(fd)
        self.staged.append((Path(name), target))
        return Path(name)

    def file(self, target: str | Path) -> Path:
        """A staged path for the file ``target`` (its suffixes kept, for writers that choose the format by name)."""
        return self._stage_name(Path(target))

    def folder_for(self, target: str | Path) -> Path:
        """A staged empty folder for the folder ``target``."""
        path = self._stage_name(Path(target))
        path.unlink()
        path.mkdir()
        return path

    def commit(self) -> None:
        _finish_files([staged for staged, _ in self.staged if staged.is_file()])
        _fsync_dir(self.folder)
        journal = self.folder / f"{JOURNAL_PREFIX}{os.getpid()}.json"
        with exclusive(self.folder / ".musclequant-commit"):
            self._keep_previous()
            installed: list[str] = []
            part = journal.with_name(journal.name + ".part")
            try:
                part.write_text(json.dumps([[s.name, t.name] for s, t in self.staged]), encoding="utf-8")
                _finish_file(part)
                os.replace(part, journal)  # the commit point
                _install(self.folder, [(s.name, t.name) for s, t in self.staged], installed)
            except OSError:  # still running: put the previous result back (a kill is finished by recover)
                for _, target in self.staged:
                    aside = _aside(target)
                    if target.name in installed or not target.exists():
                        _remove(target)
                        if aside.exists():
                            os.rename(aside, target)
                    else:
                        _remove(aside)
                journal.unlink(missing_ok=True)
                part.unlink(missing_ok=True)
                raise
            for _, target in self.staged:
                _remove(_aside(target))
            journal.unlink()
            _fsync_dir(self.folder)
        self.staged = []

    def _keep_previous(self) -> None:
        """Hard links to the files about to be replaced (no data copied; a folder is moved aside only while
        it is installed), so a failed install can be undone. Without hard links a commit only rolls forward."""
        for _, target in self.staged:
            aside = _aside(target)
            _remove(aside)
            if target.is_file():
                try:
                    os.link(target, aside)
                except OSError:
                    continue

    def __exit__(self, exc_type, exc, tb) -> None:
        names = {str(s): t for s, t in self.staged}
        try:
            if exc_type is None and self.staged:
                self.commit()
        except OSError as error:
            exc = error
        finally:
            for staged, _ in self.staged:  # not committed: remove what was staged
                _remove(staged)
            self.staged = []
        if isinstance(exc, OSError):
            raise _naming(exc, names) from None


def _aside(target: Path) -> Path:
    """Where the previous version of ``target`` waits while a commit installs the new one."""
    return target.with_name(f".{target.name}-{os.getpid()}.mqold")


def _install(folder: Path, pairs: list[tuple[str, str]], installed: list[str] | None = None) -> None:
    """Move each staged output over its target (a replaced folder goes aside first, then is removed);
    ``installed`` collects the targets replaced so far."""
    for staged_name, target_name in pairs:
        staged, target = folder / staged_name, folder / target_name
        if not staged.exists():  # already installed by an earlier, interrupted run of this journal
            continue
        if staged.is_dir() and target.is_dir():
            aside = _aside(target)
            _remove(aside)
            os.rename(target, aside)
            os.rename(staged, target)  # the aside folder is removed once every output is installed
        else:
            os.replace(staged, target)
        if installed is not None:
            installed.append(target_name)


def recover(folder: str | Path) -> None:
    """Finish commits that a killed process left in ``folder`` after its commit point, and remove the
    staged outputs of processes that died before theirs."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    with exclusive(folder / ".musclequant-commit"):
        for journal in sorted(folder.glob(f"{JOURNAL_PREFIX}*.json")):
            try:
                pairs = json.loads(journal.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            _install(folder, [(str(s), str(t)) for s, t in pairs])
            journal.unlink(missing_ok=True)
        for part in folder.glob(f"{JOURNAL_PREFIX}*.json.part"):  # a journal never completed: no commit
            part.unlink(missing_ok=True)
        for stale in folder.glob(".*.mqstage*"):
            match = re.search(r"-(\d+)-[a-z0-9_]+\.mqstage", stale.name)
            if match and not _alive(int(match[1])):
                _remove(stale)
        for aside in folder.glob(".*.mqold"):  # a previous result moved aside: back if nothing replaced it
            match = re.fullmatch(r"\.(.+)-\d+\.mqold", aside.name)
            target = folder / match[1] if match else None
            if target is not None and not target.exists():
                os.rename(aside, target)
            else:
                _remove(aside)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable_folder(folder: str | Path, field: str = "--out") -> Path:
    """Refuse an output folder that is a file, or that cannot be created or written, before any work."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("exists and is not a folder", path=folder, field=field)
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot create the output folder: {existing} is a file", path=folder, field=field)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write here: {existing} is read-only", path=folder, field=field)
    return folder
