"""Background work for the GUI: run a function on the Qt thread pool, get its result back on the
GUI thread.

The rule (Electrum PR #3326, Anki's QueryOp): a worker never touches a widget; it returns plain
data, and the result crosses to the GUI thread through a queued signal. Each `run_task` call is
one small op with explicit success and failure callbacks; a callback whose owner widget has been
deleted is dropped instead of crashing on a dead C++ object.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

_in_flight: set[_Relay] = set()


class _Relay(QObject):
    """Lives on the GUI thread; the worker emits through it, so delivery is a queued call."""

    succeeded = Signal(object)
    failed = Signal(object)

    def __init__(self, owner: QObject | None, on_done, on_error) -> None:
        super().__init__()
        self._owner = owner
        self._on_done = on_done
        self._on_error = on_error
        self.succeeded.connect(self._deliver_result)
        self.failed.connect(self._deliver_error)

    def _owner_gone(self) -> bool:
        return self._owner is not None and not shiboken6.isValid(self._owner)

    @Slot(object)
    def _deliver_result(self, result: Any) -> None:
        _in_flight.discard(self)
        if not self._owner_gone() and self._on_done is not None:
            self._on_done(result)

    @Slot(object)
    def _deliver_error(self, error: BaseException) -> None:
        _in_flight.discard(self)
        if self._owner_gone():
            return
        if self._on_error is not None:
            self._on_error(error)
        else:
            log.error("background task failed: %s", "".join(traceback.format_exception(error)))


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._fn = fn
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - every failure is reported to the GUI
            self._relay.failed.emit(exc)
        else:
            self._relay.succeeded.emit(result)


def run_task(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    *,
    owner: QObject | None = None,
    pool: QThreadPool | None = None,
) -> None:
    """Run fn() off the GUI thread; on_done(result) / on_error(exc) run later on the GUI thread.

    Must be called from the GUI thread. `owner`: if that QObject is deleted before the result
    arrives, the callbacks are skipped.
    """
    relay = _Relay(owner, on_done, on_error)
    _in_flight.add(relay)
    (pool or QThreadPool.globalInstance()).start(_Runnable(fn, relay))


class GuiInvoker(QObject):
    """post(fn) from any thread runs fn() on the thread this object lives in (the GUI thread).

    Core listeners (connectivity, live feed, scheduler) call back on their own threads; they
    must not touch widgets there, so they post here.
    """

    _call = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._call.connect(self._run)

    def post(self, fn: Callable[[], Any]) -> None:
        if shiboken6.isValid(self):
            self._call.emit(fn)

    @Slot(object)
    def _run(self, fn: Callable[[], Any]) -> None:
        fn()
