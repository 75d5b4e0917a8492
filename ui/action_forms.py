"""Forms for the officer's actions. Each form validates its fields (clear message beside the
button, nothing queued while anything is wrong) and yields a payload validated against the wire
model in workstation.protocol, so what the outbox stores is exactly what the server accepts.

The forms do not write anything: the main window hands the payload to workstation.actions on a
worker thread, which writes the local effect and the outbox row in one transaction.

Keyboard: a form opens on its first field and names its participant in the body (the window title
alone is easy to miss). No button is a default button, so Enter never submits by accident: in a
multi-line field Enter is a new line, and a stray space never lands on a focused "Queue". Submit is
Ctrl+Enter or the button; Escape cancels. Nothing an officer must decide is preset: the outcome of a
contact or visit starts empty and must be chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from PySide6.QtCore import QDateTime, Qt, QTimeZone
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from workstation import protocol as p
from workstation.local_time import differs_from_laptop, zone_abbreviation
from workstation.rules.incidents import NOTE_REQUIRED_MESSAGE

OUTCOMES = (("met", "Met in person"), ("not_home", "Not at home"), ("refused", "Refused"),
            ("left_message", "Left message"), ("phone_contact", "Phone contact"), ("other", "Other"))
RESOLUTIONS = (("resolved", "Resolved"), ("false_alarm", "False alarm"), ("device_fault", "Device fault"),
               ("participant_contacted", "Participant contacted"))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err.get("loc", ()))
    return f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid")


def _utc(edit: QDateTimeEdit) -> datetime:
    return datetime.fromtimestamp(edit.dateTime().toSecsSinceEpoch(), UTC)


def _datetime_edit(parent: QWidget, when: datetime, name: str, time_zone: str | None = None) -> QDateTimeEdit:
    """Entered in the participant's time zone (a 02:10 visit is 02:10 where it happened)."""
    edit = QDateTimeEdit(parent)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd HH:mm")
    edit.setTimeZone(QTimeZone(time_zone.encode()) if time_zone else QTimeZone.systemTimeZone())
    edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(when.timestamp())))
    edit.setAccessibleName(name)
    return edit


#: What submits a form (both Enter keys: the main one and the keypad's).
SUBMIT_KEYS = ("Ctrl+Return", "Ctrl+Enter")


