"""Case references (KL-2026-0042): format, parse and find them in subjects."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Reply and forward prefixes of the mail clients our citizens use (Dutch, English, French,
# German): "Re:", "Antw:", "Fwd:", "Doorst:", "TR:", "AW:", "WG:", "RE[2]:" ...
_PREFIX = re.compile(
    r"^\s*(?:(?:re|antw|antwoord|aw|sv|fw|fwd|doorst|tr|wg|rv|r)(?:\s*\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)


@dataclass(frozen=True, order=True)
class Reference:
    prefix: str
    year: int
    number: int

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year}-{self.number:04d}"


def reference_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}-(\d{{4}})-(\d{{4,}})(?!\d)", re.I)


def parse_reference(text: str, prefix: str) -> Reference | None:
    """The reference written exactly as ours, e.g. 'KL-2026-0042'; None otherwise."""
    match = reference_pattern(prefix).fullmatch(text.strip())
    if match is None:
        return None
    return Reference(prefix, int(match.group(1)), int(match.group(2)))


def find_references(subject: str, prefix: str) -> list[Reference]:
    """Every reference in a subject, in order of appearance, without duplicates."""
    found: list[Reference] = []
    for match in reference_pattern(prefix).finditer(subject):
        ref = Reference(prefix, int(match.group(1)), int(match.group(2)))
        if ref not in found:
            found.append(ref)
    return found


def strip_reply_prefixes(subject: str) -> str:
    """'Re: AW: Fwd: klacht' -> 'klacht'."""
    return _PREFIX.sub("", subject).strip()


def quoted_receipt_references(body: str, prefix: str) -> list[Reference]:
    """References a mail quotes from our own receipt ("Je dossiernummer is KL-2026-0042",
    or the receipt's subject "[KL-2026-0042]"): an autoresponder that answers with a new
    subject, from a new address and without threading headers still names its case."""
    pattern = reference_pattern(prefix).pattern
    quoted = re.compile(rf"dossiernummer(?:\s+is)?\s+(?:{pattern})|\[(?:{pattern})\]", re.I)
    found: list[Reference] = []
    for match in quoted.finditer(body):
        year, number = match.group(1) or match.group(3), match.group(2) or match.group(4)
        ref = Reference(prefix, int(year), int(number))
        if ref not in found:
            found.append(ref)
    return found
