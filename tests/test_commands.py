"""Commands in the coordinator's mail, and the case state machine they drive."""

from __future__ import annotations

from datetime import date

import pytest

from mailbot.domain.commands import (
    REASON_LABELS,
    CitizenDetails,
    Command,
    CommandError,
    CommandName,
    CommandPlan,
    InadmissibleReason,
    Outcome,
    apply,
    has_commands,
    parse_commands,
    parse_outcome,
    parse_reason,
)
from mailbot.domain.model import CaseState

REF = "KL-2026-0042"


def only(body: str) -> Command:
    parsed = parse_commands(body)
    assert parsed.errors == ()
    assert len(parsed.commands) == 1
    return parsed.commands[0]


# --- parsing single commands ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "argument"),
    [
        ("#ontvankelijk", CommandName.ONTVANKELIJK, ""),
        ("#Ontvankelijk.", CommandName.ONTVANKELIJK, ""),
        ("   #ONTVANKELIJK", CommandName.ONTVANKELIJK, ""),
        ("\u00a0#ontvankelijk\u00a0", CommandName.ONTVANKELIJK, ""),
        ("\u200b#afsluiten", CommandName.AFSLUITEN, ""),
        ("**#afsluiten**", CommandName.AFSLUITEN, ""),
        ("\\#heropen", CommandName.HEROPEN, ""),
        ("#heropenen", CommandName.HEROPEN, ""),
        ("#dienst omgeving", CommandName.DIENST, "omgeving"),
        ("#Dienst: Burgerzaken.", CommandName.DIENST, "Burgerzaken"),
        ("#dienst\u00a0Vrije\u00a0Tijd", CommandName.DIENST, "Vrije Tijd"),
        # a note is kept exactly, final period included
        ("#notitie Dienst gebeld, belt terug.", CommandName.NOTITIE, "Dienst gebeld, belt terug."),
        ("#nota gebeld", CommandName.NOTITIE, "gebeld"),
    ],
)
def test_command_lines_are_read_forgivingly(line: str, name: CommandName, argument: str) -> None:
    command = only(f"Hallo,\n\n{line}\n\nGroeten,\nEls")
    assert (command.name, command.argument, command.line) == (name, argument, 3)


@pytest.mark.parametrize(
    ("argument", "reason"),
    [
        ("melding", InadmissibleReason.MELDING),
        ("Melding.", InadmissibleReason.MELDING),
        ("melding: doorgestuurd naar het meldpunt", InadmissibleReason.MELDING),
        ("ouder", InadmissibleReason.OUD),
        ("ouder dan één jaar", InadmissibleReason.OUD),
        ("gerecht", InadmissibleReason.GERECHT),
        ("gerechtelijke-procedure", InadmissibleReason.GERECHT),
        ("sociale media", InadmissibleReason.SOCIALE_MEDIA),
        ("beleid", InadmissibleReason.BELEID),
        ("geen contact met de dienst", InadmissibleReason.GEEN_CONTACT),
        ("info", InadmissibleReason.INFORMATIE),
        ("ongegrond", InadmissibleReason.ONGEGROND),
        ("anoniem", InadmissibleReason.ANONIEM),
    ],
)
def test_inadmissible_reason_codes_prefixes_and_synonyms(
    argument: str, reason: InadmissibleReason
) -> None:
    command = only(f"#onontvankelijk {argument}")
    assert command.reason is reason
    assert command.argument == argument.rstrip(".")


@pytest.mark.parametrize("reason", list(InadmissibleReason))
def test_every_reason_code_parses_and_has_a_label(reason: InadmissibleReason) -> None:
    assert parse_reason(reason.value) is reason
    assert parse_reason(reason.value.upper().replace("-", " ")) is reason
    assert REASON_LABELS[reason]


def test_thirteen_reasons_as_on_the_municipal_page() -> None:
    assert len(InadmissibleReason) == 13
    assert REASON_LABELS[InadmissibleReason.MELDING].startswith("een melding")


