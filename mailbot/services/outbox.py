"""Queueing outgoing mail. The code that decides to send only writes an outbox row, in
its own transaction; the dispatch job delivers it (see dispatch.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from mailbot.domain.model import Address, Direction, MessageKind
from mailbot.outbound.compose import ComposedMail, compose, new_message_id
from mailbot.outbound.render import TemplateRenderer
from mailbot.persistence import outbox as outbox_queries
from mailbot.persistence.rows import insert_row
from mailbot.persistence.session import Session
from mailbot.persistence.tables import CaseMessageRow, CaseRow, OutboxRow


class Outbox:
    def __init__(self, renderer: TemplateRenderer, sender: Address, message_id_domain: str):
        self.renderer = renderer
        self.sender = sender
        self.domain = message_id_domain

    def enqueue(
        self,
        session: Session,
        *,
        key: str,
        kind: MessageKind,
        template: str,
        to: Sequence[Address],
        now: datetime,
        case: CaseRow | None = None,
        in_reply_to: str | None = None,
        references: Sequence[str] = (),
        auto_submitted: str = "auto-replied",
        context: Mapping[str, object] | None = None,
        new_key: bool = False,
        **values: object,
    ) -> bool:
        """Render and queue one mail; a second call with the same key does nothing (False).
        `new_key`: the key names a case opened in this transaction, so it cannot exist
        yet (one SELECT less per new case; the unique key still guards it)."""
        if not new_key and outbox_queries.key_exists(session, key):
            return False
        rendered = self.renderer.render(template, **{**(context or {}), **values})
        composed: ComposedMail = compose(
            sender=self.sender,
            to=to,
            rendered=rendered,
            message_id=new_message_id(self.domain),
            now=now,
            in_reply_to=in_reply_to,
            references=references,
            auto_submitted=auto_submitted,
        )
        insert_row(
            session,
            OutboxRow,
            key=key,
            case_id=case.id if case is not None else None,
            kind=kind.value,
            message_id=composed.message_id,
            mail_from=self.sender.email,
            recipients=",".join(composed.recipients),
            recipient_domain=_domain(composed) if kind is MessageKind.RECEIPT else None,
            arrived_at=case.received_at if kind is MessageKind.RECEIPT and case else None,
            subject=composed.subject,
            content=composed.content,
            status=outbox_queries.PENDING,
            attempts=0,
            next_attempt_at=now,
            last_error="",
            created_at=now,
        )
        if case is not None:
            self._sent_message(session, case, kind, composed, rendered.text, to, in_reply_to, now)
        return True

    def _sent_message(
        self,
        session: Session,
        case: CaseRow,
        kind: MessageKind,
        composed: ComposedMail,
        text: str,
        to: Sequence[Address],
        in_reply_to: str | None,
        now: datetime,
    ) -> None:
        """The case's record of the mail it was sent."""
        insert_row(
            session,
            CaseMessageRow,
            case_id=case.id,
            direction=Direction.OUT.value,
            kind=kind.value,
            message_id=composed.message_id,
            in_reply_to=in_reply_to or "",
            sender=str(self.sender),
            recipients=", ".join(str(a) for a in to),
            subject=composed.subject,
            at=now,
            body_text=text,
            raw_sha256=None,
        )

    def notify(
        self,
        session: Session,
        *,
        key: str,
        template: str,
        to: str,
        now: datetime,
        case: CaseRow | None = None,
        in_reply_to: str | None = None,
        context: Mapping[str, object] | None = None,
        new_key: bool = False,
        **values: object,
    ) -> bool:
        """A notice for staff (new case, quarantine, bounce, follow-up, failure)."""
        return self.enqueue(
            session,
            key=key,
            kind=MessageKind.NOTICE,
            template=template,
            to=[Address(to)],
            now=now,
            case=case,
            in_reply_to=in_reply_to,
            auto_submitted="auto-generated",
            context={**(context or {}), **values},
            new_key=new_key,
        )


def _domain(composed: ComposedMail) -> str | None:
    """The mail domain of a receipt's (only) recipient, for the per-domain limit."""
    return composed.recipients[0].rpartition("@")[2].lower() if composed.recipients else None


class SilentOutbox(Outbox):
    """An outbox that queues nothing: for importing a mailbox's backlog, where nobody may
    get a mail about the old mails (one summary afterwards goes through the real one)."""

    def enqueue(self, session: Session, **_values: object) -> bool:
        return False
