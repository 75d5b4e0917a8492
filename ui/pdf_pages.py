"""Pages of a generated PDF as RGB images, for the report preview and for printing.

PDFium (pypdfium2, the renderer inside Chromium) draws the very bytes that will be saved, so the
preview shows exactly the file; Qt's own PDF module is not part of the PySide6 wheels this app
uses. PDFium is not thread-safe: every call goes through one lock, and callers run it on a worker
(ui.tasks.run_task), never on the GUI thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pypdfium2

_pdfium_lock = threading.Lock()


@dataclass(frozen=True)
class PageImage:
    width: int
    height: int
    rgb: bytes  # width * height * 3 bytes, rows top to bottom


class PdfPages:
    """An open PDF held in memory (never written to disk for the preview)."""

    def __init__(self, data: bytes) -> None:
        with _pdfium_lock:
            self._document = pypdfium2.PdfDocument(data)
            self.count = len(self._document)

    def render(self, index: int, dpi: int) -> PageImage:
        with _pdfium_lock:
            if self._document is None:
                raise ValueError("the report was closed")
            page = self._document[index]
            try:
                image = page.render(scale=dpi / 72).to_pil().convert("RGB")
            finally:
                page.close()
        return PageImage(image.width, image.height, image.tobytes())

    def close(self) -> None:
        with _pdfium_lock:
            if self._document is not None:
                self._document.close()
                self._document = None
