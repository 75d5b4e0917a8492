"""Participant -> Evidence packet… and File -> Day report…: preview, save and print from the real window."""

from __future__ import annotations

import json

from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from local_db.models import AuditEvent
from ui.report_dialog import ReportDialog
from workstation.reports.verify import verify_file


def _dialog(qtbot) -> ReportDialog:
    qtbot.waitUntil(lambda: any(isinstance(w, ReportDialog) and w.isVisible() for w in QApplication.topLevelWidgets()),
                    timeout=5000)
    return next(w for w in QApplication.topLevelWidgets() if isinstance(w, ReportDialog) and w.isVisible())


def test_evidence_packet_preview_save_and_print(qtbot, offline_window, tmp_path):
    w = offline_window
    assert w.caseload.select_participant("p001")
    qtbot.waitUntil(lambda: w.record.record is not None and w.record.record.id == "p001", timeout=5000)
    w.actions_by_id["evidence_packet"].trigger()
    dialog = _dialog(qtbot)
    assert w.record.record.case_number in dialog.windowTitle()
    assert not dialog.save_button.isEnabled()  # nothing to save before a preview

    with qtbot.waitSignal(dialog.generated, timeout=30_000):
        dialog.generate_button.click()
    qtbot.waitUntil(lambda: dialog.page_label.pixmap() is not None and not dialog.page_label.pixmap().isNull(),
                    timeout=10_000)
    assert dialog.page_box.maximum() == dialog.pages.count >= 2

    target = tmp_path / "packet.pdf"
    with qtbot.waitSignal(dialog.saved, timeout=10_000):
        dialog.save_to(target)
    assert verify_file(target.read_bytes()).seal.packet_id == dialog.report.packet_id

    printer = QPrinter(QPrinter.PrinterMode.ScreenResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)  # a file stands in for the office printer
    printer.setOutputFileName(str(tmp_path / "printed.pdf"))
    with qtbot.waitSignal(dialog.printed, timeout=60_000):
        dialog.print_to(printer)
    assert (tmp_path / "printed.pdf").stat().st_size > 10_000

    with w.store.read_session() as db:
        rows = db.execute(select(AuditEvent.event, AuditEvent.detail).where(AuditEvent.event.in_(("export", "print")))).all()
    assert sorted(event for event, _ in rows) == ["export", "print"]
    assert all(json.loads(detail)["via"] == "gui" and json.loads(detail)["case"] == w.record.record.case_number
               for _, detail in rows)
    dialog.close()


def test_day_report_from_the_file_menu(qtbot, offline_window, tmp_path):
    offline_window.actions_by_id["day_report"].trigger()
    dialog = _dialog(qtbot)
    assert dialog.windowTitle() == "Day report"
    with qtbot.waitSignal(dialog.generated, timeout=30_000):
        dialog.generate_button.click()
    target = tmp_path / dialog.default_file_name()
    with qtbot.waitSignal(dialog.saved, timeout=10_000):
        dialog.save_to(target)
    assert verify_file(target.read_bytes()).seal.kind == "day-report"
    dialog.close()


def test_packet_needs_a_selected_participant(qtbot, offline_window):
    offline_window.actions_by_id["evidence_packet"].trigger()
    assert "Select a participant" in offline_window.statusBar().currentMessage()
