"""The caseload search, one meaning for the window's search box and `workstation caseload --search`.

A participant matches when every word typed occurs somewhere in their searchable text, ignoring
case and accents ("negron" finds "Negrón", "GONZALEZ" finds "González"). The searchable text holds
the name both ways round, as the caseload lists it ("Nelson, Rebecca") and as it is said ("Rebecca
Nelson"), the case number, the address, and the phone as shown and as digits only ("3125550123"
finds "(312) 555-0123"). Commas in what is typed separate words like spaces, so a name copied from
the caseload ("Nelson, Rebecca") finds its row.

The text is folded once per row (search_text) and once per keystroke (search_words); the per-row
test is plain substring search, which keeps a keystroke over 100,000 rows within the filter
benchmark's figures (`python -m bench ui`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

_DIGITS = re.compile(r"\D+")


class Searchable(Protocol):
    # read-only: frozen rows (CaseloadRow) qualify
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def case_number(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def phone(self) -> str: ...


Row = TypeVar("Row", bound=Searchable)


def fold(text: str) -> str:
    """Case- and accent-insensitive form of `text` ("Negrón" -> "negron")."""
    folded = text.casefold()
    if folded.isascii():
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def search_text(row: Searchable) -> str:
    """What a row is searched by, folded (see the module docstring)."""
    phone = row.phone or ""
    return fold(
        f"{row.last_name}, {row.first_name} {row.first_name} {row.last_name} {row.case_number} "
        f"{row.address or ''} {phone} {_DIGITS.sub('', phone)}"
    )


def search_words(text: str) -> list[str]:
    """What the officer typed, as folded words; commas separate words like spaces."""
    return fold(text).replace(",", " ").split()


def matcher(text: str) -> Callable[[str], bool] | None:
    """A test on search_text() values for `text`; None when there is nothing to search for."""
    words = search_words(text)
    if not words:
        return None
    if len(words) == 1:
        (word,) = words
        return lambda haystack: word in haystack
    return lambda haystack: all(word in haystack for word in words)


def row_matcher(haystacks: Sequence[str], text: str) -> Callable[[int], bool] | None:
    """matcher() over a list of search_text() values by row index: the window's filter calls it for
    every row on every keystroke, so it tests the words directly instead of through a second call
    (about a tenth of the keystroke's CPU time at 100,000 rows)."""
    words = search_words(text)
    if not words:
        return None
    if len(words) == 1:
        (word,) = words
        return lambda i: word in haystacks[i]
    return lambda i: all(word in haystacks[i] for word in words)


def search_rows(rows: Iterable[Row], text: str) -> list[Row]:
    """The rows matching `text`, in their order."""
    test = matcher(text)
    rows = list(rows)
    return rows if test is None else [row for row in rows if test(search_text(row))]
