"""Intake: every message in the complaints folder becomes a case, joins its case, or goes
to quarantine with the reason. A mail's route reads top to bottom in `process`:

    fetch (run_pass) -> parse -> classify (domain/classify.py, pure) -> carry out (one
    handler per decision: citizen.py, staffmail.py) -> record -> move (run_pass)

One database transaction per batch, a savepoint per message (one bad mail is rolled back
and quarantined alone); a message is only moved on the server after the transaction that
stored it committed (never lose mail), and the (folder, UIDVALIDITY, UID) record makes
a second pass after a crash a no-op. The sent folder is only read."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mailbot.config import Config
from mailbot.domain.autoreply import ReplyPolicy
from mailbot.domain.classify import (
    Bounce,
    CaseView,
    Duplicate,
    Earlier,
    FollowUp,
    Form,
    Ignore,
    IntakeRules,
    NewCase,
    RefusedCommands,
    SentAnswer,
    StaffCommands,
    classify,
)
from mailbot.domain.identity import bounded_mail, content_fingerprint
from mailbot.domain.model import CaseState, FetchedMail, InboundMail, Outcome
from mailbot.domain.ports import Clock, Mailbox
from mailbot.domain.reference import quoted_receipt_references
from mailbot.inbound.parse.ahead import ParseAhead, Parsed, ParseFailure, parse_outcome
from mailbot.persistence import audit
from mailbot.persistence import cases as case_queries
from mailbot.persistence.blobs import store_blob
from mailbot.persistence.mailbox import (
    find_mailbox_item,
    folder_state,
    seen_before,
    stored_items,
)
from mailbot.persistence.rows import insert_row
from mailbot.persistence.session import (
    DatabaseError,
    Session,
    Sessions,
    UnstorableValue,
    WriteConflict,
)
from mailbot.persistence.tables import CaseRow, IntakeRecordRow
from mailbot.services.arrival import Arrival, Handled
from mailbot.services.citizen import CitizenMail
from mailbot.services.notices import StaffNotices
from mailbot.services.outbox import Outbox, SilentOutbox
from mailbot.services.sentfolder import SentFolder
from mailbot.services.staffmail import StaffMail

log = logging.getLogger(__name__)

Handler = Callable[[Session, Arrival, Any], Handled]

# A batch's transaction holds the database's write lock (SQLite): it commits at least this
# often, so that the delivery job and CLI commands beside the daemon never wait long.
COMMIT_EVERY = 0.25  # seconds: delivery records each "sent" in a commit of its own, and waits


@dataclass(frozen=True)
class IntakeResult:
    outcome: Outcome
    destination: str | None  # the folder the message moves to; None: it stays
    reference: str | None = None
    reason: str = ""


@dataclass
class PassStats:
    seen: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    moved: int = 0


def intake_rules(config: Config) -> IntakeRules:
    """What classification needs of the configuration."""
    own = frozenset({config.smtp.from_address.lower(), config.mailbox.username.lower()})
    return IntakeRules(
        staff=frozenset(config.staff.addresses),
        authserv_ids=frozenset(config.staff.authserv_ids),
        sent_folder=config.mailbox.sent_folder,
        message_id_domain=config.message_id_domain,
        reply_policy=ReplyPolicy(own, config.message_id_domain),
        form_sender=config.form.sender.lower() if config.form is not None else None,
    )


class _Stored:
    """What intake already knows about one mail, read inside its transaction (`Known`)."""

    def __init__(self, session: Session, prefix: str, fingerprint: str) -> None:
        self.session = session
        self.prefix = prefix
        self.fingerprint = fingerprint  # of the mail being classified

    def earlier(self, mail: InboundMail) -> Earlier | None:
        seen = seen_before(self.session, mail.message_id, self.fingerprint)
        if seen.sent_by_us:
            return Earlier(Outcome.NO_CASE.value, "mailbot sent it")
        return None if seen.copy is None else Earlier(seen.copy.outcome, seen.copy.reason)

    def thread_case(self, mail: InboundMail) -> CaseView | None:
        ids = [*mail.in_reply_to, *reversed(mail.references)]
        case = case_queries.find_thread_case(self.session, mail.subject, ids, self.prefix)
        for ref in () if case else quoted_receipt_references(mail.body_text, self.prefix):
            case = case_queries.find_case_by_reference(self.session, str(ref))
            if case is not None:
                break
        return _view(case)

    def case_of(self, message_ids: Sequence[str]) -> CaseView | None:
        return _view(case_queries.find_case_by_message_ids(self.session, message_ids))


def _view(case: CaseRow | None) -> CaseView | None:
    if case is None:
        return None
    return CaseView(case.id, case.reference, case.citizen_email)


@dataclass(frozen=True)
class Backlog:
    """Importing the mail already in the mailbox at go-live: the mail before `before`
    becomes cases in state `imported` (or joins its case), nobody is mailed, no command
    in it is carried out. A dry run stores and moves nothing."""

    before: datetime
    dry_run: bool = False


class IntakeService:
    def __init__(
        self,
        config: Config,
        sessions: Sessions,
        outbox: Outbox,
        clock: Clock,
        sent: SentFolder | None = None,
        backlog: Backlog | None = None,
        smtputf8: Callable[[], bool] | None = None,
        ahead: ParseAhead | None = None,
    ) -> None:
        """smtputf8 asks the SMTP server whether it offers SMTPUTF8 (RFC 6531), before a
        receipt to an internationalised address is queued; None: nobody can tell here.
        ahead parses a batch's mails in a worker process (None: in this one)."""
        self.config = config
        self.ahead = ParseAhead(workers=0) if ahead is None else ahead
        self.sessions = sessions
        self.clock = clock
        self.sent = SentFolder(config.mailbox) if sent is None else sent
        self.backlog = backlog
        self.rules = intake_rules(config)
        new_state = CaseState.RECEIVED
        if backlog is not None:
            outbox, new_state = (
                SilentOutbox(outbox.renderer, outbox.sender, outbox.domain),
                CaseState.IMPORTED,
            )
        self.notices = StaffNotices(config, outbox, clock)
        citizen = CitizenMail(config, outbox, self.notices, clock, new_state, smtputf8)
        staff = StaffMail(config, outbox, self.notices, clock)
        self.handlers: dict[type, Handler] = {
            Duplicate: _recorded(Outcome.DUPLICATE),
            Ignore: _recorded(Outcome.NO_CASE),
            Bounce: citizen.bounce,
            Form: citizen.form,
            FollowUp: citizen.follow_up,
            NewCase: citizen.new_case,
            StaffCommands: staff.commands,
            RefusedCommands: staff.refused,
            SentAnswer: staff.sent_answer,
        }
        if backlog is not None:
            self.handlers[StaffCommands] = self.handlers[RefusedCommands] = _not_carried_out

    # -- one message ------------------------------------------------------------------

    def process(
        self,
        item: FetchedMail,
        session: Session,
        parsed: Parsed | None = None,
        stored: Mapping[int, IntakeRecordRow] | None = None,
    ) -> IntakeResult:
        """Store one mailbox message and decide what it is, in a SAVEPOINT of the batch's
        transaction in `session`; the caller commits. Idempotent.

        A database that is down raises (the batch is rolled back, its mail stays in the
        inbox and is tried again). Any other failure is a bug that this one mail triggers:
        its savepoint is rolled back and the mail goes to quarantine with the reason, so
        that one odd mail never blocks the inbox (Mailman's "shunt" queue). `parsed`: the
        mail already parsed (ParseAhead); None parses it here. `stored`: what intake
        already stored of the batch's UIDs, read for the batch; None looks it up here.
        """
        if self.backlog is not None and self.backlog.dry_run:
            with self.sessions() as dry:
                try:
                    return self._process(dry, item, parsed, stored)
                finally:
                    dry.rollback()
        for attempt in (1, 2):
            try:
                with session.begin_nested():
                    return self._process(session, item, parsed, stored)
            except WriteConflict:
                # Another process stored the same message or blob at the same moment:
                # roll back and look again; the second pass sees its work.
                if attempt == 2:
                    raise
                stored = None  # read before the other writer's commit: look again
                log.info("intake: uid=%s conflict with a concurrent writer, retrying", item.uid)
            except UnstorableValue as exc:
                log.warning(
                    "intake: uid=%s/%s cannot be stored as read", item.uidvalidity, item.uid
                )
                return self._shunt(session, item, f"cannot be stored: {exc.orig!r}"[:500])
            except DatabaseError:
                raise
            except Exception as exc:  # loop boundary: one mail, one failure
                log.exception("intake: uid=%s/%s failed", item.uidvalidity, item.uid)
                return self._shunt(session, item, f"internal error while processing: {exc!r}")
        raise AssertionError("unreachable")

    def _shunt(self, session: Session, item: FetchedMail, reason: str) -> IntakeResult:
        """Quarantine a mail whose processing failed, in a savepoint of its own."""
        with session.begin_nested():
            raw_sha = store_blob(session, item.raw)
            return self._quarantine(session, item, raw_sha, reason)

    def _process(
        self,
        session: Session,
        item: FetchedMail,
        parsed: Parsed | None,
        stored: Mapping[int, IntakeRecordRow] | None,
    ) -> IntakeResult:
        if stored is None:
            done = find_mailbox_item(session, item.folder, item.uidvalidity, item.uid)
        else:
            done = stored.get(item.uid)
        if done is not None:
            # Stored before a crash or a failed MOVE: only the move is left to do.
            return IntakeResult(Outcome(done.outcome), done.moved_to, reason="already stored")
        raw_sha = store_blob(session, item.raw)
        if item.oversize is not None:
            limit = self.config.intake.max_size_mb
            reason = (
                f"too large to read: {item.oversize / 1e6:.1f} MB, more than [intake] "
                f"max_size_mb = {limit}; only its header block is stored"
            )
            return self._quarantine(session, item, raw_sha, reason)
        outcome = parse_outcome(item.raw) if parsed is None else parsed
        if isinstance(outcome, ParseFailure):
            if outcome.crashed:
                log.error("intake: uid=%s parser crashed\n%s", item.uid, outcome.trace.rstrip())
            return self._quarantine(session, item, raw_sha, outcome.reason)
        mail = bounded_mail(outcome)
        fingerprint = content_fingerprint(mail)
        known = _Stored(session, self.config.cases.reference_prefix, fingerprint)
        rules = self.rules
        if rules.sent_folder != self.sent.name:  # found on the server after start
            rules = self.rules = replace(rules, sent_folder=self.sent.name)
        decision = classify(mail, item.folder, known, rules)
        arrival = Arrival(item, raw_sha, mail)
        handled = self.handlers[type(decision)](session, arrival, decision)
        if handled.case is not None:
            self._audit(session, decision, handled, mail)
        return self._record(session, item, raw_sha, mail, handled, fingerprint)

    def _audit(
        self, session: Session, decision: object, handled: Handled, mail: InboundMail
    ) -> None:
        """What intake decided about a case, and by which rule (classify's decision)."""
        assert handled.case is not None
        rule = type(decision).__name__
        if isinstance(decision, NewCase):
            rule += f"; no receipt: {handled.reason}" if handled.reason else "; receipt sent"
        elif handled.reason:
            rule += f"; {handled.reason}"
        audit.record(
            session,
            handled.case.id,
            self.clock(),
            handled.outcome.value,
            after=handled.case.state if isinstance(decision, NewCase | Form) else None,
            rule=rule,
            message_id=mail.message_id,
        )

    # -- outcomes ---------------------------------------------------------------------

    def _destination(self, item: FetchedMail, outcome: Outcome) -> str | None:
        if item.folder == self.sent.name:
            return None  # the sent folder belongs to the coordinator: read, never move
        if outcome is Outcome.QUARANTINED:
            return self.config.mailbox.quarantine_folder
        return self.config.mailbox.processed_folder

    def _record(
        self,
        session: Session,
        item: FetchedMail,
        raw_sha: str,
        mail: InboundMail | None,
        handled: Handled,
        fingerprint: str | None = None,  # of `mail` (domain/identity.py)
    ) -> IntakeResult:
        outcome, case, reason = handled.outcome, handled.case, handled.reason
        destination = self._destination(item, outcome)
        insert_row(
            session,
            IntakeRecordRow,
            folder=item.folder,
            uidvalidity=item.uidvalidity,
            uid=item.uid,
            message_id=mail.message_id if mail else f"{raw_sha[:32]}@mailbot.invalid",
            fingerprint=fingerprint,
            raw_sha256=raw_sha,
            arrived_at=item.arrived_at,
            outcome=outcome.value,
            reason=reason,
            case_id=case.id if case else None,
            processed_at=self.clock(),
            moved_to=destination,
        )
        log.info(
            "intake: %s uid=%s/%s outcome=%s case=%s%s",
            item.folder,
            item.uidvalidity,
            item.uid,
            outcome.value,
            case.reference if case else "-",
            f" reason={reason}" if reason else "",
        )
        return IntakeResult(outcome, destination, case.reference if case else None, reason)

    def _quarantine(
        self, session: Session, item: FetchedMail, raw_sha: str, reason: str
    ) -> IntakeResult:
        handled = Handled(Outcome.QUARANTINED, None, reason)
        result = self._record(session, item, raw_sha, None, handled)
        self.notices.quarantine(session, item, raw_sha, reason, result.destination or item.folder)
        return result

    # -- a whole folder -----------------------------------------------------------------

    def run_pass(self, mailbox: Mailbox, stop: threading.Event | None = None) -> PassStats:
        """The new messages in the sent folder, if one is watched, then every message now
        in the complaints folder, batch by batch. The sent folder goes first: a command
        the coordinator sent from the shared mailbox to itself is carried out from its
        trusted copy there, and its inbox copy is then a duplicate, not a refusal."""
        cfg = self.config.mailbox
        stats = PassStats()
        mailbox.ensure_folders([cfg.processed_folder, cfg.quarantine_folder])
        sent = self.sent.find(mailbox) if self.backlog is None else None
        if sent:
            uidvalidity, uids = mailbox.open_folder(sent)
            new = self.sent.unread(self.sessions, sent, uidvalidity, uids)
            self._run_folder(mailbox, sent, new, stats, stop)
        if not (stop is not None and stop.is_set()):
            _uidvalidity, uids = mailbox.open_folder(cfg.folder)
            self._run_folder(mailbox, cfg.folder, uids, stats, stop)
        return stats

    def _run_folder(
        self,
        mailbox: Mailbox,
        folder: str,
        uids: list[int],
        stats: PassStats,
        stop: threading.Event | None,
    ) -> None:
        cfg = self.config.mailbox
        for start in range(0, len(uids), cfg.batch_size):
            batch = uids[start : start + cfg.batch_size]
            to_move: dict[str, list[int]] = defaultdict(list)
            try:
                self._run_batch(mailbox, folder, batch, stats, stop, to_move)
            finally:
                # Whatever was committed leaves the inbox, also when the batch broke off.
                for destination, moved in to_move.items():
                    mailbox.move(moved, destination)
                    stats.moved += len(moved)
            if stop is not None and stop.is_set():
                log.info("intake: stopping after %s messages", stats.seen)
                break

    def _run_batch(
        self,
        mailbox: Mailbox,
        folder: str,
        batch: list[int],
        stats: PassStats,
        stop: threading.Event | None,
        to_move: dict[str, list[int]],
    ) -> None:
        """One transaction for the batch, a savepoint per mail (see `process`); it commits
        at the end, or sooner once it has held the write lock for COMMIT_EVERY seconds, and
        only committed mail is put in `to_move`."""
        uncommitted: list[tuple[int, str]] = []
        items = list(mailbox.fetch(folder, batch))
        if self.backlog is not None:  # mail after the go-live moment is the daemon's work
            items = [item for item in items if item.arrived_at < self.backlog.before]
        with self.sessions() as session:
            stored = None  # a dry run reads in a session of its own per mail (`process`)
            if self.backlog is None or not self.backlog.dry_run:
                uidvalidity = items[0].uidvalidity if items else 0
                stored = stored_items(session, folder, uidvalidity, [i.uid for i in items])
            began = time.monotonic()
            for item, parsed in zip(items, self.ahead.outcomes(items), strict=True):
                if stop is not None and stop.is_set():
                    break
                result = self.process(item, session, parsed, stored)
                stats.seen += 1
                stats.outcomes[result.outcome.value] += 1
                if self.backlog is not None and self.backlog.dry_run:
                    continue
                if result.destination is not None:
                    uncommitted.append((item.uid, result.destination))
                else:
                    self._mark_read(session, folder, item.uidvalidity, item.uid)
                if time.monotonic() - began >= COMMIT_EVERY:
                    _commit(session, uncommitted, to_move)
                    began = time.monotonic()
            _commit(session, uncommitted, to_move)

    def _mark_read(self, session: Session, folder: str, uidvalidity: int, uid: int) -> None:
        state = folder_state(session, folder)
        if state is not None and state.uidvalidity == uidvalidity and uid > state.last_uid:
            state.last_uid = uid


def _commit(
    session: Session, uncommitted: list[tuple[int, str]], to_move: dict[str, list[int]]
) -> None:
    session.commit()
    for uid, destination in uncommitted:
        to_move[destination].append(uid)
    uncommitted.clear()


def _not_carried_out(session: Session, arrival: Arrival, decision: object) -> Handled:
    """Commands in the backlog are history, not today's instructions."""
    return Handled(Outcome.NO_CASE, None, "command in the imported backlog: not carried out")


def _recorded(outcome: Outcome) -> Handler:
    """The handler for decisions that only record the mail, with the decision's reason."""

    def handle(session: Session, arrival: Arrival, decision: Duplicate | Ignore) -> Handled:
        return Handled(outcome, None, decision.reason)

    return handle
