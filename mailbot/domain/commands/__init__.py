"""Commands the complaints coordinator writes in a mail ("#ontvankelijk", "#dienst omgeving"),
and the case state machine they drive: `vocabulary` (the words), `parse` (reading them out
of a mail), `rules` (what each does to a case, and the all-or-nothing plan of a mail)."""

from mailbot.domain.commands.parse import has_commands, parse_commands
from mailbot.domain.commands.rules import (
    NOTHING_DONE,
    CaseFacts,
    CommandPlan,
    Step,
    Transition,
    apply,
    plan_commands,
)
from mailbot.domain.commands.vocabulary import (
    CREATING,
    OUTCOME_LABELS,
    REASON_LABELS,
    CitizenDetails,
    Command,
    CommandError,
    CommandName,
    InadmissibleReason,
    Outcome,
    ParsedCommands,
    parse_outcome,
    parse_reason,
)

__all__ = [
    "CREATING",
    "NOTHING_DONE",
    "OUTCOME_LABELS",
    "REASON_LABELS",
    "CaseFacts",
    "CitizenDetails",
    "Command",
    "CommandError",
    "CommandName",
    "CommandPlan",
    "InadmissibleReason",
    "Outcome",
    "ParsedCommands",
    "Step",
    "Transition",
    "apply",
    "has_commands",
    "parse_commands",
    "parse_outcome",
    "parse_reason",
    "plan_commands",
]
