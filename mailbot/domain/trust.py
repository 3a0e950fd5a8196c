"""Whether a staff mail really comes from staff (RFC 8601 Authentication-Results).

Anyone can write any From. Only the receiving server knows whether the sender proved it:
it records DKIM / SPF / DMARC results in an Authentication-Results header that starts with
its own name (the authserv-id). We read only headers from servers the operator named, and
accept DMARC pass for the From domain, or DKIM pass with a signature by the From domain.
SPF alone proves only the envelope sender, not the From a person sees, so it is not enough
(RFC 7489 section 3.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_RESULT = re.compile(r"\b(dkim|dmarc|spf)\s*=\s*([a-z]+)([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"\b(header\.d|header\.i|header\.from|smtp\.mailfrom)\s*=\s*([^\s;]+)", re.I)
_COMMENT = re.compile(r"\([^()]*\)")


def _domain(value: str) -> str:
    return value.strip().strip('"<>').rpartition("@")[2].lower().rstrip(".")


def verified_sender(
    from_address: str, headers: Iterable[str], trusted_authserv_ids: Iterable[str]
) -> str | None:
    """The evidence (e.g. "dmarc=pass (mx.gemeente.example)") when a trusted server vouches
    for the From address's domain; None otherwise."""
    trusted = {t.lower() for t in trusted_authserv_ids}
    domain = _domain(from_address)
    if not trusted or not domain:
        return None
    for header in headers:
        text = _COMMENT.sub("", header)
        authserv, _sep, rest = text.partition(";")
        authserv_id = authserv.strip().split()[0].lower() if authserv.strip() else ""
        if authserv_id not in trusted:
            continue
        for method_result in rest.split(";"):
            match = _RESULT.search(method_result)
            if match is None:
                continue
            method, result, props = match.group(1).lower(), match.group(2).lower(), match.group(3)
            if result != "pass":
                continue
            values = {k.lower(): _domain(v) for k, v in _PROPERTY.findall(props)}
            if method == "dmarc" and values.get("header.from", domain) == domain:
                return f"dmarc=pass ({authserv_id})"
            if method == "dkim" and domain in (values.get("header.d"), values.get("header.i")):
                return f"dkim=pass header.d={domain} ({authserv_id})"
    return None
