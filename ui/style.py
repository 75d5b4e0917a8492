"""The widget style: Fusion, with check box outlines an officer can see.

Fusion strokes a check box in the window colour darkened by 40 %: measured on its pixels, an
unchecked box is 1.65:1 against the window in the light palette and 1.12:1 in the dark one, so
on a dark desktop the caseload filters ("Incidents", "Due today", ...) look like bare labels.
WCAG 1.4.11 asks 3:1 for what identifies a control. Check boxes get a class palette whose window
colour darkens to the palette's muted colour (theme.py): 4.5:1 light, 9.3:1 dark, drawn by Fusion
itself. (A QProxyStyle redrawing the outline did the same, but every primitive Qt drew, each table
cell's background included, then went through Python: ~19 % of the item delegates' painting,
measured with py-spy.) A check
box does not fill its background, so its window colour shows nowhere else.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from ui import theme

#: Fusion's outline is window.darker(140); lighter(140) undoes it
FUSION_OUTLINE_DARKENING = 140


def apply_style(app: QApplication) -> None:
    """Fusion, with the check box variant of the application's current palette."""
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    follow_palette(app)


def apply_palette(app: QApplication, palette: QPalette) -> None:
    app.setPalette(palette)
    follow_palette(app)


def follow_palette(app: QApplication) -> None:
    """Derive the check box palette from the application's (again after a light/dark switch)."""
    wanted = check_box_palette(app.palette())
    if QApplication.palette("QCheckBox") != wanted:
        app.setPalette(wanted, "QCheckBox")


def check_box_palette(palette: QPalette) -> QPalette:
    out = QPalette(palette)
    outline = QColor(theme.semantic(palette).muted)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        out.setColor(group, QPalette.ColorRole.Window, outline.lighter(FUSION_OUTLINE_DARKENING))
    return out
