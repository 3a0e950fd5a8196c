"""Find where the quoted history of a reply starts, so the case timeline shows what is new.

Mail clients mark the history in their own ways: an attribution line ("Op … schreef …:",
"On … wrote:"), Outlook's header block ("Van: / Verzonden: / Aan: / Onderwerp:"), a
separator ("-----Oorspronkelijk bericht-----"), or plain '>' lines. Forwards introduced by
Gmail, Thunderbird or Apple Mail ("---------- Doorgestuurd bericht ---------") are *not*
cut: there the forwarded mail is usually the very thing the sender wants us to read.
(Outlook writes a forward exactly like a reply, so an Outlook forward is cut.)
"""

from __future__ import annotations

import re

# Invisible characters Outlook and web mailers put in text; they break anchored patterns.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = dict.fromkeys(map(ord, "\u00a0\u202f\u2007\u2009"), " ")

# Attribution lines, one per client family; each may wrap over two lines, which we join.
#   Gmail (nl):  "Op di 24 nov. 2026 om 10:15 schreef Jan <jan@x.be>:"
#   Apple (nl):  "Op 24 nov. 2026, om 10:15 heeft Jan <jan@x.be> het volgende geschreven:"
#   Thunderbird: "Op 24-11-2026 om 10:15 schreef Jan Peeters:"
#   English:     "On Tue, Nov 24, 2026 at 10:15 AM Jan <jan@x.be> wrote:"
#   French:      "Le mar. 24 nov. 2026 à 10:15, Jan <jan@x.be> a écrit :"
#   German:      "Am 24.11.2026 um 10:15 schrieb Jan <jan@x.be>:"
# Every client writes the time ("10:15"); requiring it keeps prose such as "Op 3 maart
# schreef de dienst me:" from being taken for an attribution.
_ATTRIBUTION = re.compile(
    r"^(?:op|on|le|am)\s(?=[^\n]*\d{1,2}:\d{2})[^\n]{0,250}?"
    r"(?:\bschreef\b|\bgeschreven\b|\bwrote\b|\ba\s+écrit\b|\bschrieb\b)[^\n]{0,200}?:$",
    re.IGNORECASE,
)
# Name first, as Thunderbird and some web mailers write it in some locales:
#   "Burger schreef op 12-01-2026 om 10:15:", "Jan <jan@x.be> wrote on 24/11/2026 10:15:"
_NAME_FIRST_ATTRIBUTION = re.compile(
    r"^[^\n]{1,200}?\s(?:schreef|wrote|schrieb|a\s+écrit)\s+(?:op|on|am|le)\s"
    r"(?=[^\n]*\d{1,2}:\d{2})[^\n]{0,200}?:$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^-{2,}\s*(?:oorspronkelijk\s+bericht|original\s+message|origineel\s+bericht|"
    r"message\s+d'origine|ursprüngliche\s+nachricht)\s*-{2,}$",
    re.IGNORECASE,
)
# Forwards: Gmail and Thunderbird draw a marker line, Apple Mail writes a sentence.
_FORWARD = re.compile(
    r"^(?:-{3,}\s*(?:forwarded\s+message|doorgestuurd\s+bericht|message\s+transféré|"
    r"weitergeleitete\s+nachricht)\s*-{3,}|begin\s+(?:forwarded\s+message|doorgestuurd\s+bericht)\s*:)$",
    re.IGNORECASE,
)
# Outlook draws a line before its header block: underscores in plain text, an <hr> that
# html2text renders as "* * *" or "---".
_RULE = re.compile(r"^(?:_{10,}|(?:\*\s*){3,}|-{3,})$")

_FROM = r"(?:van|from|de|von)"
_SENT = r"(?:verzonden|sent|datum|date|envoyé|gesendet)"
_TO = r"(?:aan|to|à|an)"
_SUBJECT = r"(?:onderwerp|subject|objet|betreff)"
_CC = r"(?:cc|bcc)"


def _label(names: str) -> re.Pattern[str]:
    # "Van: x", "**Van:** x", "Van : x" (html2text may keep the bold markers).
    return re.compile(rf"^[*_]{{0,2}}{names}\s*[*_]{{0,2}}\s*:", re.IGNORECASE)


_FROM_LABEL = _label(_FROM)
_SENT_LABEL = _label(_SENT)
_TO_LABEL = _label(_TO)
_SUBJECT_LABEL = _label(_SUBJECT)
_CC_LABEL = _label(_CC)
# The whole block on one line, as when an HTML header block loses its line breaks.
_ONE_LINE_BLOCK = re.compile(
    rf"^[*_]{{0,2}}{_FROM}\s*[*_]{{0,2}}\s*:.+?\b{_SENT}\s*[*_]{{0,2}}\s*:.+?\b{_TO}\s*[*_]{{0,2}}\s*:",
    re.IGNORECASE,
)
_HEADER_WINDOW = 6  # lines after "Van:" in which the other header lines must appear
# Most lines of a mail are prose: the first character rules each pattern out at once
# (none of these letters has another case-insensitive match in Unicode).
_FROM_STARTS = frozenset("*_vVfFdD")  # _FROM_LABEL, _ONE_LINE_BLOCK
_RULE_STARTS = frozenset("_*-")  # _RULE
_MARKER_STARTS = frozenset("-bB")  # _FORWARD
_WRAPPED_ATTRIBUTION = re.compile(r"^(?:op|on|le|am)\s", re.IGNORECASE)