@pytest.mark.parametrize("text", ["", "xyz", "on", "misschien"])
def test_unknown_reason_lists_the_valid_codes(text: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_reason(text)
    assert "melding" in str(raised.value) and "sociale-media" in str(raised.value)


def test_misspelt_reason_gets_a_suggestion() -> None:
    with pytest.raises(CommandError, match="Bedoel je 'suggestie'"):
        parse_reason("sugestie")


@pytest.mark.parametrize(
    ("argument", "outcome"),
    [
        ("gegrond", Outcome.GEGROND),
        ("Gegrond.", Outcome.GEGROND),
        ("deels-gegrond", Outcome.DEELS_GEGROND),
        ("deels gegrond", Outcome.DEELS_GEGROND),
        ("gedeeltelijk gegrond", Outcome.DEELS_GEGROND),
        ("ongegrond", Outcome.ONGEGROND),
        ("niet gegrond", Outcome.ONGEGROND),
        ("ongegrond, excuses toch aangeboden", Outcome.ONGEGROND),
    ],
)
def test_answer_outcomes(argument: str, outcome: Outcome) -> None:
    assert only(f"#beantwoord {argument}").outcome is outcome
    assert parse_outcome(argument) is outcome


# --- errors the coordinator gets back -----------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("#ontvangelijk", "Onbekend commando '#ontvangelijk'. Bedoel je '#ontvankelijk'?"),
        ("#afslutien", "Bedoel je '#afsluiten'?"),
        ("#dienst", "#dienst heeft een naam nodig, bv. #dienst omgeving"),
        ("#dienst.", "#dienst heeft een naam nodig"),
        ("#notitie", "#notitie heeft een tekst nodig"),
        ("#onontvankelijk", "#onontvankelijk heeft een reden nodig"),
        ("#onontvankelijk boos", "Onbekende reden 'boos'"),
        ("#beantwoord", "#beantwoord heeft een uitkomst nodig"),
        ("#beantwoord goed", "Onbekende uitkomst 'goed'"),
    ],
)
def test_bad_command_lines_are_reported_with_their_line(line: str, message: str) -> None:
    parsed = parse_commands(f"Dag,\n{line}\n")
    assert parsed.commands == ()
    assert len(parsed.errors) == 1
    assert parsed.errors[0].startswith("Regel 2: ")
    assert message in parsed.errors[0]


@pytest.mark.parametrize(
    "body",
    [
        "Ik zag #dienst in de tekst staan, maar dat is geen commando.",
        "Zie ticket #123 bij ICT.",
        "#\n# \n#1 prioriteit",
        "Geen commando's hier.",
        "",
    ],
)
def test_prose_with_hashes_is_not_a_command(body: str) -> None:
    parsed = parse_commands(body)
    assert (parsed.commands, parsed.errors) == ((), ())
    assert not has_commands(body)


@pytest.mark.parametrize(
    "history",
    [
        "> #afsluiten\n> #heropen\n",
        "Op di 24 nov. 2026 om 10:15 schreef Klachten <klachten@zoersel.be>:\n#afsluiten\n",
        "________________________________\nVan: Klachten\nVerzonden: di\nAan: Els\n"
        "Onderwerp: Nieuwe klacht KL-2026-0042\n\nAntwoord met:\n#ontvankelijk\n#afsluiten\n",
        "-----Oorspronkelijk bericht-----\n#afsluiten\n",
        "---------- Doorgestuurd bericht ---------\n#verkeerd\n",
    ],
)
def test_commands_in_the_quoted_history_are_ignored(history: str) -> None:
    parsed = parse_commands(f"#dienst omgeving\n\n{history}")
    assert [c.name for c in parsed.commands] == [CommandName.DIENST]
    assert parsed.errors == ()


def test_several_commands_in_order_with_line_numbers() -> None:
    body = "Dag,\n#ontvankelijk\n#dienst burgerzaken\n#notitie dringend\n\nEls"
    parsed = parse_commands(body)
    assert [(c.name, c.line) for c in parsed.commands] == [
        (CommandName.ONTVANKELIJK, 2),
        (CommandName.DIENST, 3),
        (CommandName.NOTITIE, 4),
    ]
    assert has_commands(body)


def test_good_commands_survive_next_to_a_bad_one() -> None:
    parsed = parse_commands("#dienst omgeving\n#ontvangelijk")
    assert [c.name for c in parsed.commands] == [CommandName.DIENST]
    assert parsed.errors == (
        "Regel 2: Onbekend commando '#ontvangelijk'. Bedoel je '#ontvankelijk'?",
    )
    assert has_commands("#ontvangelijk")


def test_contradictory_admissibility_is_an_error() -> None:
    parsed = parse_commands("#ontvankelijk\n#onontvankelijk melding")
    assert any("spreken elkaar tegen" in e for e in parsed.errors)


