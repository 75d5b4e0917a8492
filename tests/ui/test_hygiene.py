"""The hygiene fixture must actually fail leaking tests (run in a child pytest, since a failing
teardown in this process would fail this test)."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

LEAKY = textwrap.dedent(
    """
    import threading, time
    from PySide6.QtCore import QTimer, QThread

    def test_timer(qapp):
        global timer
        timer = QTimer()
        timer.start(1000)

    def test_python_thread():
        threading.Thread(target=time.sleep, args=(2,), name="sleeper", daemon=False).start()

    class Loop(QThread):
        def run(self):
            self.exec()

    def test_qthread(qapp):
        global loop
        loop = Loop()
        loop.start()

    def test_clean(qapp):
        t = QTimer()
        t.start(1000)
        t.stop()
        th = threading.Thread(target=time.sleep, args=(0.1,))
        th.start()
    """
)


def test_leaks_fail_and_clean_test_passes(tmp_path):
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    env_py = "import os; os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')"
    (tmp_path / "conftest.py").write_text(env_py + "\nimport tests.fixtures.hygiene as h\nh.GRACE_S = 0.5\npytest_plugins = ['tests.fixtures.hygiene']\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "qt_api=pyside6",
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    out = proc.stdout
    assert "QTimer still active" in out, out
    assert "non-daemon Python thread still running: sleeper" in out, out
    assert "QThread still running" in out, out
    assert "4 passed" in out and "3 errors" in out, out
