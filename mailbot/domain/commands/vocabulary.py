"""The words of the coordinator's commands: command names, inadmissibility reasons and
outcomes with their labels and the synonyms coordinators type, and the forgiving lookup
that turns a typed word into one of them ("ouder" -> ouder-dan-een-jaar)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar


class CommandError(Exception):
    """A command that cannot be carried out; the message is Dutch, for the coordinator."""


class InadmissibleReason(StrEnum):
    """Why a complaint is not admissible (onontvankelijk), in the order of the municipal
    page; the yearly report to the council counts them."""

    INFORMATIE = "informatie"
    MELDING = "melding"
    SUGGESTIE = "suggestie"
    ONMIDDELLIJK = "onmiddellijk-opgelost"
    GEEN_CONTACT = "geen-eerder-contact"
    NIET_LOKAAL = "niet-lokaal-bestuur"
    BELEID = "regelgeving-beleid"
    ANONIEM = "anoniem"
    OUD = "ouder-dan-een-jaar"
    ONGEGROND = "kennelijk-ongegrond"
    GERECHT = "gerechtelijke-procedure"
    EERDER = "eerder-behandeld"
    SOCIALE_MEDIA = "sociale-media"


REASON_LABELS: dict[InadmissibleReason, str] = {
    InadmissibleReason.INFORMATIE: "een vraag om informatie",
    InadmissibleReason.MELDING: "een melding (bv. afval, put in de weg, straatlamp)",
    InadmissibleReason.SUGGESTIE: "een suggestie",
    InadmissibleReason.ONMIDDELLIJK: "een probleem dat onmiddellijk opgelost kon worden",
    InadmissibleReason.GEEN_CONTACT: "nog geen contact opgenomen met de betrokken dienst",
    InadmissibleReason.NIET_LOKAAL: "niet over een dienst van het lokaal bestuur",
    InadmissibleReason.BELEID: "over regelgeving of (voorgenomen) beleid",
    InadmissibleReason.ANONIEM: "anoniem",
    InadmissibleReason.OUD: "feiten ouder dan één jaar",
    InadmissibleReason.ONGEGROND: "kennelijk ongegrond",
    InadmissibleReason.GERECHT: "voorwerp van een gerechtelijke procedure",
    InadmissibleReason.EERDER: "zelfde onderwerp als een eerder afgesloten klacht",
    InadmissibleReason.SOCIALE_MEDIA: "geuit via sociale media",
}

# Words coordinators are likely to type instead of the code. Keys are normalised
# (lowercase, no accents, words joined by '-').
REASON_SYNONYMS: dict[str, InadmissibleReason] = {
    "info": InadmissibleReason.INFORMATIE,
    "infovraag": InadmissibleReason.INFORMATIE,
    "informatievraag": InadmissibleReason.INFORMATIE,
    "vraag": InadmissibleReason.INFORMATIE,
    "meldingen": InadmissibleReason.MELDING,
    "voorstel": InadmissibleReason.SUGGESTIE,
    "idee": InadmissibleReason.SUGGESTIE,
    "onmiddellijk": InadmissibleReason.ONMIDDELLIJK,
    "opgelost": InadmissibleReason.ONMIDDELLIJK,
    "direct-opgelost": InadmissibleReason.ONMIDDELLIJK,
    "geen-contact": InadmissibleReason.GEEN_CONTACT,
    "geen-voorafgaand-contact": InadmissibleReason.GEEN_CONTACT,
    "eerst-dienst": InadmissibleReason.GEEN_CONTACT,
    "niet-lokaal": InadmissibleReason.NIET_LOKAAL,
    "niet-bevoegd": InadmissibleReason.NIET_LOKAAL,
    "niet-gemeente": InadmissibleReason.NIET_LOKAAL,
    "beleid": InadmissibleReason.BELEID,
    "regelgeving": InadmissibleReason.BELEID,
    "reglement": InadmissibleReason.BELEID,
    "ouder-dan-1-jaar": InadmissibleReason.OUD,
    "te-oud": InadmissibleReason.OUD,
    "verjaard": InadmissibleReason.OUD,
    "ongegrond": InadmissibleReason.ONGEGROND,
    "duidelijk-ongegrond": InadmissibleReason.ONGEGROND,
    "gerecht": InadmissibleReason.GERECHT,
    "rechtbank": InadmissibleReason.GERECHT,
    "juridisch": InadmissibleReason.GERECHT,
    "eerder-afgesloten": InadmissibleReason.EERDER,
    "zelfde-onderwerp": InadmissibleReason.EERDER,
    "herhaling": InadmissibleReason.EERDER,
    "social-media": InadmissibleReason.SOCIALE_MEDIA,
    "facebook": InadmissibleReason.SOCIALE_MEDIA,
}
_MIN_PREFIX = 3  # "on" would be ambiguous and says nothing
_MAX_CODE_WORDS = 6


class Outcome(StrEnum):
    GEGROND = "gegrond"
    DEELS_GEGROND = "deels-gegrond"
    ONGEGROND = "ongegrond"


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.GEGROND: "gegrond",
    Outcome.DEELS_GEGROND: "deels gegrond",
    Outcome.ONGEGROND: "ongegrond",
}

OUTCOME_SYNONYMS: dict[str, Outcome] = {
    "deels": Outcome.DEELS_GEGROND,
    "gedeeltelijk-gegrond": Outcome.DEELS_GEGROND,
    "gedeeltelijk": Outcome.DEELS_GEGROND,
    "niet-gegrond": Outcome.ONGEGROND,
}


class CommandName(StrEnum):
    ONTVANKELIJK = "ontvankelijk"
    ONONTVANKELIJK = "onontvankelijk"
    DIENST = "dienst"
    BEANTWOORD = "beantwoord"
    AFSLUITEN = "afsluiten"
    HEROPEN = "heropen"
    NOTITIE = "notitie"
    NIEUW = "nieuw"
    BRIEF = "brief"


# Spellings we accept as well; kept short on purpose, a typo gets a suggestion instead.
COMMAND_ALIASES: dict[str, CommandName] = {
    "niet-ontvankelijk": CommandName.ONONTVANKELIJK,
    "heropenen": CommandName.HEROPEN,
    "nota": CommandName.NOTITIE,
}


@dataclass(frozen=True)
class Command:
    name: CommandName
    argument: str  # the rest of the line, cleaned; "" when none
    line: int  # 1-based line number in the mail body
    reason: InadmissibleReason | None = None  # set for #onontvankelijk
    outcome: Outcome | None = None  # set for #beantwoord


@dataclass(frozen=True)
class CitizenDetails:
    """The citizen a #nieuw or #brief case is opened for, as typed by the coordinator."""

    name: str
    email: str | None
    address: str | None
    received_on: date | None  # postmark or date received; None means "when this mail came"
    subject: str | None
    text: str  # the complaint text: everything after the details block


