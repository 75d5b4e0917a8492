"""Participant -> "Evidence packet…" and File -> "Day report…": choose the window, preview, save, print.

Everything slow runs through ui.tasks.run_task: generating the sealed PDF (workstation.reports.export),
drawing each preview or print page (ui.pdf_pages), writing the file. The GUI thread only shows the
page images it is handed and paints them onto the printer. Saving and printing go through the core's
audited paths (export_report, record_print): the `export`/`print` audit row is durable before the file
is written or the first page is painted, and nothing leaves when it cannot be written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QDateTime, QRectF, Qt, QTime, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.pdf_pages import PageImage, PdfPages
from ui.tasks import run_task
from workstation.reports import export, window

PREVIEW_DPI = 72
PRINT_DPI = 200


class ReportDialog(QDialog):
    """One dialog for both reports; `participant` (id, case number, name) makes it an evidence packet.

    The window is picked as wall-clock times in `zone_name` (the participant's time zone, or the
    agency's for a day report), the zone every time in the report is printed in."""

    #: emitted with the saved path (tests, status bar)
    saved = Signal(str)
    printed = Signal(int)
    generated = Signal()

    def __init__(self, parent: Any, services: Any, zone_name: str, *, participant: tuple[str, str, str] | None = None,
                 map_renderer_factory: Any = None, clock=None) -> None:
        super().__init__(parent)
        self.services = services
        self.store = services.store
        self.participant = participant
        self.map_renderer_factory = map_renderer_factory
        self.report: export.GeneratedReport | None = None
        self.pages: PdfPages | None = None
        self._page_requests = 0
        now = (clock or (lambda: datetime.now(UTC)))()
        self.setWindowTitle(f"Evidence packet — {participant[2]} ({participant[1]})" if participant else "Day report")
        self.resize(760, 860)

        form = QFormLayout()
        self.zone_name = zone_name
        zone = window.resolve_zone(zone_name)
        here = now.astimezone(zone)
        if participant:
            self.start_edit = QDateTimeEdit(_wall_clock(here - timedelta(days=7)), self)
            self.end_edit = QDateTimeEdit(_wall_clock(here), self)
            for edit, name in ((self.start_edit, "Window start"), (self.end_edit, "Window end")):
                edit.setDisplayFormat("yyyy-MM-dd HH:mm")
                edit.setCalendarPopup(True)
                edit.setAccessibleName(name)
                form.addRow(name + ":", edit)
        else:
            self.day_edit = QDateEdit(QDate(here.year, here.month, here.day), self)
            self.day_edit.setDisplayFormat("yyyy-MM-dd")
            self.day_edit.setCalendarPopup(True)
            self.day_edit.setAccessibleName("Day")
            form.addRow("Day:", self.day_edit)
        whose = "the participant's" if participant else "the agency's"
        form.addRow("Time zone:", QLabel(f"{zone_name} ({window.utc_offset_label(here)}), {whose}", self))

        self.generate_button = QPushButton("&Preview", self)
        self.generate_button.setDefault(True)
        self.save_button = QPushButton("&Save…", self)
        self.print_button = QPushButton("P&rint…", self)
        close = QPushButton("Close", self)
        for button in (self.save_button, self.print_button):
            button.setEnabled(False)
        self.generate_button.clicked.connect(self.generate)
        self.save_button.clicked.connect(self.choose_file_and_save)
        self.print_button.clicked.connect(self.choose_printer_and_print)
        close.clicked.connect(self.reject)

        self.status = QLabel("Choose the window, then Preview. Nothing leaves the laptop until you save or print.", self)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Report status")
        self.page_box = QSpinBox(self)
        self.page_box.setPrefix("Page ")
        self.page_box.setAccessibleName("Preview page")
        self.page_box.setEnabled(False)
        self.page_box.valueChanged.connect(self._show_page)
        self.page_label = QLabel(self)
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.page_label.setAccessibleName("Preview of the page")
        scroll = QScrollArea(self)
        scroll.setWidget(self.page_label)
        scroll.setWidgetResizable(True)

        buttons = QHBoxLayout()
        for widget in (self.generate_button, self.page_box):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        for widget in (self.save_button, self.print_button, close):
            buttons.addWidget(widget)
        layout = QVBoxLayout(self)
        top = QWidget(self)
        top.setLayout(form)
        layout.addWidget(top)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        self.finished.connect(self._release)

    # ------------------------------------------------------------------ generate
    def chosen_window(self) -> window.ReportWindow:
        if self.participant:
            zone = window.resolve_zone(self.zone_name)
            start, end = (_aware(edit.dateTime(), zone) for edit in (self.start_edit, self.end_edit))
            if end <= start:
                raise window.WindowInvalid("the window ends before it starts")
            return window.ReportWindow(start, end, zone)
        return window.day_window(self.day_edit.date().toString(Qt.DateFormat.ISODate), self.zone_name)

    def generate(self) -> None:
        try:
            span = self.chosen_window()
        except window.WindowInvalid as exc:
            self.status.setText(f"Not generated: {exc}")
            return
        store, session, participant, factory = self.store, self.services.session, self.participant, self.map_renderer_factory
        self.generate_button.setEnabled(False)
        self.status.setText("Generating from this laptop's data…")

        def work() -> tuple[export.GeneratedReport, PdfPages]:
            from workstation import config as config_mod

            config = config_mod.load_config(home=Path(session.home))
            identity = export.Identity(
                officer_username=session.auth.username, workstation_id=session.auth.workstation_id,
                agency=config.agency_name, retention_days=config.retention_days,
                agency_time_zone=session.agency_time_zone,
            )
            if participant is None:
                report = export.generate_day_report(store, span, identity)
            else:
                renderer = factory(session.home, store.cache_key) if factory else None
                try:
                    report = export.generate_packet(store, participant[1], span, identity, map_renderer=renderer)
                finally:
                    if renderer is not None:
                        renderer.close()
            return report, PdfPages(report.data)

        run_task(work, self._generated, self._failed, owner=self)

    def _generated(self, result: tuple[export.GeneratedReport, PdfPages]) -> None:
        self._release()
        self.report, self.pages = result
        self.generate_button.setEnabled(True)
        self.save_button.setEnabled(True)
        self.print_button.setEnabled(True)
        self.page_box.setEnabled(True)
        self.page_box.setRange(1, self.pages.count)
        self.page_box.setSuffix(f" of {self.pages.count}")
        self.status.setText(f"{self.report.summary}; {self.pages.count} pages. Packet {self.report.packet_id}, "
                            f"manifest SHA-256 {self.report.manifest_sha256[:16]}…  Not saved yet.")
        self.page_box.setValue(1)
        self._show_page(1)
        self.generated.emit()

    def _failed(self, error: BaseException) -> None:
        self.generate_button.setEnabled(True)
        self.status.setText(f"Not generated: {error}")

    def _show_page(self, number: int) -> None:
        pages = self.pages
        if pages is None or not 1 <= number <= pages.count:
            return
        self._page_requests += 1
        request = self._page_requests
        run_task(lambda: pages.render(number - 1, PREVIEW_DPI),
                 lambda image: self._page_ready(request, image), self._failed, owner=self)

    def _page_ready(self, request: int, image: PageImage) -> None:
        if request == self._page_requests:  # a newer page was asked for meanwhile
            pixmap = QPixmap.fromImage(_qimage(image))
            self.page_label.setMinimumSize(pixmap.size())  # scroll over the page rather than crop it
            self.page_label.setPixmap(pixmap)

    # ------------------------------------------------------------------ save / print
    def default_file_name(self) -> str:
        if self.report is None:
            return "report.pdf"
        day = self.report.window.start.date().isoformat()
        return f"packet-{self.report.case_number}-{day}.pdf" if self.report.case_number else f"day-report-{day}.pdf"

    def choose_file_and_save(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(self, "Save the report", self.default_file_name(), "PDF (*.pdf)")
        if path:
            self.save_to(Path(path))

    def save_to(self, path: Path) -> None:
        report, store = self.report, self.store
        if report is None:
            return
        self.status.setText(f"Saving to {path}…")
        run_task(lambda: export.export_report(store, report, path, via="gui"),
                 lambda written: (self.status.setText(f"Saved to {written}. Check it with: workstation verify-packet "
                                                      f"{Path(written).name}"), self.saved.emit(str(written))),
                 lambda exc: self.status.setText(_refusal("Not saved", exc)), owner=self)

    def choose_printer_and_print(self) -> None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.print_to(printer)

    def print_to(self, printer: QPrinter) -> None:
        """Audit the print, then paint page after page (each rasterised on a worker)."""
        report, store, pages = self.report, self.store, self.pages
        if report is None or pages is None:
            return
        name = printer.printerName() or printer.outputFileName() or "printer"
        self.status.setText("Printing…")
        painter_holder: dict[str, QPainter] = {}

        def next_page(index: int) -> None:
            if index >= pages.count:
                painter_holder["painter"].end()
                self.status.setText(f"Sent {pages.count} pages to {name}.")
                self.printed.emit(pages.count)
                return
            run_task(lambda: pages.render(index, PRINT_DPI), lambda image: paint(index, image), self._failed, owner=self)

        def paint(index: int, image: PageImage) -> None:
            painter = painter_holder.get("painter")
            if painter is None:
                painter = painter_holder["painter"] = QPainter()
                if not painter.begin(printer):
                    self.status.setText(f"Not printed: the printer {name} cannot be opened.")
                    return
            elif not printer.newPage():
                painter.end()
                self.status.setText("Printing stopped by the printer.")
                return
            target = painter.viewport()
            qimage = _qimage(image)
            scaled = qimage.size().scaled(target.size(), Qt.AspectRatioMode.KeepAspectRatio)
            painter.drawImage(QRectF(0, 0, scaled.width(), scaled.height()), qimage)
            next_page(index + 1)

        run_task(lambda: export.record_print(store, report, printer=name, via="gui"),
                 lambda _seq: next_page(0), lambda exc: self.status.setText(_refusal("Not printed", exc)), owner=self)

    def _release(self, *_args: object) -> None:
        if self.pages is not None:
            self.pages.close()
            self.pages = None


def _wall_clock(moment: datetime) -> QDateTime:
    """The wall-clock reading of an aware time, for a picker that shows times in the report's zone."""
    return QDateTime(QDate(moment.year, moment.month, moment.day), QTime(moment.hour, moment.minute))


def _aware(value: QDateTime, zone: Any) -> datetime:
    d, t = value.date(), value.time()
    return datetime(d.year(), d.month(), d.day(), t.hour(), t.minute(), tzinfo=zone)


def _qimage(image: PageImage) -> QImage:
    return QImage(image.rgb, image.width, image.height, image.width * 3, QImage.Format.Format_RGB888).copy()


def _refusal(what: str, exc: BaseException) -> str:
    return f"{what}: {exc}"


def open_evidence_packet(window: Any) -> ReportDialog | None:
    """Participant -> Evidence packet… for the participant whose record is shown."""
    record = getattr(window.record, "record", None)
    if not window._selected or record is None or record.id != window._selected:
        window.statusBar().showMessage("Select a participant and wait for the record first.", 4000)
        return None
    dialog = ReportDialog(window, window.services, record.time_zone,
                          participant=(record.id, record.case_number, f"{record.first_name} {record.last_name}"),
                          map_renderer_factory=_offline_maps())
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def open_day_report(window: Any) -> ReportDialog:
    dialog = ReportDialog(window, window.services, window.services.session.agency_time_zone)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def _offline_maps() -> Any:
    from maps.track_map import OfflineTrackMaps

    return OfflineTrackMaps

