"""Reading commands out of a mail body: one command per line above the quoted history,
forgiving about what mail clients do to a line (non-breaking spaces, a trailing period,
capitals, bold markers), strict about meaning. #nieuw and #brief bring a block of citizen
details (Naam:, E-mail:, Adres:, Datum:, Onderwerp:) and the complaint text."""

from __future__ import annotations

import difflib
import re
from datetime import date

from mailbot.domain.commands.vocabulary import (
    CREATING,
    CitizenDetails,
    Command,
    CommandError,
    CommandName,
    ParsedCommands,
    command_name,
    fold,
    parse_outcome,
    parse_reason,
    reason_choices,
)
from mailbot.domain.quoting import split_quoted

# How close a '#word' must be to a command name to be reported as a typo rather than
# read as prose: "#ontvankelik" and "#dients" are typos, "#Zoersel" is a place.
TYPO_CUTOFF = 0.75

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


def _typo(word: str) -> str | None:
    """The error for a '#word' that is a close misspelling of a command; None when the
    word is just prose ("#Zoersel", "#gemeentebestuur")."""
    names = [c.value for c in CommandName]
    close = difflib.get_close_matches(fold(word), names, n=1, cutoff=TYPO_CUTOFF)
    if close:
        return f"Onbekend commando '#{word}'. Bedoel je '#{close[0]}'?"
    return None


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
                f"Kies uit: {reason_choices()}."
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
    field = _DETAIL_LABELS.get(fold(match[1]))
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

    A line that starts with '#' and a close misspelling of a command is an error; any
    other '#word' ("#Zoersel", "#1") and a '#' further on in a sentence are prose.
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
        word, argument = match[1], match[2].strip().strip("*_").strip()
        number = index + 1
        name = command_name(word)
        if name is None:
            typo = _typo(word)
            if typo is not None:
                command_lines.add(index)
                errors.append(f"Regel {number}: {typo}")
            continue
        command_lines.add(index)
        try:
            command = _make_command(name, argument, number)
        except CommandError as exc:
            errors.append(f"Regel {number}: {exc}")
            continue
        if name in CREATING:
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
