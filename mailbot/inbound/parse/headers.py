"""Reading header values that are more than text: Message-IDs and the Date."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

# RFC 5322 §3.6: these fields may occur at most once.
SINGLE_FIELDS = frozenset(
    "date from sender reply-to to cc bcc message-id in-reply-to references subject".split()
)
_MSG_ID = re.compile(r"<([^<>\s]+)>")


def message_ids(value: str) -> tuple[str, ...]:
    """Ids without angle brackets; bare tokens are accepted when no <id> is present."""
    ids = _MSG_ID.findall(value)
    if not ids:
        ids = [token.strip("<>,;") for token in value.split()]
    return tuple(dict.fromkeys(i for i in ids if i))


def read_date(parser: Any, raw_value: str | None, defects: list[str]) -> datetime | None:
    if raw_value is None:
        defects.append("missing Date header")
        return None
    parsed = parser.date if parser is not None else None
    try:
        if isinstance(parsed, datetime) and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        value = parsedate_to_datetime(raw_value)
        if value.tzinfo is None:
            # RFC 5322 §3.3: "-0000" and a missing zone both say nothing about local time.
            defects.append("Date header without time zone: read as UTC")
            value = value.replace(tzinfo=UTC)
        # 31 Dec 9999 23:59:59 -1200 is a valid date whose UTC is beyond the calendar
        return value.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("unparsable Date header")
        return None


def synthetic_id(raw: bytes) -> str:
    return f"{hashlib.sha256(raw).hexdigest()[:32]}@mailbot.invalid"
