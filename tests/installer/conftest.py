"""tests/installer: installer/ is not a package (PyInstaller runs its spec as a script), so its
standard-library-only manifest module is put on sys.path here."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installer"
if str(INSTALLER) not in sys.path:
    sys.path.insert(0, str(INSTALLER))
