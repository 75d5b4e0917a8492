"""Render the one hand-drawn SVG icon into the raster formats the installers need.

    python installer/render_icons.py OUTDIR

writes OUTDIR/field-workstation-{16..512}.png, field-workstation.ico (Windows, PyInstaller and
NSIS) and field-workstation.icns (macOS). Qt's SVG renderer draws it (offscreen, no display
needed); Pillow writes the ICO and ICNS containers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SVG = Path(__file__).resolve().parent / "linux" / "field-workstation.svg"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def render(outdir: Path) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: {SVG} is not a valid SVG")
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        target = outdir / f"field-workstation-{size}.png"
        if not image.save(str(target)):
            raise SystemExit(f"render_icons: could not write {target}")
        written.append(target)
    largest = Image.open(outdir / "field-workstation-512.png")
    largest.save(outdir / "field-workstation.ico", sizes=[(s, s) for s in SIZES if s <= 256])
    largest.save(outdir / "field-workstation.icns")
    return [*written, outdir / "field-workstation.ico", outdir / "field-workstation.icns"]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: render_icons.py OUTDIR")
    for path in render(Path(sys.argv[1])):
        print(path)
