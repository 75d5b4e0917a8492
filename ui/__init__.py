"""Qt widgets of the officer GUI. Importing the package applies the PySide6 workaround below."""

from ui import pyside_workarounds as _pyside_workarounds

_pyside_workarounds.apply()
