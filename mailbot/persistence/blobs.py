"""Content-addressed storage of raw mails and attachments."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Table, delete, exists
from sqlalchemy.orm import Session

from mailbot.persistence.dialect import prebuilt
from mailbot.persistence.rows import execute_insert
from mailbot.persistence.tables import AttachmentRow, Blob, CaseMessageRow, IntakeRecordRow


def store_blob(session: Session, data: bytes) -> str:
    """The same bytes are stored once. Returns the SHA-256 hex."""
    digest = hashlib.sha256(data).hexdigest()
    values = {"sha256": digest, "size": len(data), "data": data}
    execute_insert(session, "blob", _BLOBS, values, lambda: prebuilt(session, _insert_blob))
    return digest


_BLOBS: Table = Blob.__table__  # type: ignore[assignment]


def _insert_blob(insert: Any) -> Any:
    # On the table, not the mapped class: a Core statement, no ORM bulk-insert machinery.
    return insert(Blob.__table__).on_conflict_do_nothing(index_elements=["sha256"])


def load_blob(session: Session, digest: str) -> bytes | None:
    blob = session.get(Blob, digest)
    return None if blob is None else blob.data


def drop_orphans(session: Session) -> int:
    """Delete blobs no message, attachment or mailbox record points to; how many."""
    used = (
        exists().where(CaseMessageRow.raw_sha256 == Blob.sha256)
        | exists().where(AttachmentRow.sha256 == Blob.sha256)
        | exists().where(IntakeRecordRow.raw_sha256 == Blob.sha256)
    )
    result = session.execute(delete(Blob).where(~used))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