class ActionForm(QDialog):
    """Base: who it is for, a form layout, a message line and OK/Cancel; OK runs validate()."""

    title = "Action"
    time_zone: str | None = None  # the participant's (forms with times set it)

    def __init__(self, participant_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{self.title} — {participant_name}")
        self.setMinimumWidth(460)
        self.subject = QLabel(self)
        self.subject.setTextFormat(Qt.TextFormat.PlainText)
        self.subject.setText(f"For: {participant_name}")
        self.subject.setAccessibleName("Participant")
        font = self.subject.font()
        font.setBold(True)
        self.subject.setFont(font)
        self.form = QFormLayout()
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Form message")
        self.message.setStyleSheet(f"color: {theme.semantic().danger}")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Queue")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setAccessibleName("Queue action")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        for button in self.buttons.findChildren(QPushButton):
            button.setAutoDefault(False)
            button.setDefault(False)
        self.submit_button.setToolTip("Ctrl+Enter")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for keys in SUBMIT_KEYS:
            QShortcut(QKeySequence(keys), self, activated=self.accept, context=Qt.ShortcutContext.WindowShortcut)
        layout = QVBoxLayout(self)
        layout.addWidget(self.subject)
        layout.addLayout(self.form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.payload: p.WireModel | None = None

    @property
    def submit_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def add_row(self, label: str, widget: QWidget) -> QWidget:
        widget.setAccessibleName(label.rstrip(":"))
        self.form.addRow(label, widget)
        return widget

    def time_label(self, label: str, when: datetime) -> str:
        """"When:" or, where the participant's clock differs from the laptop's, "When (CST):"."""
        if self.time_zone and differs_from_laptop(when, self.time_zone):
            return f"{label} ({zone_abbreviation(when, self.time_zone)}):"
        return f"{label}:"

    def first_field(self) -> QWidget | None:
        """The first field the officer fills in (focus goes there when the form opens)."""
        for row in range(self.form.rowCount()):
            item = self.form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            widget = item.widget() if item is not None else None
            if widget is not None and widget.isEnabled() and widget.focusPolicy() != Qt.FocusPolicy.NoFocus:
                return widget
        return None

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        # Ctrl+Enter from a one-line field: QLineEdit claims the key before shortcuts see it, then
        # passes the press on unhandled; it arrives here
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.accept()
            return
        super().keyPressEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        # QDialogButtonBox makes its first accept button the default when shown: undo that, or Enter
        # in a one-line field (the place) would queue the form
        for button in self.buttons.findChildren(QPushButton):
            button.setDefault(False)
            button.setAutoDefault(False)
        first = self.first_field()
        if first is not None:
            first.setFocus(Qt.FocusReason.OtherFocusReason)

    def build(self) -> p.WireModel:  # pragma: no cover - every form overrides it
        raise NotImplementedError

    def validate(self) -> str | None:
        """None when the form is valid (self.payload set), else the message shown to the officer."""
        try:
            self.payload = self.build()
        except ValueError as exc:  # ValidationError is a ValueError
            self.payload = None
            return _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
        return None

    def accept(self) -> None:
        problem = self.validate()
        if problem:
            self.message.setText(problem)
            return
        super().accept()


class NoteForm(ActionForm):
    title = "Add note"

    def __init__(self, participant_name: str, parent=None) -> None:
        super().__init__(participant_name, parent)
        self.text = self.add_row("Note:", QPlainTextEdit(self))
        self.text.setTabChangesFocus(True)

    def build(self) -> p.AddNotePayload:
        text = self.text.toPlainText().strip()
        if not text:
            raise ValueError("Write the note first: an empty note cannot be queued.")
        if len(text) > 10_000:
            raise ValueError(f"The note is {len(text):,} characters; the limit is 10,000.")
        return p.AddNotePayload(text=text)


class ContactForm(ActionForm):
    title = "Record contact / home visit"

    def __init__(self, participant_name: str, parent=None, now: datetime | None = None, place: str = "",
                 time_zone: str | None = None) -> None:
        super().__init__(participant_name, parent)
        self.now = now or datetime.now(UTC)
        self.time_zone = time_zone
        self.kind = self.add_row("Kind:", QComboBox(self))
        self.kind.addItem("Home visit", "home_visit")
        self.kind.addItem("Contact (phone / in person elsewhere)", "contact")
        self.outcome = self.add_row("Outcome:", QComboBox(self))
        for value, label in OUTCOMES:
            self.outcome.addItem(label, value)
        # the officer says what happened; a preset "Met in person" made false contact records
        self.outcome.setPlaceholderText("Choose what happened…")
        self.outcome.setCurrentIndex(-1)
        self.when = self.add_row(self.time_label("When", self.now), _datetime_edit(self, self.now, "When", time_zone))
        self.place = self.add_row("Place:", QLineEdit(place, self))
        self.use_location = self.add_row("Location:", QCheckBox("Use my location", self))
        # No positioning source on this workstation yet: say so rather than pretend.
        self.use_location.setEnabled(False)
        self.use_location.setToolTip("No location source is available on this computer")
        self.text = self.add_row("Notes:", QPlainTextEdit(self))
        self.text.setTabChangesFocus(True)

    def build(self) -> p.RecordContactPayload:
        when = _utc(self.when)
        if when > self.now + timedelta(minutes=5):
            raise ValueError("A contact cannot be recorded in the future: check the date and time.")
        if self.outcome.currentIndex() < 0:
            raise ValueError("Choose the outcome: what happened on this contact or visit.")
        if self.kind.currentData() == "home_visit" and not self.place.text().strip():
            raise ValueError("Say where the home visit took place.")
        return p.RecordContactPayload(
            kind=self.kind.currentData(), outcome=self.outcome.currentData(), occurred_at=when,
            place=self.place.text().strip(), text=self.text.toPlainText().strip(),
        )


class CheckinForm(ActionForm):
    title = "Record check-in"

    def __init__(self, participant_name: str, parent=None, now: datetime | None = None, place: str = "",
                 time_zone: str | None = None) -> None:
        super().__init__(participant_name, parent)
        self.now = now or datetime.now(UTC)
        self.time_zone = time_zone
        self.kind = self.add_row("Kind:", QComboBox(self))
        self.kind.addItem("Office check-in", "office_checkin")
        self.kind.addItem("App check-in (verified)", "app_checkin")
        self.when = self.add_row(self.time_label("When", self.now), _datetime_edit(self, self.now, "When", time_zone))
        self.place = self.add_row("Place:", QLineEdit(place, self))

    def build(self) -> p.RecordCheckinPayload:
        when = _utc(self.when)
        if when > self.now + timedelta(minutes=5):
            raise ValueError("A check-in cannot be in the future.")
        return p.RecordCheckinPayload(kind=self.kind.currentData(), occurred_at=when, place=self.place.text().strip())


class ScheduleChangeForm(ActionForm):
    title = "Request schedule change"

    def __init__(self, participant_name: str, appointments: Sequence[tuple[str, str]] = (), parent=None,
                 now: datetime | None = None, time_zone: str | None = None) -> None:
        super().__init__(participant_name, parent)
        self.now = now or datetime.now(UTC)
        self.time_zone = time_zone
        self.appointment = self.add_row("Appointment:", QComboBox(self))
        self.appointment.addItem("(new / not tied to an appointment)", None)
        for appointment_id, label in appointments:
            self.appointment.addItem(label, appointment_id)
        later = self.now + timedelta(days=1)
        self.requested = self.add_row(self.time_label("Requested time", later),
                                      _datetime_edit(self, later, "Requested time", time_zone))
        self.reason = self.add_row("Reason:", QPlainTextEdit(self))
        self.reason.setTabChangesFocus(True)

    def build(self) -> p.RequestScheduleChangePayload:
        requested = _utc(self.requested)
        if requested <= self.now:
            raise ValueError("The requested time must be in the future.")
        reason = self.reason.toPlainText().strip()
        if not reason:
            raise ValueError("Give a reason for the schedule change.")
        return p.RequestScheduleChangePayload(
            appointment_id=self.appointment.currentData(), requested_time=requested, reason=reason
        )


class ResolveForm(ActionForm):
    title = "Resolve incident"

    def __init__(self, participant_name: str, summary: str, requires_note: bool, parent=None) -> None:
        super().__init__(participant_name, parent)
        self.requires_note = requires_note
        self.form.addRow(QLabel(f"<b>{summary}</b>", self))
        self.resolution = self.add_row("Resolution:", QComboBox(self))
        for value, label in RESOLUTIONS:
            self.resolution.addItem(label, value)
        label = "Note (required for tamper):" if requires_note else "Note:"
        self.note = self.add_row(label, QPlainTextEdit(self))
        self.note.setTabChangesFocus(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Resolve")

    def build(self) -> p.ResolveAlertPayload:
        note = self.note.toPlainText().strip()
        if self.requires_note and not note:
            raise ValueError(NOTE_REQUIRED_MESSAGE)
        return p.ResolveAlertPayload(resolution=self.resolution.currentData(), note=note)



class TrackWindowForm(ActionForm):
    """The window of a participant's track to fetch and show (Participant -> Track window…); its
    payload is (since, until) as naive UTC, the store's form."""

    title = "Track window"

    def __init__(self, participant_name: str, parent=None, *, since: datetime, until: datetime,
                 time_zone: str | None = None) -> None:
        super().__init__(participant_name, parent)
        self.time_zone = time_zone
        self.since = self.add_row(self.time_label("From", since), _datetime_edit(self, _aware(since), "From", time_zone))
        self.until = self.add_row(self.time_label("To", until), _datetime_edit(self, _aware(until), "To", time_zone))
        self.submit_button.setText("Show track")

    def build(self) -> tuple[datetime, datetime]:  # type: ignore[override]
        since, until = _utc(self.since), _utc(self.until)
        if until <= since:
            raise ValueError("The window must end after it starts.")
        if until - since > timedelta(days=31):
            raise ValueError("The server keeps 31 days of tracks: choose a shorter window.")
        return since.replace(tzinfo=None), until.replace(tzinfo=None)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
