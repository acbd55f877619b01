"""Run the ``musclequant`` command line in a background process with JSON progress, and cancel it.

The Slicer UI never waits on the engine: the engine runs in its own process (its own session / process
group), reader threads turn its stdout lines into :class:`Event` objects, and the widget drains them from
a timer with :meth:`EngineProcess.poll`. :meth:`EngineProcess.cancel` kills the whole process tree
(``os.killpg`` on POSIX; ``taskkill /T`` on Windows), which matters because Slicer's ``PythonSlicer`` is
a launcher whose real Python is a child process. Lines that are not our JSON (C++ libraries print to
stdout) are kept as log lines and otherwise ignored.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PopenFactory = Callable[..., subprocess.Popen]


@dataclass(frozen=True)
class Event:
    """One progress record: ``stage`` is 'done' (with ``result``), 'error', 'log' (non-JSON line) or a stage."""

    stage: str
    fraction: float | None = None
    message: str = ""
    result: Any = None
    raw: dict[str, Any] = field(default_factory=dict)


class EngineError(RuntimeError):
    """The engine failed; the message is its one-line error."""


def parse_line(line: str) -> Event:
    """A stdout line → Event; anything that is not a JSON object with a 'stage' becomes a 'log' event."""
    text = line.strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("stage"), str):
            fraction = record.get("fraction")
            return Event(record["stage"], float(fraction) if isinstance(fraction, int | float) else None,
                         str(record.get("message") or ""), record.get("result"), record)
    return Event("log", None, text)


ENGINE_PYTHON_VARIABLE = "MUSCLEQUANT_ENGINE_PYTHON"


class EngineNotFound(RuntimeError):
    """No Python that can run the engine was found (never fall back to ``sys.executable``: inside Slicer
    that is the Slicer application itself, and a second Slicer would start)."""


def engine_python(setting: str | None = None, environ: dict[str, str] | None = None,
                  which: Callable[[str], str | None] = shutil.which) -> str:
    """The Python that runs the engine, in this order: ``setting`` (the module's saved choice), the
    ``MUSCLEQUANT_ENGINE_PYTHON`` environment variable, Slicer's ``PythonSlicer`` on PATH (how Slicer's own
    ``slicer.util.launchConsoleProcess`` users find it); otherwise :class:`EngineNotFound`."""
    env = os.environ if environ is None else environ
    for source, value in (("setting", setting), (ENGINE_PYTHON_VARIABLE, env.get(ENGINE_PYTHON_VARIABLE))):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise EngineNotFound(f"{source} names the engine Python {value!r}, which is not a file")
            return str(path)
    found = which("PythonSlicer")
    if found:
        return found
    raise EngineNotFound("cannot find the Python that runs the MuscleQuant engine: PythonSlicer is not on PATH; "
                         f"set {ENGINE_PYTHON_VARIABLE} to a Python with MuscleQuant's packages")


def engine_pythonpath() -> list[str]:
    """Folders holding MuscleQuantLib and MuscleQuantSurvivalLib (siblings once installed in Slicer,
    separate module folders in the source tree)."""
    import importlib.util

    here = Path(__file__).resolve().parents[2]  # the folder that holds MuscleQuantLib
    paths = [str(here)]
    spec = importlib.util.find_spec("MuscleQuantSurvivalLib")
    if spec is not None and spec.origin:
        paths.append(str(Path(spec.origin).resolve().parents[1]))
    elif (here.parent / "MuscleQuantSurvival" / "MuscleQuantSurvivalLib").is_dir():
        paths.append(str(here.parent / "MuscleQuantSurvival"))
    return list(dict.fromkeys(paths))


def engine_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the engine: our packages first on PYTHONPATH, unbuffered output."""
    env = dict(os.environ if base is None else base)
    existing = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*engine_pythonpath(), *existing]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


# The engine's entry point with our package folders put on sys.path by the command itself, so it does not
# depend on whether Slicer's PythonSlicer launcher passes PYTHONPATH through (it is also set, see engine_env).
_ENTRY = "import sys; sys.path[:0] = {paths!r}; from MuscleQuantLib.cli import main; sys.exit(main())"


def musclequant_command(*args: str | Path, python: str | None = None) -> list[str]:
    """The ``musclequant`` command line for the background process (works where no console script is
    installed): ``python -c <entry> ARGS --progress json``."""
    entry = _ENTRY.format(paths=engine_pythonpath())
    return [python or engine_python(), "-c", entry, *(str(a) for a in args), "--progress", "json"]