def _clean(line: str) -> str:
    if line.isascii():  # most lines: nothing to translate (both tables are non-ASCII)
        return line.strip()
    return line.translate(_INVISIBLE).translate(_SPACES).strip()


def _is_attribution(lines: list[str], i: int) -> bool:
    line = lines[i]
    # both patterns end the line with ':' (a test that spares most lines their regexes)
    if line.endswith(":") and (_ATTRIBUTION.match(line) or _NAME_FIRST_ATTRIBUTION.match(line)):
        return True
    if i + 1 < len(lines) and _WRAPPED_ATTRIBUTION.match(line):
        joined = f"{line} {lines[i + 1]}"
        return joined.endswith(":") and _ATTRIBUTION.match(joined) is not None
    return False


def _is_header_block(lines: list[str], i: int) -> bool:
    """Outlook's "Van: … / Verzonden: … / Aan: … / Onderwerp: …" starting at line i."""
    first = lines[i]
    if first[:1] not in _FROM_STARTS:
        return False
    if _ONE_LINE_BLOCK.match(first):
        return True
    if not _FROM_LABEL.match(first):
        return False
    found = {"sent": False, "to": False, "subject": False}
    for line in lines[i + 1 : i + 1 + _HEADER_WINDOW]:
        if not line:
            continue
        if _SENT_LABEL.match(line):
            found["sent"] = True
        elif _TO_LABEL.match(line):
            found["to"] = True
        elif _SUBJECT_LABEL.match(line):
            found["subject"] = True
        elif not _CC_LABEL.match(line):
            break  # the block is contiguous; anything else ends it
    # Two of the three: a coordinator's own "Van: …" line in prose stays untouched.
    return sum(found.values()) >= 2


def _is_rule_before_header(lines: list[str], i: int) -> bool:
    line = lines[i]
    if line[:1] not in _RULE_STARTS or not _RULE.match(line):
        return False
    following = [j for j in range(i + 1, min(len(lines), i + 4)) if lines[j]]
    return bool(following) and _is_header_block(lines, following[0])


def _trailing_quote_start(lines: list[str]) -> int | None:
    """Start of the run of '>' lines (blank lines allowed) that ends the text."""
    start: int | None = None
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if not line:
            continue
        if not line.startswith(">"):
            break
        start = i
    return start


def history_start(lines: list[str], *, forwards: bool = False) -> int | None:
    """Index of the first line of quoted history; None when there is none.

    A forwarded mail is content, not history: scanning stops at a forward marker and
    what follows is kept, unless forwards=True, when the marker starts the history.
    """
    clean = [_clean(raw) for raw in lines]  # what the helpers below read
    for i, line in enumerate(clean):
        if not line:
            continue
        if line[0] in _MARKER_STARTS and _FORWARD.match(line):
            return i if forwards else None
        if (
            (line[0] == "-" and _SEPARATOR.match(line))
            or _is_rule_before_header(clean, i)
            or _is_header_block(clean, i)
            or _is_attribution(clean, i)
        ):
            return i
    return _trailing_quote_start(clean)


def split_quoted(text: str, *, forwards: bool = False) -> tuple[str, str]:
    """(new text, quoted history); head + tail == text, line endings included.

    forwards=True also cuts at a forward marker: for reading commands, where nothing
    below the coordinator's own words may count.
    """
    lines = text.splitlines(keepends=True)
    start = history_start(lines, forwards=forwards)
    if start is None:
        return text, ""
    return "".join(lines[:start]), "".join(lines[start:])


def trim_quoted(text: str) -> str:
    """The text without the quoted history of the reply, trailing blank space removed.

    When nothing but a quote is left (a bare forward, a reply with no new words) the text
    is returned unchanged: showing the history beats showing nothing.
    """
    head, tail = split_quoted(text)
    if not tail or not head.strip():
        return text
    return head.rstrip()


def first_lines(text: str, n: int) -> str:
    """The first n non-blank lines, for previews in notices and listings.

    Blank lines are skipped so that a preview is dense; no ellipsis is added, the caller
    knows whether it wants one.
    """
    if n <= 0:
        return ""
    picked: list[str] = []
    for line in text.splitlines():
        if line.strip():
            picked.append(line.rstrip())
            if len(picked) == n:
                break
    return "\n".join(picked)
