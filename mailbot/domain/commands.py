"""Commands the complaints coordinator writes in a mail ("#ontvankelijk", "#dienst omgeving"),
and the case state machine they drive.

The coordinator works in an ordinary mail client, so the parser is forgiving about what
mail clients do to a line (non-breaking spaces, a trailing period, capitals) and strict
about meaning: an unknown or incomplete command is reported back, never guessed.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from mailbot.domain.model import CaseState
from mailbot.domain.quoting import split_quoted


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
_REASON_SYNONYMS: dict[str, InadmissibleReason] = {
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

_OUTCOME_SYNONYMS: dict[str, Outcome] = {
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
_COMMAND_ALIASES: dict[str, CommandName] = {
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
        return any(c.name in _CREATING for c in self.commands)


_CREATING = frozenset({CommandName.NIEUW, CommandName.BRIEF})

# --- parsing -------------------------------------------------------------------------------

# What Outlook and web mailers put in a line: non-breaking and thin spaces, zero-width
# characters, a byte order mark.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = dict.fromkeys(map(ord, "\u00a0\u202f\u2007\u2009\t"), " ")
# "#dienst omgeving", "#Dienst: omgeving", "\#dienst" (escaped by an HTML converter),
# "**#afsluiten**" (bold in a rich-text client). The word must start with a letter, so
# "#1" or "#" alone in prose is no command.
_COMMAND_LINE = re.compile(r"^[*_]{0,2}\\?#([^\W\d_][\w-]*)[*_]{0,2}\s*:?\s*(.*)$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

_DETAIL_LABELS: dict[str, str] = {
    "naam": "name",
    "e-mail": "email",
    "email": "email",
    "e-mailadres": "email",
    "mail": "email",
    "adres": "address",
    "datum": "date",
    "ontvangen": "date",
    "postdatum": "date",
    "onderwerp": "subject",
}
_DETAIL_LINE = re.compile(r"^[*_]{0,2}([A-Za-z-]+)[*_]{0,2}\s*:[*_]{0,2}\s*(.*)$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_BE_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def _clean(line: str) -> str:
    return line.translate(_INVISIBLE).translate(_SPACES).strip()


def _fold(text: str) -> str:
    """Lowercase without accents: "Één" and "een" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", _fold(text))


_T = TypeVar("_T")


def _lookup(
    text: str, codes: Mapping[str, _T], synonyms: Mapping[str, _T]
) -> tuple[_T | None, list[str]]:
    """Match the longest leading run of words against codes, synonyms and unambiguous
    prefixes of either, so "melding, doorgestuurd naar meldpunt" still finds "melding".

    Returns (match, ambiguous candidates seen on the way).
    """
    # No code is longer than four words; the rest of the line is explanation.
    words = _tokens(text)[:_MAX_CODE_WORDS]
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


def _reason_choices() -> str:
    return ", ".join(r.value for r in InadmissibleReason)


def parse_reason(text: str) -> InadmissibleReason:
    """The reason code, an unambiguous prefix ("ouder", "gerecht") or a synonym
    ("beleid", "info"); words after it are allowed and ignored."""
    codes = {r.value: r for r in InadmissibleReason}
    found, ambiguous = _lookup(text, codes, _REASON_SYNONYMS)
    if found is not None:
        return found
    shown = text.strip()
    if not shown:
        raise CommandError(f"Geef een reden op. Kies uit: {_reason_choices()}.")
    if ambiguous:
        raise CommandError(
            f"Reden '{shown}' is niet eenduidig: {', '.join(ambiguous)}. "
            f"Kies uit: {_reason_choices()}."
        )
    first = "-".join(_tokens(shown)[:3])
    close = difflib.get_close_matches(first, [*codes, *_REASON_SYNONYMS], n=1, cutoff=0.6)
    hint = ""
    if close:
        suggestion = codes.get(close[0]) or _REASON_SYNONYMS[close[0]]
        hint = f" Bedoel je '{suggestion.value}'?"
    raise CommandError(f"Onbekende reden '{shown}'.{hint} Kies uit: {_reason_choices()}.")


