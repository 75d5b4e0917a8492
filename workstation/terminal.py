"""What the headless commands write to a terminal: text from the server (names, addresses,
reasons) with control characters removed, so an escape sequence in a participant's name cannot
retitle, recolour or rewrite the officer's terminal (OSC, CSI, carriage returns, bidi overrides)."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import TextIO

#: C0 controls except tab and newline, DEL, C1 controls, and the bidi embedding/override/isolate marks
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    return _UNSAFE.sub("", text)


class ControlStripping:
    """A text stream that forwards everything but control characters to `inner`."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(strip_controls(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    @property
    def encoding(self) -> str:
        return self.inner.encoding


@contextlib.contextmanager
def safe_output() -> Iterator[None]:
    """Within: sys.stdout and sys.stderr strip control characters."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = ControlStripping(out), ControlStripping(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
