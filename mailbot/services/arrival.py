"""The two values every intake handler shares: the mail as it arrived (the mailbox
message, its stored original and the parsed mail) and what the handler made of it."""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.domain.model import FetchedMail, InboundMail, Outcome
from mailbot.persistence.tables import CaseRow


@dataclass(frozen=True)
class Arrival:
    item: FetchedMail
    raw_sha: str  # the stored original
    mail: InboundMail


@dataclass(frozen=True)
class Handled:
    outcome: Outcome
    case: CaseRow | None = None
    reason: str = ""
