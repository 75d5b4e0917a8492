"""The part of the layering import-linter cannot express: workstation/ (the core) may use
PySide6.QtCore for signals and timers but never widgets, QtGui or the web engine, so the core
runs headless (CLI, server-side tools, tests without a display)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_QT_IN_CORE = {"PySide6", "PySide6.QtCore"}


def qt_imports(source: str) -> set[str]:
    """Every PySide6 module a Python source imports (absolute imports only)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("PySide6"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("PySide6"):
            if node.module == "PySide6":
                found.update(f"PySide6.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


def test_checker_sees_widget_imports() -> None:
    assert qt_imports("from PySide6.QtWidgets import QWidget") == {"PySide6.QtWidgets"}
    assert qt_imports("from PySide6 import QtGui, QtCore") == {"PySide6.QtGui", "PySide6.QtCore"}
    assert qt_imports("import PySide6.QtWebEngineCore as w") == {"PySide6.QtWebEngineCore"}
    assert qt_imports("import os") == set()


def test_core_uses_qtcore_at_most() -> None:
    offenders = {}
    for path in sorted((ROOT / "workstation").rglob("*.py")):
        bad = qt_imports(path.read_text(encoding="utf-8")) - ALLOWED_QT_IN_CORE
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}
