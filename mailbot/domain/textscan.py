"""Cheap tests that let a slow regular expression be skipped when it cannot match.

Python's `re` steps through a text one position at a time when a pattern starts with a
lookbehind or an alternation of many words (the keyword lists of triage, the month
names of old facts): about 40 ns a character, a quarter of a millisecond for an ordinary
complaint, per pattern. A substring test (`in`) runs in C at memory speed. So a pattern
is run only when every literal word it needs is in the text, compared the way `re`
compares with IGNORECASE: then skipping it never changes a result.
"""

from __future__ import annotations

# Characters that `re` with IGNORECASE matches to an ASCII letter although str.lower()
# does not lower them to it (found by trying every code point; tests/test_textscan.py).
_ASCII_EQUIVALENTS = str.maketrans({"İ": "i", "ı": "i", "ſ": "s"})


def fold(text: str) -> str:
    """The text lowered for `may_contain`."""
    if not text.isascii():
        text = text.translate(_ASCII_EQUIVALENTS)
    return text.lower()


def may_contain(folded: str, literal: str) -> bool:
    """Whether `literal` (an ASCII word, lowered) can occur in the text that `folded` is
    `fold` of, case-insensitively as `re` sees it. A literal with other characters is
    always possible: the test only ever answers "certainly not" when that is true."""
    return not literal.isascii() or literal in folded
