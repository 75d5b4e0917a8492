"""Colours that carry meaning (risk, stale, pending, severity), chosen per palette.

The app follows the system palette (light or dark); the semantic colours below come in a light
and a dark variant, each checked (tests/ui/test_main_window.py) to keep a WCAG contrast ratio of at
least 4.5:1 against the base and window backgrounds they are drawn on.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Semantic:
    danger: str
    warning: str
    ok: str
    muted: str
    pending: str
    accent: str


LIGHT = Semantic(danger="#b3261e", warning="#8a5300", ok="#1e6b34", muted="#5f6368", pending="#6a3fb5", accent="#0b57d0")
DARK = Semantic(danger="#ff8a80", warning="#ffc857", ok="#7ddc93", muted="#b0b6bd", pending="#c9a7ff", accent="#8ab4f8")

SEVERITY_COLOUR_KEY = {"critical": "danger", "high": "danger", "medium": "warning", "low": "muted", "info": "muted"}
RISK_COLOUR_KEY = {"high": "danger", "medium": "warning", "low": "ok"}


_app_dark: bool | None = None
_colours: dict[tuple[str, bool], QColor] = {}


def is_dark(palette: QPalette | None = None) -> bool:
    """Is this palette (default: the application's) a dark one? The application's answer is
    cached because QApplication.palette() copies the palette (~0.6 ms, measured) and table
    models ask for colours for every painted cell; call refresh() when the palette changes."""
    global _app_dark
    if palette is not None:
        return palette.color(QPalette.ColorRole.Base).lightnessF() < 0.5
    if _app_dark is None:
        _app_dark = QApplication.palette().color(QPalette.ColorRole.Base).lightnessF() < 0.5
    return _app_dark


def refresh() -> None:
    """Forget the cached application palette answer (after a palette or theme change)."""
    global _app_dark
    _app_dark = None


def semantic(palette: QPalette | None = None) -> Semantic:
    return DARK if is_dark(palette) else LIGHT


def colour(key: str, palette: QPalette | None = None) -> QColor:
    dark = is_dark(palette)
    cached = _colours.get((key, dark))
    if cached is None:
        cached = _colours[(key, dark)] = QColor(getattr(DARK if dark else LIGHT, key))
    return cached


def relative_luminance(c: QColor) -> float:
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())


def composite(fg: QColor, bg: QColor) -> QColor:
    """`fg` as drawn over an opaque `bg` (a translucent colour, e.g. Qt's default placeholder text
    black at alpha 128, is judged by what reaches the screen)."""
    a = fg.alphaF()
    if a >= 1.0:
        return fg
    return QColor.fromRgbF(fg.redF() * a + bg.redF() * (1 - a), fg.greenF() * a + bg.greenF() * (1 - a),
                           fg.blueF() * a + bg.blueF() * (1 - a))


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG contrast of foreground `a` over background `b` (a's alpha blended over b)."""
    a = composite(a, b)
    la, lb = relative_luminance(a), relative_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def dark_palette() -> QPalette:
    """A dark palette like the one a desktop in dark mode hands Qt (used by tests and --dark)."""
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#25272a",
        QPalette.ColorRole.Text: "#e8eaed",
        QPalette.ColorRole.Button: "#2d2f33",
        QPalette.ColorRole.ButtonText: "#e8eaed",
        QPalette.ColorRole.Highlight: "#8ab4f8",
        QPalette.ColorRole.HighlightedText: "#101114",
        QPalette.ColorRole.ToolTipBase: "#2d2f33",
        QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.PlaceholderText: "#9aa0a6",
        QPalette.ColorRole.Link: "#8ab4f8",
    }
    for role, value in roles.items():
        p.setColor(role, QColor(value))
    return p


def accessible_palette(palette: QPalette) -> QPalette:
    """The system palette with the selection colours fixed where they fall below 4.5:1 (Fusion's
    light highlight #308cc6 with white text is 3.7:1), and the placeholder text (Qt's light default
    is black at alpha 128: #808080 on white, 4.0:1); everything else is left as the system set it."""
    p = QPalette(palette)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        placeholder = p.color(group, QPalette.ColorRole.PlaceholderText)
        if contrast_ratio(placeholder, p.color(group, QPalette.ColorRole.Base)) < 4.5:
            p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor(DARK.muted if is_dark(p) else LIGHT.muted))
    text = p.color(QPalette.ColorRole.HighlightedText)
    if contrast_ratio(text, p.color(QPalette.ColorRole.Highlight)) < 4.5:
        replacement = QColor(DARK.accent if is_dark(p) else LIGHT.accent)
        if contrast_ratio(text, replacement) < 4.5:
            text = QColor("#101114") if is_dark(p) else QColor("#ffffff")
            p.setColor(QPalette.ColorRole.HighlightedText, text)
        p.setColor(QPalette.ColorRole.Highlight, replacement)
    return p
