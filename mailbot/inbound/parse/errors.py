"""The one error the parser raises: the bytes are not a mail at all."""

from __future__ import annotations


class ParseError(Exception):
    """The bytes are not a mail message. ``str(exc)`` is the reason, in English."""
