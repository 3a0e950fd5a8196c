"""Whether a staff mail really comes from staff (RFC 8601 Authentication-Results).

Anyone can write any From, and anyone can write an Authentication-Results header too. Only
the headers our own receiving server added count: RFC 8601 section 5 has a receiving server
put its results above the Received header it adds itself, so a header below that line
came with the mail and proves nothing. The rules, in order:

1. The From field is one field with one address; anything else is refused (an encoded
   word can hide a second address behind a display name).
2. Only Authentication-Results headers whose authserv-id the operator named, and only those
   above the receiving server's own Received header: the lowest Received whose "by" names
   a trusted server, else the topmost Received. A mail with no Received header at all never
   crossed a server: then only the headers at the very top count.
3. A `dmarc=fail` (or any other non-pass DMARC result) for the From domain there wins over
   any pass.
4. `dmarc=pass` counts when its `header.from` is exactly the From domain; `dkim=pass` when
   its `header.d` is (`header.i` only when there is no `header.d`). SPF alone proves only the
   envelope sender, not the From a person sees (RFC 7489 section 3.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from email.utils import getaddresses

_RESULT = re.compile(r"\b(dkim|dmarc|spf)\s*=\s*([a-z]+)([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"\b(header\.d|header\.i|header\.from|smtp\.mailfrom)\s*=\s*([^\s;]+)", re.I)
_COMMENT = re.compile(r"\([^()]*\)")
_BY = re.compile(r"\bby\s+([^\s;()]+)", re.IGNORECASE)
_NEUTRAL_DMARC = {"pass", "none"}

Headers = Sequence[tuple[str, str]]


def _domain(value: str) -> str:
    return value.strip().strip('"<>').rpartition("@")[2].lower().rstrip(".")


def single_from(headers: Headers) -> bool:
    """Exactly one From field naming exactly one address."""
    values = [v for k, v in headers if k.lower() == "from"]
    if len(values) != 1:
        return False
    addresses = [a for _name, a in getaddresses(values) if "@" in a]
    return len(addresses) == 1 and values[0].count("@") == 1


def receiving_server_results(headers: Headers, trusted: set[str]) -> list[tuple[str, str]]:
    """(authserv-id, rest) of the trusted Authentication-Results headers our receiving
    server added: above its own Received header (RFC 8601 section 5)."""
    names = [k.lower() for k, _v in headers]
    received = [i for i, n in enumerate(names) if n == "received"]
    ours = [i for i in received if _received_by(headers[i][1]) in trusted]
    if ours:
        boundary = max(ours)
    elif received:
        boundary = received[0]
    else:  # no server in between: only the block at the very top
        boundary = next((i for i, n in enumerate(names) if n != "authentication-results"), 0)
    found: list[tuple[str, str]] = []
    for name, value in headers[:boundary]:
        if name.lower() != "authentication-results":
            continue
        authserv, _sep, rest = _COMMENT.sub("", value).partition(";")
        words = authserv.split()
        if words and words[0].lower() in trusted:
            found.append((words[0].lower(), rest))
    return found


def _received_by(value: str) -> str:
    match = _BY.search(_COMMENT.sub("", value))
    return match.group(1).lower().rstrip(".") if match else ""


def _results(rest: str) -> Iterable[tuple[str, str, dict[str, str]]]:
    for method_result in rest.split(";"):
        match = _RESULT.search(method_result)
        if match is not None:
            props = {k.lower(): _domain(v) for k, v in _PROPERTY.findall(match.group(3))}
            yield match.group(1).lower(), match.group(2).lower(), props


def verified_sender(
    from_address: str, headers: Headers, trusted_authserv_ids: Iterable[str]
) -> str | None:
    """The evidence (e.g. "dmarc=pass (mx.gemeente.example)") when our receiving server
    vouches for the From address's domain; None otherwise. See the module docstring."""
    trusted = {t.lower() for t in trusted_authserv_ids}
    domain = _domain(from_address)
    if not trusted or not domain or not single_from(headers):
        return None
    evidence: str | None = None
    for authserv_id, rest in receiving_server_results(headers, trusted):
        for method, result, props in _results(rest):
            if method == "dmarc" and props.get("header.from", domain) == domain:
                if result not in _NEUTRAL_DMARC:
                    return None  # a failure for our domain wins over any pass
                if result == "pass" and props.get("header.from") == domain:
                    evidence = evidence or f"dmarc=pass ({authserv_id})"
            elif method == "dkim" and result == "pass":
                signer = props.get("header.d") or props.get("header.i")
                if signer == domain:
                    evidence = evidence or f"dkim=pass header.d={domain} ({authserv_id})"
    return evidence
