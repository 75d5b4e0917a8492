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

# Property-based tests explore a fixed sequence of examples, so a green run on a developer's
# machine is the same run CI does (set HYPOTHESIS_PROFILE=explore to draw new examples locally).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
_hypothesis_settings.register_profile("explore", derandomize=False)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

# QtWebEngine only honours a custom scheme registered before the QApplication exists (the app does
# it first thing in ui.launcher); register it here so any test module may open a map page.
from maps.scheme import register_app_scheme  # noqa: E402

register_app_scheme()
