"""What of a stranger's words an official mail may repeat.

A receipt repeats the subject and the sender's name, and goes to whatever address a mail
claims to come from: an attacker can make the municipality send its official receipt
with "Uw betaling is mislukt: ga naar http://evil..." in it to anyone. So links, mail
addresses and angle brackets never pass into a receipt: they are replaced by a plain
marker, and the text is cut to a sensible length. The case itself keeps the original.
"""

from __future__ import annotations

import re

_URL = re.compile(
    r"(?:\b[a-z][a-z0-9+.-]{1,15}:)?//[^\s<>\"']+|\bwww\d?\.[^\s<>\"']+"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|net|org|info|biz|io|ru|cn|be|nl|eu|xyz|top|link|click|example)"
    r"(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"[^\s<>\"'@,;:()]+@[^\s<>\"'@,;:()]+")
_SPACE = re.compile(r"\s+")
LINK = "[link]"
ADDRESS = "[adres]"
MAX_ECHO = 150


def safe_echo(text: str, limit: int = MAX_ECHO) -> str:
    """The text without links, addresses, brackets or line breaks, at most `limit` long."""
    text = _ADDRESS.sub(ADDRESS, text)
    text = _URL.sub(LINK, text)
    text = _SPACE.sub(" ", text.replace("<", " ").replace(">", " ")).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
