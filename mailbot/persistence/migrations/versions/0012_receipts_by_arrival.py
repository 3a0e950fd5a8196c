"""A receipt carries its case's arrival: the per-hour limits count one index

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

The per-hour receipt limits count the receipts of the cases whose mail arrived in the
hour before a new one. They were found case by case (the hour's cases by arrival, then
each case's receipt), two lookups for every case of the hour, before every receipt. A
receipt now carries its case's arrival, and one partial index on receipts (arrival,
domain) answers the count alone. It replaces the index by domain and time of queueing,
which no query has used since the per-domain count moved into the per-hour one, and the
index by kind and time of queueing, which no query needs and which both databases took
for this count on a new database (without statistics), reading every receipt ever queued.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECEIPTS = sa.text("kind = 'receipt'")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("arrived_at", sa.DateTime(), nullable=True))
    # every receipt whose case is still there: an old mail read late is counted with the
    # hour it arrived in, however long ago that was
    op.execute(
        "UPDATE outbox SET arrived_at = "
        "(SELECT cases.received_at FROM cases WHERE cases.id = outbox.case_id) "
        "WHERE kind = 'receipt' AND case_id IS NOT NULL"
    )
    op.drop_index("ix_outbox_receipt_domain", table_name="outbox")
    op.drop_index("ix_outbox_kind_created", table_name="outbox")
    op.create_index(
        "ix_outbox_receipt_arrival",
        "outbox",
        ["arrived_at", "recipient_domain", "kind"],
        sqlite_where=RECEIPTS,
        postgresql_where=RECEIPTS,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_receipt_arrival", table_name="outbox")
    op.create_index("ix_outbox_kind_created", "outbox", ["kind", "created_at"])
    op.create_index(
        "ix_outbox_receipt_domain",
        "outbox",
        ["recipient_domain", "created_at"],
        sqlite_where=RECEIPTS,
        postgresql_where=RECEIPTS,
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("arrived_at")
