"""File → Change password…: the officer's password changes on the server and on this workstation
together (workstation.security.key_change; audited as key_change). Online only: in an offline session
nothing is changed and the dialog says why.

The server call and the re-wrap (PBKDF2 twice, about half a second, and keys.json) run on a worker;
the dialog stays responsive and shows the outcome in place. Same rules as the CLI command
(workstation/commands/change_password.py).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout

from ui.tasks import run_task
from workstation.commands.change_password import password_problem
from workstation.errors import WrongPassword
from workstation.security.key_change import PasswordChangeNeedsServer, change_store_password
from workstation.security.lockout import AccountLocked
from workstation.sync.errors import RequestRefused


class ChangePasswordDialog(QDialog):
    lockedOut = Signal()  # wrong current passwords locked the workstation (workstation.security.lockout)

    def __init__(self, store, data_dir: Path, parent=None, server=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change password")
        self._store = store
        self._data_dir = Path(data_dir)
        self._server = server  # the session's ServerClient (None or logged out: offline)
        self.changed = False
        self.current = self._password_field("Current password")
        self.new = self._password_field("New password")
        self.again = self._password_field("New password again")
        self.message = QLabel(
            "The password changes on the agency server and on this workstation together (this needs "
            "the server); the new one then unlocks this workstation, also offline.", self)
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Change password message")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Current password", self.current)
        form.addRow("New password", self.new)
        form.addRow("New password again", self.again)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def _password_field(self, name: str) -> QLineEdit:
        field = QLineEdit(self)
        field.setEchoMode(QLineEdit.EchoMode.Password)
        field.setAccessibleName(name)
        return field

    def accept(self) -> None:  # validate, then change on a worker; close only when it worked
        old, new = self.current.text(), self.new.text()
        if new != self.again.text():
            self.message.setText("The two new passwords differ.")
            return
        problem = password_problem(old, new)
        if problem:
            self.message.setText(problem[0].upper() + problem[1:] + ".")
            return
        self.buttons.setEnabled(False)
        self.message.setText("Changing the password…")
        store, data_dir, server = self._store, self._data_dir, self._server
        run_task(
            lambda: change_store_password(store, data_dir, old, new, server), self._done, self._failed, owner=self
        )

    def _done(self, _result) -> None:
        self.changed = True
        for field in (self.current, self.new, self.again):
            field.clear()
        super().accept()

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, AccountLocked):
            # AC-7: too many wrong current passwords; the window is locked at once (the lock screen
            # then refuses every password until the server or an admin code releases it)
            self.lockedOut.emit()
            self.reject()
            return
        self.buttons.setEnabled(True)
        if isinstance(exc, PasswordChangeNeedsServer):
            self.message.setText(
                "The password can only be changed while connected to the agency server. Nothing was changed."
            )
        elif isinstance(exc, WrongPassword) or (isinstance(exc, RequestRefused) and exc.status == 403):
            self.message.setText("The current password is wrong. Nothing was changed.")
            self.current.selectAll()
            self.current.setFocus()
        else:
            self.message.setText(f"The password was not changed: {exc}")
