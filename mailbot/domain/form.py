"""The website's complaint form: it mails the complaints address from a fixed no-reply
sender, with the citizen's answers as "Label: value" lines in the body.

Form builders differ and change without notice, so the parser reads what it finds:
"Naam: Jan", "Naam : Jan", "**Naam:** Jan" (an HTML mail converted to text), a table row
"Naam | Jan", or the label alone with the value on the next line(s). Labels compare
without case, accents, spaces or hyphens ("E-mailadres" = "e-mail adres").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import Enum


class FormError(Exception):
    """The body is not a usable form submission (English: it goes to logs and quarantine)."""


@dataclass(frozen=True)
class FormSpec:
    sender: str  # the no-reply address the website mails from
    name_labels: tuple[str, ...] = (
        "Naam",
        "Voornaam en naam",
        "Naam en voornaam",
        "Volledige naam",
        "Achternaam",
        "Familienaam",
    )
    # Forms that ask first and last name apart: "Voornaam: Jan" + "Naam: Peeters".
    first_name_labels: tuple[str, ...] = ("Voornaam",)
    email_labels: tuple[str, ...] = ("E-mail", "E-mailadres", "Email")
    subject_labels: tuple[str, ...] = ("Onderwerp",)
    text_labels: tuple[str, ...] = ("Klacht", "Omschrijving", "Bericht", "Uw klacht", "Je klacht")
    # Several address fields ("Straat en nummer", "Postcode", "Gemeente") are joined.
    address_labels: tuple[str, ...] = (
        "Adres",
        "Straat en nummer",
        "Straat",
        "Postcode en gemeente",
        "Postcode",
        "Gemeente",
        "Woonplaats",
    )
    phone_labels: tuple[str, ...] = ("Telefoon", "Telefoonnummer", "Gsm", "Gsm-nummer")
    # Other fields the form may carry: they end the field before them and are returned
    # in FormSubmission.extra instead of leaking into the complaint text.
    other_labels: tuple[str, ...] = (
        "Datum",
        "Datum van de feiten",
        "Tijdstip",
        "Dienst",
        "Betrokken dienst",
        "Bijlage",
        "Bijlagen",
        "Rijksregisternummer",
        "Privacy",
        "Toestemming",
        "Akkoord",
        "Verzonden op",
        "Ingediend op",
    )

    def is_form_mail(self, sender_email: str) -> bool:
        return sender_email.strip().lower() == self.sender.strip().lower()


@dataclass(frozen=True)
class FormSubmission:
    name: str  # "" when the form had no name (then email is set)
    email: str | None
    subject: str | None
    text: str
    address: str | None
    phone: str | None
    extra: tuple[tuple[str, str], ...] = field(default=())  # (label as written, value)


class _Field(Enum):
    NAME = "name"
    FIRST_NAME = "first_name"
    EMAIL = "email"
    SUBJECT = "subject"
    TEXT = "text"
    ADDRESS = "address"
    PHONE = "phone"
    OTHER = "other"


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = dict.fromkeys(map(ord, "\u00a0\u202f\u2007\u2009\t"), " ")
# "Label: value"; the label is short and holds no ':' or '|', markdown bold around it.
_LABEL_COLON = re.compile(r"^[*_]{0,2}([^:|*_][^:|]{0,48}?)[*_]{0,2}\s*:\s*(.*)$")
_TABLE_RULE = re.compile(r"^[\s|:-]+$")  # "---|---" under a converted table header
_FOOTER_RULE = re.compile(r"^(?:-{2,}|_{3,}|\*{3,}|(?:\* ){2,}\*)\s*$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Fields whose value is one line of text; a blank line ends them, so a footer after the
# last field is not taken for a phone number.
_SHORT = frozenset({_Field.NAME, _Field.FIRST_NAME, _Field.EMAIL, _Field.SUBJECT, _Field.PHONE})


def _key(label: str) -> str:
    decomposed = unicodedata.normalize("NFKD", label.lower())
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def _label_map(spec: FormSpec) -> dict[str, _Field]:
    groups = (
        (_Field.OTHER, spec.other_labels),
        (_Field.ADDRESS, spec.address_labels),
        (_Field.PHONE, spec.phone_labels),
        (_Field.TEXT, spec.text_labels),
        (_Field.SUBJECT, spec.subject_labels),
        (_Field.EMAIL, spec.email_labels),
        (_Field.FIRST_NAME, spec.first_name_labels),
        (_Field.NAME, spec.name_labels),  # last: a label listed twice counts as the name
    )
    return {_key(label): kind for kind, labels in groups for label in labels if _key(label)}


def _clean(line: str) -> str:
    return line.translate(_INVISIBLE).translate(_SPACES).strip()


def _strip_marks(value: str) -> str:
    return value.strip().strip("*_").strip()


def _label_line(line: str, labels: dict[str, _Field]) -> tuple[_Field, str, str] | None:
    """(field, label as written, value on the same line) when the line starts a field."""
    if "|" in line:
        cells = [_strip_marks(c) for c in line.strip().strip("|").split("|")]
        cells = [c for c in cells if c]
        if cells:
            label = cells[0].rstrip(":").strip()
            kind = labels.get(_key(label))
            if kind is not None:
                return kind, label, " ".join(cells[1:])
    match = _LABEL_COLON.match(line)
    if match is not None:
        label = _strip_marks(match[1])
        kind = labels.get(_key(label))
        if kind is not None:
            return kind, label, _strip_marks(match[2])
    return None


def _fields(body: str, labels: dict[str, _Field]) -> tuple[list[tuple[_Field, str, str]], str]:
    """Every field with its (possibly multi-line) value, and the text outside any field."""
    found: list[tuple[_Field, str, list[str]]] = []
    outside: list[str] = []
    open_field: tuple[_Field, str, list[str]] | None = None
    seen: set[str] = set()
    for raw in body.splitlines():
        line = _clean(raw)
        started = _label_line(line, labels)
        in_text = open_field is not None and open_field[0] is _Field.TEXT
        # Inside the complaint a label the form already had ("Naam: …" in a sentence of
        # the citizen's) is the citizen's text; a label not seen yet is the next field.
        if started is not None and not (in_text and _key(started[1]) in seen):
            kind, label, value = started
            seen.add(_key(label))
            open_field = (kind, label, [value] if value else [])
            found.append(open_field)
            continue
        if _TABLE_RULE.match(line) and "-" in line and "|" in line:
            continue
        if _FOOTER_RULE.match(line):
            open_field = None  # "--" before a signature or the form builder's footer
            continue
        if open_field is None:
            outside.append(raw.rstrip())
            continue
        kind, _, values = open_field
        if kind in _SHORT and not line:
            if values:
                open_field = None
            continue  # a blank line between label and value is how HTML paragraphs come out
        values.append(raw.rstrip() if kind is _Field.TEXT else line)
    return [(k, lab, _join(k, v)) for k, lab, v in found], "\n".join(outside).strip()


def _join(kind: _Field, values: list[str]) -> str:
    if kind is _Field.TEXT:
        return "\n".join(values).strip()
    parts = [v for v in (_strip_marks(v) for v in values) if v]
    if kind is _Field.ADDRESS:
        return ", ".join(parts)
    return " ".join(parts)


def _address(parts: list[str]) -> str | None:
    joined = ""
    for part in parts:
        if not joined:
            joined = part
        elif re.fullmatch(r"\d{4}", joined.rsplit(", ", 1)[-1]):
            joined += f" {part}"  # "2980" + "Zoersel" reads "2980 Zoersel"
        else:
            joined += f", {part}"
    return joined or None


def parse_form(body: str, spec: FormSpec) -> FormSubmission:
    labels = _label_map(spec)
    fields, outside = _fields(body, labels)

    def values(kind: _Field) -> list[str]:
        return [value for k, _, value in fields if k is kind and value]

    name = next(iter(values(_Field.NAME)), "")
    first = next(iter(values(_Field.FIRST_NAME)), "")
    if first and not name.lower().startswith(first.lower()):
        name = f"{first} {name}".strip()
    email: str | None = None
    for value in values(_Field.EMAIL):
        found = _EMAIL.search(value)  # "[jan@x.be](mailto:jan@x.be)" after HTML conversion
        if found:
            email = found.group(0)
            break
    if not name and email is None:
        wanted = ", ".join((*spec.name_labels, *spec.email_labels))
        raise FormError(f"form mail has neither a name nor an e-mail address (labels: {wanted})")
    texts = values(_Field.TEXT)
    # Without a labelled complaint field the unlabelled text is the best we have; an empty
    # complaint would hide what the citizen wrote.
    text = "\n\n".join(texts) if texts else outside
    return FormSubmission(
        name=name,
        email=email,
        subject=next(iter(values(_Field.SUBJECT)), None),
        text=text,
        address=_address(values(_Field.ADDRESS)),
        phone=next(iter(values(_Field.PHONE)), None),
        extra=tuple((label, value) for k, label, value in fields if k is _Field.OTHER and value),
    )