class EngineProcess:
    """One background engine run. ``popen`` is injectable so tests can observe or replace the spawn."""

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 popen: PopenFactory = subprocess.Popen):
        self.command = [str(c) for c in command]
        self.env = engine_env() if env is None else env
        self.cwd = cwd
        self._popen = popen
        self.proc: subprocess.Popen | None = None
        self._events: queue.Queue[Event] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.log: deque[str] = deque(maxlen=200)
        self.result: Any = None
        self.error: str | None = None
        self.cancelled = False
        self._unread_log: list[str] = []  # lines for the widget's log panel since the last log_lines()
        self._kill_at: float | None = None  # a non-blocking cancel escalates to SIGKILL after this time

    # ----- lifecycle ------------------------------------------------------------------------------
    def start(self) -> EngineProcess:
        kwargs: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "stdin": subprocess.DEVNULL,
                                  "env": self.env, "cwd": self.cwd, "text": True, "encoding": "utf-8",
                                  "errors": "replace", "bufsize": 1}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        else:
            kwargs["start_new_session"] = True  # own session and process group: killpg reaches every child
        self.proc = self._popen(self.command, **kwargs)
        for target, stream in ((self._read_stdout, self.proc.stdout), (self._read_stderr, self.proc.stderr)):
            thread = threading.Thread(target=target, args=(stream,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _read_stdout(self, stream: Any) -> None:
        for line in iter(stream.readline, ""):
            self._events.put(parse_line(line))
        stream.close()

    def _read_stderr(self, stream: Any) -> None:
        for line in iter(stream.readline, ""):
            self.stderr_tail.append(line.rstrip())
            self._events.put(Event("stderr", None, line.rstrip()))
        stream.close()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def finished(self) -> bool:
        """True once the process ended and every line it printed has been read (after a non-blocking
        cancel, this is also where a process that ignored SIGTERM gets killed once its grace time is up)."""
        if self.proc is None:
            return False
        if self._kill_at is not None and time.monotonic() >= self._kill_at:
            self._kill_at = None
            kill_tree(self.proc, grace_s=0.0)
        return self.proc.poll() is not None and not any(t.is_alive() for t in self._threads)

    def poll(self) -> list[Event]:
        """Every event that arrived since the last call (never blocks); records result and error."""
        events = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if event.stage in ("log", "stderr"):
                self.log.append(event.message)
                self._unread_log.append(event.message)
            elif event.stage == "done":
                self.result = event.result
                self._unread_log.append("done")
            elif event.stage == "error":
                self.error = event.message
                self._unread_log.append(f"error: {event.message}")
            elif event.message:
                self._unread_log.append(f"{event.stage}: {event.message}")
            events.append(event)
        return events

    def log_lines(self) -> list[str]:
        """Log-panel lines (engine messages, foreign stdout, stderr) that arrived since the last call;
        call after :meth:`poll` or :meth:`poll_status`."""
        lines, self._unread_log = self._unread_log, []
        return [line for line in lines if line.strip()]

    def poll_status(self) -> tuple[int | None, str | None]:
        """Drain new events into what a progress bar and a status line show: (percent, message),
        each None when nothing new arrived — so widgets only copy two values."""
        percent = message = None
        for event in self.poll():
            if event.fraction is not None:
                percent = int(round(100 * event.fraction))
            if event.message and event.stage not in ("log", "stderr"):
                message = event.message
        return percent, message

    def outcome(self) -> Any:
        """The result after a finished run; raises EngineError with the engine's own message otherwise."""
        self.poll()
        if self.cancelled:
            raise EngineError("cancelled")
        if self.returncode == 0 and self.result is not None:
            return self.result
        tail = next((line for line in reversed(self.stderr_tail) if line.strip()), "")
        raise EngineError(self.error or tail or f"engine exited with code {self.returncode}")

    def wait(self, timeout: float | None = None, on_event: Callable[[Event], None] | None = None,
             interval: float = 0.05) -> Any:
        """Block until the run ends (tests, batch use, Slicer self-tests); returns :meth:`outcome`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished():
            for event in self.poll():
                if on_event:
                    on_event(event)
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
                raise EngineError(f"engine did not finish within {timeout} s; cancelled")
            time.sleep(interval)
        for event in self.poll():
            if on_event:
                on_event(event)
        return self.outcome()

    # ----- cancel ---------------------------------------------------------------------------------
    def cancel(self, grace_s: float = 3.0, wait: bool = True) -> None:
        """Kill the whole process tree: terminate politely, then kill whatever is left after ``grace_s``.

        ``wait=False`` (the widget's Cancel button) only sends the polite signal and returns at once; the
        timer's :meth:`finished` calls escalate to SIGKILL after ``grace_s``, so the GUI never waits."""
        if self.proc is None:
            return
        self.cancelled = True
        if not wait:
            if os.name == "nt":
                kill_tree(self.proc, grace_s)
            elif self.proc.poll() is None or _group_alive(self.proc):
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                self._kill_at = time.monotonic() + grace_s
            return
        if self.proc.poll() is None or os.name != "nt":
            kill_tree(self.proc, grace_s)
        for thread in self._threads:
            thread.join(timeout=2.0)


def kill_tree(proc: subprocess.Popen, grace_s: float = 3.0) -> None:
    """Kill ``proc`` and all its descendants (it was started as a process-group / session leader)."""
    if os.name == "nt":
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True, check=False)
        proc.wait(timeout=grace_s + 5)
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        end = time.monotonic() + wait_s
        while time.monotonic() < end and _group_alive(proc):
            time.sleep(0.05)
        if not _group_alive(proc):
            break
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _group_alive(proc: subprocess.Popen) -> bool:
    """Whether any process of the group still exists (the leader is reaped so it stops counting)."""
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
