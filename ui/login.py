"""The login dialog: the system-use notification first, then the credentials.

CJIS / NIST AC-8: the officer must acknowledge the system-use banner before they can type a
password, so the password field and the button stay disabled until "I acknowledge" is checked.
The server URL and username are remembered (QSettings, plain values; never the password). The
login itself (key derivation, server round trip) runs on a worker; failures come back as
officer-readable sentences: wrong password, server unreachable, account locked. When the server says
the account needs a one-time code (MFA), a code field appears and the next sign-in sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QTextBrowser,
    QVBoxLayout,
)

from ui import theme
from ui.tasks import run_task

SYSTEM_USE_BANNER = (
    "<p><b>RESTRICTED SYSTEM — AUTHORIZED USE ONLY</b></p>"
    "<p>You are accessing a government information system that holds criminal-justice and "
    "immigration information. Use of this system is <b>monitored, recorded and audited</b>. "
    "Unauthorized use is <b>prohibited</b> and may result in disciplinary action and criminal and "
    "civil penalties. By using this system you <b>consent</b> to this monitoring and recording.</p>"
)


def describe_login_error(exc: BaseException, server_url: str) -> str:
    """Exception from the login -> the sentence the officer reads."""
    from workstation.errors import (
        AccountLocked,
        AuthRequired,
        MfaRequired,
        ServerUnreachable,
        StoreCorrupt,
        WorkstationWiped,
        WrongPassword,
    )

    if isinstance(exc, WrongPassword):
        return "Wrong password for this workstation. Check Caps Lock and try again."
    if isinstance(exc, MfaRequired):
        if exc.invalid:
            return "That one-time code was wrong or already used. Enter the current code from your authenticator."
        return "This account needs a one-time code: enter the code your authenticator app shows now."
    if isinstance(exc, AuthRequired):
        return "The server refused this username or password."
    if isinstance(exc, ServerUnreachable):
        return (f"Cannot reach the server at {server_url}. The first sign-in on this computer needs "
                "the server; later sign-ins work offline.")
    if isinstance(exc, AccountLocked | WorkstationWiped | StoreCorrupt):
        return str(exc)
    name = type(exc).__name__
    if name == "OfficerMismatch":
        return str(exc)
    return f"Sign-in failed: {exc}"


class LoginDialog(QDialog):
    """`login_fn(server_url, username, password)` runs on a worker and returns the session; once the
    server asked for a one-time code it is called with `one_time_code=` as well."""

    loggedIn = Signal(object)

    def __init__(self, login_fn: Callable[[str, str, str], Any], settings: QSettings | None = None,
                 parent=None, banner_note: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Field Workstation — Sign in")
        self.setMinimumWidth(520)
        self.login_fn = login_fn
        self.settings = settings
        self.session: Any = None
        self.banner = QTextBrowser(self)
        self.banner.setAccessibleName("System use notification")
        self.banner.setHtml(SYSTEM_USE_BANNER + (f"<p>{banner_note}</p>" if banner_note else ""))
        self.banner.setMaximumHeight(170)
        self.acknowledge = QCheckBox("I have read and acknowledge this notice", self)
        self.acknowledge.setAccessibleName("Acknowledge the system use notification")
        self.server = QLineEdit(self)
        self.server.setAccessibleName("Server URL")
        self.server.setPlaceholderText("https://monitoring.agency.example")
        self.username = QLineEdit(self)
        self.username.setAccessibleName("Username")
        self.password = QLineEdit(self)
        self.password.setAccessibleName("Password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.code = QLineEdit(self)
        self.code.setAccessibleName("One-time code")
        self.code.setPlaceholderText("6 digits from your authenticator app")
        self.code.setMaxLength(10)
        self.message = QLabel(self)
        self.message.setAccessibleName("Sign-in message")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.sign_in = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.sign_in.setText("Sign in")
        self.sign_in.setAccessibleName("Sign in")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        self.acknowledge.toggled.connect(self._update_enabled)
        for field in (self.server, self.username, self.password, self.code):
            field.textChanged.connect(self._update_enabled)
        form = QFormLayout()
        form.addRow("Server:", self.server)
        form.addRow("Username:", self.username)
        form.addRow("Password:", self.password)
        form.addRow("One-time code:", self.code)
        self._form = form
        form.setRowVisible(self.code, False)  # until the server asks for one
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.acknowledge)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        if settings is not None:
            self.server.setText(str(settings.value("login/server", "") or ""))
            self.username.setText(str(settings.value("login/username", "") or ""))
        self._busy = False
        self._update_enabled()
        self.acknowledge.setFocus(Qt.FocusReason.OtherFocusReason)

    def _update_enabled(self, *_args) -> None:
        ack = self.acknowledge.isChecked()
        for field in (self.server, self.username, self.password, self.code):
            field.setEnabled(ack and not self._busy)
        ready = ack and bool(self.username.text().strip()) and bool(self.password.text()) and not self._busy
        if self.code_asked:
            ready = ready and bool(self.code.text().strip())
        self.sign_in.setEnabled(ready)
        if (ack and not self._busy and self.password.isEnabled() and not self.password.hasFocus()
                and not self.code.hasFocus() and self.username.text()):
            self.password.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_message(self, text: str, error: bool = True) -> None:
        colour = theme.semantic().danger if error else theme.semantic().muted
        self.message.setStyleSheet(f"color: {colour}")
        self.message.setText(text)

    def submit(self) -> None:
        if not self.acknowledge.isChecked():
            self.show_message("Acknowledge the system use notice first.")
            return
        if not self.sign_in.isEnabled():
            self.show_message("Enter your username and password.")
            return
        url, user, password = self.server.text().strip(), self.username.text().strip(), self.password.text()
        extra = {"one_time_code": self.code.text().strip()} if self.code_asked else {}
        self._busy = True
        self._update_enabled()
        self.show_message("Signing in…", error=False)
        run_task(lambda: self.login_fn(url, user, password, **extra), lambda s: self._done(s, url, user),
                 lambda exc: self._failed(exc, url), owner=self)

    @property
    def code_asked(self) -> bool:
        return self._form.isRowVisible(self.code)

    def _done(self, session: Any, url: str, user: str) -> None:
        self._busy = False
        self.password.clear()
        if self.settings is not None:
            self.settings.setValue("login/server", url)
            self.settings.setValue("login/username", user)
            self.settings.sync()
        self.session = session
        self.loggedIn.emit(session)
        self.accept()

    def _failed(self, exc: BaseException, url: str) -> None:
        from workstation.errors import MfaRequired

        self._busy = False
        self.code.clear()
        if isinstance(exc, MfaRequired):
            # the password was right: keep it, ask for the code
            self._form.setRowVisible(self.code, True)
            self._update_enabled()
            self.show_message(describe_login_error(exc, url), error=exc.invalid)  # a prompt, unless wrong
            self.code.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        self.password.clear()
        self._update_enabled()
        self.show_message(describe_login_error(exc, url))
        self.password.setFocus(Qt.FocusReason.OtherFocusReason)
