"""Qt signals as PythonQt delivers them to Python callables.

Followed source: commontk/PythonQt (the PythonQt that CTK builds for Slicer 5.10/5.12), branch
``patched-9`` commit 0580304d, ``src/PythonQtSignalReceiver.cpp`` ``PythonQtSignalTarget::call``:

* a plain function (lambdas included) without ``*args`` receives ``co_argcount`` arguments — every
  positional parameter *including those with defaults*; a bound method receives ``co_argcount - 1``;
* a callable with ``*args``, or anything that is not a Python function/method (a ``functools.partial``,
  a builtin, an object with ``__call__``) receives every signal argument;
* never more arguments than the signal has; extra signal arguments are dropped.

And ``src/PythonQtSignal.cpp`` ``PythonQtSignalFunction_connect``: ``obj.signal.connect(f)`` connects
the *first* overload of the signal name (``type->m_ml->signature()``), e.g. ``clicked(bool)`` rather than
``clicked()`` and ``currentNodeChanged(vtkMRMLNode*)`` rather than ``currentNodeChanged(bool)``.

So ``button.clicked.connect(self.onRun)`` with ``def onRun(self, sliceIndex=None)`` calls
``onRun(False)``. An exception raised by a slot propagates here (PythonQt prints it and carries on; in a
test it must fail loudly instead).
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable
from typing import Any

CO_VARARGS = inspect.CO_VARARGS


def python_argument_count(callable_: Callable[..., Any]) -> int | None:
    """How many signal arguments PythonQt passes to ``callable_`` (None: all of them)."""
    if isinstance(callable_, types.FunctionType):
        code = callable_.__code__
        return None if code.co_flags & CO_VARARGS else code.co_argcount
    if isinstance(callable_, types.MethodType) and isinstance(callable_.__func__, types.FunctionType):
        code = callable_.__func__.__code__
        return None if code.co_flags & CO_VARARGS else code.co_argcount - 1
    return None


def call_like_pythonqt(callable_: Callable[..., Any], arguments: tuple[Any, ...]) -> Any:
    count = python_argument_count(callable_)
    passed = arguments if count is None else arguments[:count]
    return callable_(*passed)


def parameter_count(signature: str) -> int:
    """Number of parameters of a Qt signature such as ``currentNodeChanged(vtkMRMLNode*)``."""
    inside = re.match(r"^\w+\((.*)\)$", signature).group(1).strip()
    return 0 if not inside else inside.count(",") + 1


class Signal:
    """One overload of a Qt signal of one object, with its connected Python callables."""

    def __init__(self, signature: str):
        self.signature = signature
        self.arity = parameter_count(signature)
        self.slots: list[Callable[..., Any]] = []
        self.emitted: list[tuple[Any, ...]] = []
        self.blocked = False

    def connect(self, callable_: Callable[..., Any]) -> bool:
        self.slots.append(callable_)
        return True

    def disconnect(self, callable_: Callable[..., Any] | None = None) -> bool:
        if callable_ is None:
            self.slots.clear()
            return True
        if callable_ in self.slots:
            self.slots.remove(callable_)
            return True
        return False

    def emit(self, *arguments: Any) -> None:
        if len(arguments) != self.arity:
            raise TypeError(f"{self.signature} emitted with {len(arguments)} arguments")
        self.emitted.append(arguments)
        if self.blocked:
            return
        for slot in list(self.slots):
            call_like_pythonqt(slot, arguments)


class SignalOverloads:
    """Every overload of one signal name; attribute access and ``connect`` use the first (PythonQt)."""

    def __init__(self, signatures: list[str]):
        self.overloads = {s: Signal(s) for s in signatures}
        self.first = self.overloads[signatures[0]]

    def connect(self, callable_: Callable[..., Any]) -> bool:
        return self.first.connect(callable_)

    def disconnect(self, callable_: Callable[..., Any] | None = None) -> bool:
        return self.first.disconnect(callable_)

    def emit(self, *arguments: Any) -> None:
        """Emit every overload whose parameter count fits (Qt emits each overload the C++ code emits;
        our stand-ins call this the way the C++ widget emits all of them)."""
        for signal in self.overloads.values():
            signal.emit(*arguments[:signal.arity])

    @property
    def slots(self) -> list[Callable[..., Any]]:
        return [slot for signal in self.overloads.values() for slot in signal.slots]
