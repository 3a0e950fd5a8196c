"""Address fields: mail-parser's reading where it is sure, a forgiving one of our own
where it is not (unclosed "<", groups, quoted encoded-words, "mailto:")."""

from __future__ import annotations

import re
from typing import Any

from mailbot.domain.model import Address, AddressIssue, AddressNote
from mailbot.inbound.parse.charset import FOLD, decode_words, fix_c1, unsurrogate

_QUOTED_PAIR = re.compile(r"\\(.)")  # RFC 5322 §3.2.1
# RFC 5322 §3.4.1: a local part that is a quoted-string, then "@" and the domain.
_QUOTED_LOCAL = re.compile(r'"((?:[^"\\\r\n]|\\.)*)"@([^\s@"<>()\[\],;:]+)')
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\",;:]+@[^\s<>()\[\]\",;:]+")
# mail-parser's reading of the address fields, keyed by the lowercased field name.
MP_ADDRESS_ATTRS = {"from": "from_", "to": "to", "cc": "cc", "reply-to": "reply_to"}
_FIELD_NAMES = {"from": "From", "to": "To", "cc": "Cc", "reply-to": "Reply-To"}


def _split_mailboxes(text: str) -> list[str]:
    """Split an address list on top-level commas, tolerating an unclosed "<"."""
    items: list[str] = []
    buf: list[str] = []
    quote = escape = angle = False
    paren = 0
    for ch in text:
        if escape:
            escape = False
        elif ch == "\\" and (quote or paren):
            escape = True
        elif quote:
            quote = ch != '"'
        elif paren:
            paren += {"(": 1, ")": -1}.get(ch, 0)
        elif ch == '"':
            quote = True
        elif ch == "(":
            paren = 1
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch in ",;" and (not angle or "@" in "".join(buf)):
            # A comma inside "<...@" means the ">" was never written: end the mailbox.
            items.append("".join(buf))
            buf = []
            angle = False
            continue
        elif ch == ":" and not angle:
            buf = []  # RFC 5322 §3.4 group: drop the display name of the group
            continue
        buf.append(ch)
    items.append("".join(buf))
    return [item for item in (i.strip() for i in items) if item]


def _clean_name(name: str, where: str, defects: list[str]) -> str:
    name = name.strip()
    if name.startswith("(") and name.endswith(")"):
        name = name[1:-1]
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = _QUOTED_PAIR.sub(r"\1", name[1:-1])
    name = name.replace('"', "")
    # Quoted encoded-words are not valid RFC 2047, but many clients write them.
    name = fix_c1(decode_words(name, where, defects))
    return " ".join(name.replace("\x00", "").split())


def _quoted_address(match: re.Match[str]) -> str | None:
    """RFC 5321 §4.1.2: a quoted local part; unquoted when it needs no quotes."""
    content = _QUOTED_PAIR.sub(r"\1", match.group(1))
    domain = match.group(2).rstrip(".").lower()
    if not domain or not content.isprintable():
        return None
    if _DOT_ATOM.fullmatch(content):
        return f"{content}@{domain}".lower()
    escaped = content.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"@{domain}'.lower()


def _clean_email(addr: str) -> str | None:
    addr = addr.strip().strip("<>").strip()
    quoted = _QUOTED_LOCAL.fullmatch(addr)
    if quoted is not None:
        return _quoted_address(quoted)
    addr = addr.strip("\"'<>").strip()
    if addr.lower().startswith("mailto:"):
        addr = addr[7:]
    # RFC 5321 §4.1.2: no trailing dot in a domain (it is DNS notation); address_notes says so.
    addr = addr.lower().rstrip(".")
    local, at, domain = addr.rpartition("@")
    # isprintable() rejects NUL and other controls (PostgreSQL text cannot hold NUL).
    if not at or not local or not domain or not addr.isprintable() or " " in addr:
        return None
    return addr


_SPACED_LOCAL = re.compile(r'\s*([^"@<>\\]*[^\s"@<>\\] [^"@<>\\]*)@([^\s@"<>()\[\],;:]+)\s*')


def _quote_spaced(addr: str) -> str | None:
    """'jan peeters@example.be' between angle brackets: a local part with a bare space
    (RFC 5322 §3.4.1 wants it quoted) becomes '"jan peeters"@example.be'."""
    match = _SPACED_LOCAL.fullmatch(addr)
    if match is None:
        return None
    return _clean_email(f'"{match.group(1).strip()}"@{match.group(2)}')


