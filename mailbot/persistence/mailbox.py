"""What intake recorded per mailbox message, and how far a watched folder was read."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from mailbot.persistence.dialect import in_chunks
from mailbot.persistence.tables import CaseMessageRow, FolderStateRow, IntakeRecordRow


def find_mailbox_item(
    session: Session, folder: str, uidvalidity: int, uid: int
) -> IntakeRecordRow | None:
    return session.execute(
        select(IntakeRecordRow).where(
            IntakeRecordRow.folder == folder,
            IntakeRecordRow.uidvalidity == uidvalidity,
            IntakeRecordRow.uid == uid,
        )
    ).scalar_one_or_none()


def stored_items(
    session: Session, folder: str, uidvalidity: int, uids: Sequence[int]
) -> dict[int, IntakeRecordRow]:
    """The records of those of `uids` intake already stored (before a crash or a failed
    MOVE), in one query for a batch. The batch's UID range bounds what the unique index
    reads: PostgreSQL otherwise read the records of every mail ever taken from the folder
    and filtered them (tests/test_query_work.py)."""
    if not uids:
        return {}
    rows = session.execute(
        select(IntakeRecordRow).where(
            IntakeRecordRow.folder == folder,
            IntakeRecordRow.uidvalidity == uidvalidity,
            IntakeRecordRow.uid >= min(uids),
            IntakeRecordRow.uid <= max(uids),
            IntakeRecordRow.uid.in_(uids),
        )
    ).scalars()
    return {row.uid: row for row in rows}


@dataclass(frozen=True)
class Seen:
    """What the database knows of a Message-ID: whether mailbot itself sent a mail with
    it (a copy came back), and the mail handled before with it and the same content."""

    sent_by_us: bool
    copy: IntakeRecordRow | None


def seen_before(session: Session, message_id: str, fingerprint: str) -> Seen:
    """Both in one query. A copy is a record with this Message-ID and the same content
    (a record from before content fingerprints counts by its Message-ID); quarantined
    mail is no copy."""
    sent, copy_id = session.execute(
        _seen_before(), {"message_id": message_id, "fingerprint": fingerprint}
    ).one()
    return Seen(bool(sent), None if copy_id is None else session.get(IntakeRecordRow, copy_id))


@functools.cache
def _seen_before() -> Select[bool, int | None]:
    messages, records = CaseMessageRow.__table__.c, IntakeRecordRow.__table__.c
    # Both found by Message-ID alone. Without statistics PostgreSQL also read the index of
    # every mail mailbot ever sent (raw_sha256 IS NULL), or walked the records in key
    # order for the one asked for: expressions the other indexes cannot answer keep it
    # to the Message-ID's (tests/test_query_work.py).
    ours = (
        select(messages.id)
        .where(messages.message_id == bindparam("message_id"), messages.direction == "out")
        .where(func.coalesce(messages.raw_sha256, "") == "")
        .exists()
    )
    copy = (
        select(records.id)
        .where(
            records.message_id == bindparam("message_id"),
            records.outcome.not_in(["quarantined"]),
            (records.fingerprint == bindparam("fingerprint")) | records.fingerprint.is_(None),
        )
        .order_by(records.id + 0)
        .limit(1)
        .scalar_subquery()
    )
    return select(ours, copy)


def folder_state(session: Session, folder: str) -> FolderStateRow | None:
    return session.get(FolderStateRow, folder)


def set_folder_state(session: Session, folder: str, uidvalidity: int, last_uid: int) -> None:
    """Where the next pass goes on reading `folder`: after `last_uid` of `uidvalidity`."""
    state = folder_state(session, folder)
    if state is None:
        session.add(FolderStateRow(folder=folder, uidvalidity=uidvalidity, last_uid=last_uid))
    else:
        state.uidvalidity, state.last_uid = uidvalidity, last_uid


def items_to_purge(
    session: Session, case_ids: list[int], cutoff: datetime
) -> list[IntakeRecordRow]:
    """Records whose stored original retention removes: those of the given cases, and
    those of mail that opened no case, processed before the cutoff. The cases are named
    in chunks (`in_chunks`): the first night after years of use may purge more cases than one
    statement can name (PostgreSQL's driver takes 65,535 parameters, SQLite 32,766 unless
    built with more)."""
    stored = IntakeRecordRow.raw_sha256.is_not(None)
    found: list[IntakeRecordRow] = []
    for chunk in in_chunks(case_ids):
        query = select(IntakeRecordRow).where(stored, IntakeRecordRow.case_id.in_(chunk))
        found.extend(session.execute(query).scalars())
    unlinked = IntakeRecordRow.case_id.is_(None) & (IntakeRecordRow.processed_at < cutoff)
    found.extend(session.execute(select(IntakeRecordRow).where(stored, unlinked)).scalars())
    return found


def any_mail_handled(session: Session) -> bool:
    """Whether intake ever recorded a mail in this database (a go-live or a restart)."""
    return session.execute(select(IntakeRecordRow.id).limit(1)).first() is not None