# --- #nieuw and #brief ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-11-20", date(2026, 11, 20)),
        ("20/11/2026", date(2026, 11, 20)),
        ("20-11-2026", date(2026, 11, 20)),
        ("3/2/2026", date(2026, 2, 3)),
    ],
)
def test_letter_with_citizen_details(written: str, expected: date) -> None:
    body = (
        "#brief\n"
        "Naam: An Peeters\n"
        "Adres: Kerkstraat 1, 2980 Zoersel\n"
        f"Datum: {written}\n"
        "Onderwerp: Parkeerkaart niet ontvangen\n"
        "\n"
        "Ik vroeg in oktober een parkeerkaart aan.\n"
        "Niemand antwoordt.\n"
        "#dienst burgerzaken\n"
    )
    parsed = parse_commands(body)
    assert parsed.errors == ()
    assert [c.name for c in parsed.commands] == [CommandName.BRIEF, CommandName.DIENST]
    assert parsed.creates_case
    assert parsed.details == CitizenDetails(
        name="An Peeters",
        email=None,
        address="Kerkstraat 1, 2980 Zoersel",
        received_on=expected,
        subject="Parkeerkaart niet ontvangen",
        text="Ik vroeg in oktober een parkeerkaart aan.\nNiemand antwoordt.",
    )


def test_new_case_from_a_forwarded_mail_keeps_the_forward_as_text() -> None:
    body = (
        "#nieuw\n"
        "Naam: Jan Janssens\n"
        "E-mail: Jan <jan.janssens@telenet.be>\n"
        "\n"
        "---------- Doorgestuurd bericht ---------\n"
        "Van: Jan <jan.janssens@telenet.be>\n"
        "#geen-commando\n"
        "Het loket was dicht.\n"
    )
    parsed = parse_commands(body)
    assert parsed.errors == ()
    assert parsed.details is not None
    assert parsed.details.email == "jan.janssens@telenet.be"
    assert parsed.details.received_on is None
    assert parsed.details.subject is None
    assert parsed.details.text.endswith("#geen-commando\nHet loket was dicht.")


def test_subject_may_follow_the_command() -> None:
    parsed = parse_commands("#brief Loket dicht\nNaam: An\n\nTekst")
    assert parsed.details is not None and parsed.details.subject == "Loket dicht"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("#nieuw\nE-mail: jan@x.be\n\nTekst", "#nieuw heeft een naam nodig"),
        ("#brief\nNaam: An\nDatum: 31/02/2026\n", "Datum '31/02/2026' bestaat niet"),
        ("#brief\nNaam: An\nDatum: gisteren\n", "Datum 'gisteren' niet begrepen"),
        ("#nieuw\nNaam: An\nE-mail: an at telenet\n", "geen geldig adres"),
        ("#nieuw\nNaam: An\n#brief\nNaam: Jan\n", "Eén #nieuw of #brief per mail"),
    ],
)
def test_bad_citizen_details_are_reported(body: str, message: str) -> None:
    parsed = parse_commands(body)
    assert any(message in e for e in parsed.errors), parsed.errors


# --- the state machine ---------------------------------------------------------------------

R, P, A, C = CaseState.RECEIVED, CaseState.IN_PROGRESS, CaseState.ANSWERED, CaseState.CLOSED


def cmd(line: str) -> Command:
    return only(line)


@pytest.mark.parametrize(
    ("line", "state", "admissible", "new_state", "new_admissible", "message"),
    [
        ("#ontvankelijk", R, None, P, True, f"{REF} is ontvankelijk verklaard."),
        # a service was asked first: admissibility is still open
        ("#ontvankelijk", P, None, P, True, f"{REF} is ontvankelijk verklaard."),
        ("#onontvankelijk melding", R, None, C, False, "een melding (bv. afval"),
        ("#onontvankelijk anoniem", P, True, C, False, "onontvankelijk verklaard (anoniem)"),
        ("#dienst omgeving", R, None, P, None, f"Dienst 'omgeving' is aangeduid voor {REF}."),
        ("#dienst omgeving", P, True, P, True, "Dienst 'omgeving'"),
        ("#beantwoord gegrond", P, True, A, True, f"{REF} is beantwoord: gegrond."),
        ("#beantwoord deels gegrond", R, None, A, True, "telt daarmee als ontvankelijk"),
        ("#afsluiten", A, True, C, True, f"{REF} is afgesloten."),
        ("#heropen", A, True, P, True, f"{REF} is heropend."),
        ("#heropen", C, True, P, True, f"{REF} is heropend."),
        # reopening an inadmissible case reopens that decision
        ("#heropen", C, False, P, None, f"{REF} is heropend."),
        ("#notitie gebeld", C, False, C, False, f"Notitie toegevoegd aan {REF}."),
        ("#notitie gebeld", R, None, R, None, "Notitie toegevoegd"),
    ],
)
def test_allowed_transitions(
    line: str,
    state: CaseState,
    admissible: bool | None,
    new_state: CaseState,
    new_admissible: bool | None,
    message: str,
) -> None:
    result = apply(cmd(line), state, admissible, REF)
    assert (result.state, result.admissible) == (new_state, new_admissible)
    assert message in result.message