def parse_outcome(text: str) -> Outcome:
    """ "gegrond", "deels-gegrond" / "deels gegrond", "ongegrond"; words after it are ignored."""
    codes = {o.value: o for o in Outcome}
    found, _ = _lookup(text, codes, _OUTCOME_SYNONYMS)
    if found is not None:
        return found
    choices = ", ".join(o.value for o in Outcome)
    if not text.strip():
        raise CommandError(
            f"#beantwoord heeft een uitkomst nodig, bv. #beantwoord gegrond. Kies uit: {choices}."
        )
    raise CommandError(f"Onbekende uitkomst '{text.strip()}'. Kies uit: {choices}.")


def _command_name(word: str) -> CommandName | None:
    folded = _fold(word)
    try:
        return CommandName(folded)
    except ValueError:
        return _COMMAND_ALIASES.get(folded)


def _unknown_command(word: str) -> str:
    names = [c.value for c in CommandName]
    close = difflib.get_close_matches(_fold(word), names, n=1, cutoff=0.6)
    if close:
        return f"Onbekend commando '#{word}'. Bedoel je '#{close[0]}'?"
    return f"Onbekend commando '#{word}'. Mogelijk: {', '.join('#' + n for n in names)}."


_NEEDS_ARGUMENT: dict[CommandName, str] = {
    CommandName.DIENST: "#dienst heeft een naam nodig, bv. #dienst omgeving",
    CommandName.NOTITIE: "#notitie heeft een tekst nodig, bv. #notitie dienst gebeld op 24/11",
}


def _make_command(name: CommandName, argument: str, line: int) -> Command:
    if name is not CommandName.NOTITIE:
        # A sentence-final period belongs to the sentence, not to "#dienst omgeving.";
        # a note is kept exactly as typed.
        argument = argument.rstrip(". ").strip()
    if name in _NEEDS_ARGUMENT and not argument:
        raise CommandError(_NEEDS_ARGUMENT[name])
    if name is CommandName.ONONTVANKELIJK:
        if not argument:
            raise CommandError(
                "#onontvankelijk heeft een reden nodig, bv. #onontvankelijk melding. "
                f"Kies uit: {_reason_choices()}."
            )
        return Command(name, argument, line, reason=parse_reason(argument))
    if name is CommandName.BEANTWOORD:
        return Command(name, argument, line, outcome=parse_outcome(argument))
    return Command(name, argument, line)


def _parse_date(value: str) -> date:
    text = value.strip().rstrip(".")
    iso = _ISO_DATE.match(text)
    be = _BE_DATE.match(text)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if be:
            return date(int(be[3]), int(be[2]), int(be[1]))
    except ValueError:
        raise CommandError(f"Datum '{text}' bestaat niet.") from None
    raise CommandError(f"Datum '{text}' niet begrepen; schrijf bv. 20/11/2026 of 2026-11-20.")


def _detail_field(line: str) -> tuple[str, str] | None:
    match = _DETAIL_LINE.match(line)
    if match is None:
        return None
    field = _DETAIL_LABELS.get(_fold(match[1]))
    return None if field is None else (field, match[2].strip().strip("*_").strip())


