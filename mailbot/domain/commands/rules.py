"""The case state machine that commands drive, as a table from command name to rule, and
the pure plan of a command mail: which transitions its commands make, in order, or the one
reason why none is carried out (all or nothing)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from mailbot.domain.commands.vocabulary import (
    CREATING,
    OUTCOME_LABELS,
    REASON_LABELS,
    Command,
    CommandError,
    CommandName,
    parse_outcome,
    parse_reason,
)
from mailbot.domain.model import CaseState

STATE_LABELS: dict[CaseState, str] = {
    CaseState.RECEIVED: "ontvangen",
    CaseState.IN_PROGRESS: "in behandeling",
    CaseState.ANSWERED: "beantwoord",
    CaseState.CLOSED: "afgesloten",
    CaseState.IMPORTED: "geïmporteerd",
}
OPEN = frozenset({CaseState.RECEIVED, CaseState.IN_PROGRESS, CaseState.IMPORTED})
DONE = frozenset({CaseState.ANSWERED, CaseState.CLOSED})
NOTHING_DONE = "Niets uitgevoerd: verbeter de fout en stuur de mail opnieuw."
TOGETHER = "Niets uitgevoerd: de commando's hieronder horen samen."
REOPEN_FIRST = "heropen het eerst met #heropen."


@dataclass(frozen=True)
class Transition:
    state: CaseState
    admissible: bool | None
    message: str  # Dutch confirmation line for the coordinator


@dataclass(frozen=True)
class CaseFacts:
    """What the state machine needs to know of a case."""

    reference: str
    state: CaseState
    admissible: bool | None


Rule = Callable[[Command, CaseFacts], Transition]


def _refuse(case: CaseFacts, instead: str) -> CommandError:
    return CommandError(f"{case.reference} is {STATE_LABELS[case.state]}: {instead}")


def _open_only(case: CaseFacts) -> None:
    if case.state not in OPEN:
        raise _refuse(case, REOPEN_FIRST)


def _note(command: Command, case: CaseFacts) -> Transition:
    return Transition(case.state, case.admissible, f"Notitie toegevoegd aan {case.reference}.")


def _creating(command: Command, case: CaseFacts) -> Transition:
    raise CommandError(
        f"#{command.name.value} opent een nieuw dossier en kan niet op {case.reference} "
        "toegepast worden; stuur het in een nieuwe mail, niet als antwoord."
    )


def _admissible(command: Command, case: CaseFacts) -> Transition:
    _open_only(case)
    if case.admissible is True:
        raise CommandError(f"{case.reference} is al ontvankelijk verklaard.")
    return Transition(CaseState.IN_PROGRESS, True, f"{case.reference} is ontvankelijk verklaard.")


def _inadmissible(command: Command, case: CaseFacts) -> Transition:
    _open_only(case)
    reason = command.reason or parse_reason(command.argument)
    return Transition(
        CaseState.CLOSED,
        False,
        f"{case.reference} is onontvankelijk verklaard ({REASON_LABELS[reason]}) en afgesloten.",
    )


def _service(command: Command, case: CaseFacts) -> Transition:
    _open_only(case)
    # Asking a service for input says nothing about admissibility yet.
    return Transition(
        CaseState.IN_PROGRESS,
        case.admissible,
        f"Dienst '{command.argument}' is aangeduid voor {case.reference}.",
    )


def _answered(command: Command, case: CaseFacts) -> Transition:
    # Also on an answered case: mailbot marks a case answered when it sees the answer in
    # the sent folder; the coordinator then records the outcome afterwards.
    if case.state not in OPEN and case.state is not CaseState.ANSWERED:
        raise _refuse(case, REOPEN_FIRST)
    outcome = command.outcome or parse_outcome(command.argument)
    message = f"{case.reference} is beantwoord: {OUTCOME_LABELS[outcome]}."
    if case.admissible is not True:
        # A reasoned answer on the merits means the complaint was handled as admissible;
        # the yearly report must not count it as undecided.
        message += " Het dossier telt daarmee als ontvankelijk."
    return Transition(CaseState.ANSWERED, True, message)


def _close(command: Command, case: CaseFacts) -> Transition:
    if case.state is CaseState.CLOSED:
        raise CommandError(f"{case.reference} is al afgesloten.")
    if case.state is not CaseState.ANSWERED:
        raise _refuse(
            case,
            "beantwoord eerst (#beantwoord gegrond|deels-gegrond|ongegrond) "
            "of verklaar onontvankelijk (#onontvankelijk <reden>).",
        )
    return Transition(CaseState.CLOSED, case.admissible, f"{case.reference} is afgesloten.")


def _reopen(command: Command, case: CaseFacts) -> Transition:
    if case.state not in DONE:
        raise CommandError(f"{case.reference} is nog open ({STATE_LABELS[case.state]}).")
    # Reopening an inadmissible case reopens that decision too: the coordinator declares
    # it (on)ontvankelijk again.
    reopened = None if case.admissible is False else case.admissible
    return Transition(CaseState.IN_PROGRESS, reopened, f"{case.reference} is heropend.")


RULES: dict[CommandName, Rule] = {
    CommandName.ONTVANKELIJK: _admissible,
    CommandName.ONONTVANKELIJK: _inadmissible,
    CommandName.DIENST: _service,
    CommandName.BEANTWOORD: _answered,
    CommandName.AFSLUITEN: _close,
    CommandName.HEROPEN: _reopen,
    CommandName.NOTITIE: _note,
    **{name: _creating for name in CREATING},
}


def apply(
    command: Command, state: CaseState, admissible: bool | None, reference: str
) -> Transition:
    """The case after the command, or CommandError (Dutch) saying what is possible instead."""
    return RULES[command.name](command, CaseFacts(reference, state, admissible))


@dataclass(frozen=True)
class Step:
    command: Command
    transition: Transition


@dataclass(frozen=True)
class CommandPlan:
    steps: tuple[Step, ...]
    errors: tuple[str, ...]  # when not empty, nothing is carried out

    @property
    def ok(self) -> bool:
        return not self.errors


def plan_commands(
    commands: Sequence[Command], case: CaseFacts, services: Collection[str]
) -> CommandPlan:
    """The transitions the commands make one after the other, or why none is made: the
    first command that is not allowed (in the state the ones before it leave) stops all."""
    steps: list[Step] = []
    for command in commands:
        try:
            if command.name is CommandName.DIENST:
                _known_service(command, services)
            transition = apply(command, case.state, case.admissible, case.reference)
        except CommandError as exc:
            errors = [str(exc)]
            if len(commands) > 1:
                errors.insert(0, TOGETHER)
            return CommandPlan((), tuple(errors))
        steps.append(Step(command, transition))
        case = CaseFacts(case.reference, transition.state, transition.admissible)
    return CommandPlan(tuple(steps), ())


def _known_service(command: Command, services: Collection[str]) -> None:
    if command.argument.strip().lower() not in services:
        known = ", ".join(sorted(services)) or "(geen ingesteld)"
        raise CommandError(f"Onbekende dienst '{command.argument}'. Bekend: {known}.")