@pytest.mark.parametrize(
    ("line", "state", "admissible", "message"),
    [
        ("#ontvankelijk", P, True, "is al ontvankelijk verklaard"),
        ("#ontvankelijk", C, False, "heropen het eerst met #heropen"),
        ("#onontvankelijk melding", A, True, "heropen het eerst"),
        ("#dienst omgeving", C, True, "heropen het eerst"),
        ("#afsluiten", R, None, "Beantwoord eerst (#beantwoord"),
        ("#afsluiten", P, True, "of verklaar onontvankelijk (#onontvankelijk <reden>)"),
        ("#afsluiten", C, True, "is al afgesloten"),
        ("#heropen", R, None, "is nog open"),
        ("#heropen", P, True, "is nog open"),
        ("#nieuw", P, True, "opent een nieuw dossier"),
    ],
)
def test_refused_transitions_say_what_to_do_instead(
    line: str, state: CaseState, admissible: bool | None, message: str
) -> None:
    body = f"{line}\nNaam: An" if line == "#nieuw" else line
    command = parse_commands(body).commands[0]
    with pytest.raises(CommandError) as raised:
        apply(command, state, admissible, REF)
    assert message.lower() in str(raised.value).lower()
    assert REF in str(raised.value)


def test_a_full_case_lifecycle() -> None:
    state, admissible = R, None
    for line in ("#dienst omgeving", "#ontvankelijk", "#beantwoord ongegrond", "#afsluiten"):
        result = apply(cmd(line), state, admissible, REF)
        state, admissible = result.state, result.admissible
    assert (state, admissible) == (C, True)


def test_the_outcome_can_be_recorded_on_a_case_already_answered_from_the_sent_folder() -> None:
    command = parse_commands("#beantwoord ongegrond").commands[0]
    done = apply(command, CaseState.ANSWERED, True, "KL-2026-0042")
    assert done.state is CaseState.ANSWERED and "ongegrond" in done.message


def test_our_own_staff_mails_hold_no_command_lines() -> None:
    """A reply that quotes a reminder or a confirmation without quote markers must not
    replay the commands our help texts mention."""
    from pathlib import Path

    templates = Path(__file__).resolve().parent.parent / "templates"
    for template in sorted(templates.glob("*.txt")):
        parsed = parse_commands(template.read_text(encoding="utf-8"))
        assert parsed.commands == () and parsed.errors == (), template.name


# --- the plan of a command mail: pure, all or nothing ---------------------------------------


def _plan(
    body: str, state: CaseState = CaseState.RECEIVED, admissible: bool | None = None
) -> CommandPlan:
    from mailbot.domain.commands import CaseFacts, plan_commands

    parsed = parse_commands(body)
    assert not parsed.errors
    facts = CaseFacts("KL-2026-0042", state, admissible)
    return plan_commands(parsed.commands, facts, {"omgeving": "omgeving@gemeente.example"})


def test_plan_runs_commands_in_the_state_the_previous_ones_leave() -> None:
    plan = _plan("#ontvankelijk\n#beantwoord gegrond\n#afsluiten")
    assert plan.ok
    assert [s.transition.state for s in plan.steps] == [
        CaseState.IN_PROGRESS,
        CaseState.ANSWERED,
        CaseState.CLOSED,
    ]


def test_plan_refuses_all_when_one_command_is_not_allowed() -> None:
    plan = _plan("#ontvankelijk\n#afsluiten")
    assert not plan.ok and plan.steps == ()
    assert plan.errors[0] == "Niets uitgevoerd: de commando's hieronder horen samen."
    assert "beantwoord eerst" in plan.errors[1]


def test_plan_names_the_known_services_for_an_unknown_one() -> None:
    plan = _plan("#dienst wegen")
    assert plan.errors == ("Onbekende dienst 'wegen'. Bekend: omgeving.",)


@pytest.mark.parametrize(
    "line", ["#Zoersel", "#1 in Vlaanderen", "#gemeentebestuur", "#1", "#MeToo en zo"]
)
def test_a_hash_word_that_names_no_command_is_prose(line: str) -> None:
    """A reasoned answer may contain a hashtag or a place name after '#': that is text,
    not a failed command (issue 10.2)."""
    parsed = parse_commands(f"Beste,\n{line}\nMet vriendelijke groeten")
    assert parsed.commands == () and parsed.errors == ()