def _details_block(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """The "Naam: … / E-mail: … / Adres: … / Datum: … / Onderwerp: …" block that follows
    #nieuw or #brief at lines[start:]: its fields and the index of the first line after it.
    Blank lines inside the block are allowed; the first other line ends it."""
    fields: dict[str, str] = {}
    i = start
    while i < len(lines):
        line = _clean(lines[i])
        if line:
            parsed = _detail_field(line)
            if parsed is None:
                break
            fields.setdefault(parsed[0], parsed[1])
        i += 1
    return fields, i


def _details(
    command: Command, fields: dict[str, str], text: str
) -> tuple[CitizenDetails | None, list[str]]:
    label = f"#{command.name.value}"
    problems: list[str] = []
    name = fields.get("name", "")
    if not name:
        problems.append(f"{label} heeft een naam nodig: schrijf 'Naam: …' op de volgende regel")
    email: str | None = None
    if fields.get("email"):
        found = _EMAIL.search(fields["email"])
        if found is None:
            problems.append(f"E-mailadres '{fields['email']}' is geen geldig adres")
        else:
            email = found.group(0)
    received_on: date | None = None
    if fields.get("date"):
        try:
            received_on = _parse_date(fields["date"])
        except CommandError as exc:
            problems.append(str(exc).rstrip("."))
    if problems:
        return None, [f"Regel {command.line}: {p}." for p in problems]
    details = CitizenDetails(
        name=name,
        email=email,
        address=fields.get("address") or None,
        received_on=received_on,
        # "#brief Parkeerkaart niet ontvangen" is a natural way to give the subject too
        subject=fields.get("subject") or command.argument or None,
        text=text,
    )
    return details, []


def _command_lines(body: str) -> tuple[list[str], int]:
    """All lines of the body, and how many of them precede the quoted history."""
    head, _ = split_quoted(body, forwards=True)
    lines = body.splitlines()
    return lines, len(head.splitlines())


def parse_commands(body: str) -> ParsedCommands:
    """Every command above the quoted history, one per line, '>' lines ignored.

    A line that starts with '#' and a word that is no command is an error (most likely a
    typo); a '#' further on in a sentence is prose and ignored.
    """
    lines, usable = _command_lines(body)
    commands: list[Command] = []
    errors: list[str] = []
    command_lines: set[int] = set()  # indexes of lines that addressed the bot
    creating: tuple[Command, dict[str, str], int] | None = None
    for index in range(usable):
        line = _clean(lines[index])
        if line.startswith(">"):
            continue
        match = _COMMAND_LINE.match(line)
        if match is None:
            continue
        command_lines.add(index)
        word, argument = match[1], match[2].strip().strip("*_").strip()
        number = index + 1
        name = _command_name(word)
        if name is None:
            errors.append(f"Regel {number}: {_unknown_command(word)}")
            continue
        try:
            command = _make_command(name, argument, number)
        except CommandError as exc:
            errors.append(f"Regel {number}: {exc}")
            continue
        if name in _CREATING:
            if creating is not None:
                errors.append(f"Regel {number}: Eén #nieuw of #brief per mail.")
                continue
            fields, text_start = _details_block(lines, index + 1)
            creating = (command, fields, text_start)
        commands.append(command)
    details: CitizenDetails | None = None
    if creating is not None:
        command, fields, text_start = creating
        # The complaint text runs to the end of the mail, quoted part included: with
        # #nieuw the forwarded mail below is usually the complaint itself. Command lines
        # are instructions to us, not part of it.
        text = "\n".join(
            lines[i].rstrip() for i in range(text_start, len(lines)) if i not in command_lines
        ).strip("\n")
        details, problems = _details(command, fields, text)
        errors.extend(problems)
    names = {c.name for c in commands}
    if {CommandName.ONTVANKELIJK, CommandName.ONONTVANKELIJK} <= names:
        errors.append("#ontvankelijk en #onontvankelijk spreken elkaar tegen; kies er één.")
    return ParsedCommands(tuple(commands), tuple(errors), details)


def has_commands(body: str) -> bool:
    """Whether the mail addresses the bot at all: a command, or a line that tried to be one."""
    parsed = parse_commands(body)
    return bool(parsed.commands or parsed.errors)


# --- the case state machine ---------------------------------------------------------------

_STATE_LABELS: dict[CaseState, str] = {
    CaseState.RECEIVED: "ontvangen",
    CaseState.IN_PROGRESS: "in behandeling",
    CaseState.ANSWERED: "beantwoord",
    CaseState.CLOSED: "afgesloten",
}
_OPEN = frozenset({CaseState.RECEIVED, CaseState.IN_PROGRESS})
_DONE = frozenset({CaseState.ANSWERED, CaseState.CLOSED})


@dataclass(frozen=True)
class Transition:
    state: CaseState
    admissible: bool | None
    message: str  # Dutch confirmation line for the coordinator


def _refuse(reference: str, state: CaseState, instead: str) -> CommandError:
    return CommandError(f"{reference} is {_STATE_LABELS[state]}: {instead}")


def apply(
    command: Command, state: CaseState, admissible: bool | None, reference: str
) -> Transition:
    """The case after the command, or CommandError (Dutch) saying what is possible instead."""
    name = command.name
    if name is CommandName.NOTITIE:
        return Transition(state, admissible, f"Notitie toegevoegd aan {reference}.")
    if name in _CREATING:
        raise CommandError(
            f"#{name.value} opent een nieuw dossier en kan niet op {reference} toegepast "
            "worden; stuur het in een nieuwe mail, niet als antwoord."
        )
    if name is CommandName.ONTVANKELIJK:
        if state not in _OPEN:
            raise _refuse(reference, state, "heropen het eerst met #heropen.")
        if admissible is True:
            raise CommandError(f"{reference} is al ontvankelijk verklaard.")
        return Transition(CaseState.IN_PROGRESS, True, f"{reference} is ontvankelijk verklaard.")
    if name is CommandName.ONONTVANKELIJK:
        if state not in _OPEN:
            raise _refuse(reference, state, "heropen het eerst met #heropen.")
        reason = command.reason or parse_reason(command.argument)
        return Transition(
            CaseState.CLOSED,
            False,
            f"{reference} is onontvankelijk verklaard ({REASON_LABELS[reason]}) en afgesloten.",
        )
    if name is CommandName.DIENST:
        if state not in _OPEN:
            raise _refuse(reference, state, "heropen het eerst met #heropen.")
        # Asking a service for input says nothing about admissibility yet.
        return Transition(
            CaseState.IN_PROGRESS,
            admissible,
            f"Dienst '{command.argument}' is aangeduid voor {reference}.",
        )
    if name is CommandName.BEANTWOORD:
        # Also on an answered case: mailbot marks a case answered when it sees the answer
        # in the sent folder; the coordinator then records the outcome afterwards.
        if state not in _OPEN and state is not CaseState.ANSWERED:
            raise _refuse(reference, state, "heropen het eerst met #heropen.")
        outcome = command.outcome or parse_outcome(command.argument)
        message = f"{reference} is beantwoord: {OUTCOME_LABELS[outcome]}."
        if admissible is not True:
            # A reasoned answer on the merits means the complaint was handled as
            # admissible; the yearly report must not count it as undecided.
            message += " Het dossier telt daarmee als ontvankelijk."
        return Transition(CaseState.ANSWERED, True, message)
    if name is CommandName.AFSLUITEN:
        if state is CaseState.CLOSED:
            raise CommandError(f"{reference} is al afgesloten.")
        if state is not CaseState.ANSWERED:
            raise _refuse(
                reference,
                state,
                "beantwoord eerst (#beantwoord gegrond|deels-gegrond|ongegrond) "
                "of verklaar onontvankelijk (#onontvankelijk <reden>).",
            )
        return Transition(CaseState.CLOSED, admissible, f"{reference} is afgesloten.")
    if name is CommandName.HEROPEN:
        if state not in _DONE:
            raise CommandError(f"{reference} is nog open ({_STATE_LABELS[state]}).")
        # Reopening an inadmissible case reopens that decision too: the coordinator
        # declares it (on)ontvankelijk again.
        reopened = None if admissible is False else admissible
        return Transition(CaseState.IN_PROGRESS, reopened, f"{reference} is heropend.")
    raise CommandError(f"Commando '#{name.value}' wordt niet ondersteund.")  # pragma: no cover
