"""Every column that points to a blob indexed; intake records by case and time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

The nightly retention pass sweeps blobs nothing points to any more: for each blob it
asked messages, attachments and intake records whether one points to it, and SQLite's
foreign-key check asks the same for each blob it deletes. Without an index each question
walked the whole table, so the pass grew with the square of the years of mail kept
(bench/retention.py: 8,000 cases took 268 s, holding the write lock that intake needs).
The records retention reads (of the purged cases, or of old mail that opened no case)
are found by case and processing time.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_messages_raw_sha256", "messages", ["raw_sha256"]),
    ("ix_attachments_sha256", "attachments", ["sha256"]),
    ("ix_mailbox_items_raw_sha256", "mailbox_items", ["raw_sha256"]),
    ("ix_mailbox_items_case_processed", "mailbox_items", ["case_id", "processed_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
