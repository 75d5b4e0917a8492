"""Work around a reference-count bug in PySide6 6.12.0: SignalInstance.emit() returns Py_True
without taking a reference, so every signal emitted from Python takes one reference away from
True. After as many emits as True has references (a few thousand in this app), CPython aborts
with "Fatal Python error: bool_dealloc: deallocating True or False". Measured here: each
`signal.emit(...)` lowers sys.getrefcount(True) by exactly 1, for every signal type.

The fix gives True a huge reference count once, which is what CPython 3.12 does anyway (PEP 683
makes True immortal); over-counting True is harmless because True is never freed. Applied by
ui/__init__.py (so the GUI, benchmarks and UI tests get it) and by the test hygiene plugin (so
every test process gets it). Remove when PySide6 is upgraded past the bug.
"""

from __future__ import annotations

import ctypes
import sys

_MARGIN = 1 << 40  # emits needed to undo it: ~35 years at 1,000 emits per second


def apply() -> None:
    if sys.version_info >= (3, 12):
        return  # True is immortal: its count is never decremented
    refcount = ctypes.c_ssize_t.from_address(id(True))
    if refcount.value < _MARGIN:
        refcount.value += _MARGIN