def address_notes(
    header: str, addresses: tuple[Address, ...], raw_value: str | None
) -> tuple[AddressNote, ...]:
    """What the caller must know before writing to these addresses (see AddressIssue)."""
    notes: list[AddressNote] = []
    written = FOLD.sub("", raw_value or "").lower()
    for address in addresses:
        email = address.email
        invalid, ascii_form = _syntax(email)
        if not email.isascii():
            notes.append(
                AddressNote(header, AddressIssue.INTERNATIONALISED, email, email, "", ascii_form)
            )
        if email.startswith('"'):
            bare = email.replace('"', "")  # how a form without quotes wrote it
            written_as = email if email in written or bare not in written else bare
            notes.append(AddressNote(header, AddressIssue.QUOTED_LOCAL_PART, email, written_as))
        if re.search(re.escape(email) + r"\.+(?![\w.-])", written):
            notes.append(AddressNote(header, AddressIssue.TRAILING_DOT, email, email + "."))
        if invalid:
            notes.append(AddressNote(header, AddressIssue.INVALID, email, email, invalid))
    return tuple(notes)


def _syntax(email: str) -> tuple[str, str]:
    """Why no SMTP server may take this address (RFC 5321 §4.1.2, RFC 6531 §3.3), "" when
    it is valid; and its ASCII form (domain as A-labels, RFC 5891) when its local part is
    ASCII. Only the syntax: whether the domain receives mail is the server's business
    (and a test's domain is a test's)."""
    from email_validator import validate_email  # 0.1 s to import: only when mail is read

    try:
        checked = validate_email(
            email,
            check_deliverability=False,
            allow_quoted_local=True,
            allow_domain_literal=True,
            allow_smtputf8=True,
            globally_deliverable=False,
            test_environment=True,
        )
    except ValueError as exc:  # EmailSyntaxError, and whatever odd input may raise
        return str(exc) or type(exc).__name__, ""
    return "", (checked.ascii_email or "").lower()


def _parse_mailbox(item: str, where: str, defects: list[str]) -> Address | None:
    lt = item.rfind("<")
    if lt >= 0 and "@" in item[lt:]:
        inner = item[lt + 1 :]
        gt = inner.find(">")
        addr = _clean_email(inner[:gt] if gt >= 0 else inner)
        addr = addr or _quote_spaced(inner[:gt] if gt >= 0 else inner)
        name = item[:lt]
    else:
        match = _QUOTED_LOCAL.search(item) or _BARE_ADDRESS.search(item)
        if match is None:
            return None
        addr = _clean_email(match.group(0))
        name = (item[: match.start()] + item[match.end() :]).replace("<>", "")
    if addr is None:
        return None
    clean = _clean_name(name, where, defects)
    return Address(email=addr, name="" if clean.lower() == addr else clean)


def parse_address_list(text: str, where: str, defects: list[str]) -> list[Address]:
    """Our own forgiving reading of an address field, for what mail-parser cannot read."""
    found: list[Address] = []
    for item in _split_mailboxes(text):
        address = _parse_mailbox(item, where, defects)
        if address is not None:
            found.append(address)
    return found


def _mp_addresses(value: Any, where: str, defects: list[str]) -> list[Address]:
    """mail-parser's address tuples as Addresses; anything malformed is skipped."""
    found: list[Address] = []
    if not isinstance(value, list):
        return found
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2):
            continue
        name, addr = item
        if not isinstance(name, str) or not isinstance(addr, str):
            continue
        clean_addr = _clean_email(unsurrogate(addr, where, defects))
        if clean_addr is None:
            continue
        clean_name = _clean_name(unsurrogate(name, where, defects), where, defects)
        found.append(Address(clean_addr, "" if clean_name.lower() == clean_addr else clean_name))
    return found


def _mp_doubts(parser: Any, lname: str) -> bool:
    """Whether mail-parser reported the first occurrence of a field as (partly) unreadable."""
    reports = parser.address_header_defects
    if not isinstance(reports, list):
        return False
    return any(
        isinstance(report, dict)
        and report.get("header") == lname
        and report.get("occurrence") == 0
        and not report.get("recovered")
        for report in reports
    )


def read_addresses(
    parser: Any, lname: str, raw_value: str | None, defects: list[str]
) -> tuple[Address, ...]:
    """mail-parser's addresses; ours where it found none or said it skipped some."""
    if raw_value is None:
        return ()
    name = _FIELD_NAMES[lname]
    where = f"{name} header"
    found: list[Address] = []
    if parser is not None:
        found = _mp_addresses(getattr(parser, MP_ADDRESS_ATTRS[lname]), where, defects)
        if found and not _mp_doubts(parser, lname):
            return tuple(found)
    if "@" in raw_value:
        text = FOLD.sub("", unsurrogate(raw_value, where, defects))
        recovered = parse_address_list(text, where, defects)
        if len(recovered) > len(found):
            if parser is not None:
                defects.append(f"malformed {name} header: addresses recovered")
            found = recovered
    return tuple(found)
