"""Suite-wide test setup.

Qt runs offscreen; the Chromium sandbox is disabled only here (CI runs as root), never in the app.
Shared fixtures live in tests/fixtures/ (one module per concern) and are registered below.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

pytest_plugins = [
    "tests.fixtures.store",
    "tests.fixtures.server",
    "tests.fixtures.hygiene",
]
