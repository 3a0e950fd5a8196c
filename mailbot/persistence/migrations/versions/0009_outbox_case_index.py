"""The outbox by case: receipts of the hour's cases found by index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

The per-hour receipt limits count the receipts of the cases whose mail arrived in the
hour before; without an index on outbox.case_id every such lookup walked all receipts
ever queued (SQLite), a cost that grew with the outbox. Purging a case's sent mail reads
by case too.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_case_kind", "outbox", ["case_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_outbox_case_kind", table_name="outbox")