@dataclass(frozen=True)
class ParsedCommands:
    commands: tuple[Command, ...]
    errors: tuple[str, ...]  # one Dutch message per bad line, "Regel 3: …"
    details: CitizenDetails | None = None

    @property
    def creates_case(self) -> bool:
        return any(c.name in CREATING for c in self.commands)


CREATING = frozenset({CommandName.NIEUW, CommandName.BRIEF})


def fold(text: str) -> str:
    """Lowercase without accents: "Één" and "een" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text))


_T = TypeVar("_T")


def _lookup(
    text: str, codes: Mapping[str, _T], synonyms: Mapping[str, _T]
) -> tuple[_T | None, list[str]]:
    """Match the longest leading run of words against codes, synonyms and unambiguous
    prefixes of either, so "melding, doorgestuurd naar meldpunt" still finds "melding".

    Returns (match, ambiguous candidates seen on the way).
    """
    # No code is longer than four words; the rest of the line is explanation.
    words = tokens(text)[:_MAX_CODE_WORDS]
    ambiguous: list[str] = []
    for k in range(len(words), 0, -1):
        candidate = "-".join(words[:k])
        if candidate in codes:
            return codes[candidate], []
        if candidate in synonyms:
            return synonyms[candidate], []
        if len(candidate) < _MIN_PREFIX:
            continue
        hits = {v for key, v in (*codes.items(), *synonyms.items()) if key.startswith(candidate)}
        if len(hits) == 1:
            return hits.pop(), []
        if hits:
            ambiguous = sorted(key for key in codes if codes[key] in hits)
    return None, ambiguous


def reason_choices() -> str:
    return ", ".join(r.value for r in InadmissibleReason)


def parse_reason(text: str) -> InadmissibleReason:
    """The reason code, an unambiguous prefix ("ouder", "gerecht") or a synonym
    ("beleid", "info"); words after it are allowed and ignored."""
    codes = {r.value: r for r in InadmissibleReason}
    found, ambiguous = _lookup(text, codes, REASON_SYNONYMS)
    if found is not None:
        return found
    shown = text.strip()
    if not shown:
        raise CommandError(f"Geef een reden op. Kies uit: {reason_choices()}.")
    if ambiguous:
        raise CommandError(
            f"Reden '{shown}' is niet eenduidig: {', '.join(ambiguous)}. "
            f"Kies uit: {reason_choices()}."
        )
    first = "-".join(tokens(shown)[:3])
    close = difflib.get_close_matches(first, [*codes, *REASON_SYNONYMS], n=1, cutoff=0.6)
    hint = ""
    if close:
        suggestion = codes.get(close[0]) or REASON_SYNONYMS[close[0]]
        hint = f" Bedoel je '{suggestion.value}'?"
    raise CommandError(f"Onbekende reden '{shown}'.{hint} Kies uit: {reason_choices()}.")


def parse_outcome(text: str) -> Outcome:
    """ "gegrond", "deels-gegrond" / "deels gegrond", "ongegrond"; words after it are ignored."""
    codes = {o.value: o for o in Outcome}
    found, _ = _lookup(text, codes, OUTCOME_SYNONYMS)
    if found is not None:
        return found
    choices = ", ".join(o.value for o in Outcome)
    if not text.strip():
        raise CommandError(
            f"#beantwoord heeft een uitkomst nodig, bv. #beantwoord gegrond. Kies uit: {choices}."
        )
    raise CommandError(f"Onbekende uitkomst '{text.strip()}'. Kies uit: {choices}.")


def command_name(word: str) -> CommandName | None:
    folded = fold(word)
    try:
        return CommandName(folded)
    except ValueError:
        return COMMAND_ALIASES.get(folded)
