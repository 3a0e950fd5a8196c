"""Receipt limits answered from indexes: per address and per mail domain

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

The three receipt limits ran before every receipt; the per-address and per-domain counts
read every receipt of the last hour or day (quadratic over a backlog). A receipt now
carries its recipient's mail domain, and partial indexes on receipts answer both counts.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECEIPTS = sa.text("kind = 'receipt'")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_domain", sa.String(length=255), nullable=True))
    # Only the last day's receipts count towards a limit: those get their domain.
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("recipients", sa.Text),
        sa.column("recipient_domain", sa.String),
        sa.column("created_at", sa.DateTime),
    )
    connection = op.get_bind()
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2)
    rows = connection.execute(
        sa.select(outbox.c.id, outbox.c.recipients).where(
            outbox.c.kind == "receipt", outbox.c.created_at >= since
        )
    ).all()
    for row_id, recipients in rows:
        connection.execute(
            sa.update(outbox)
            .where(outbox.c.id == row_id)
            .values(recipient_domain=recipients.rpartition("@")[2].lower())
        )
    for name, column in (
        ("ix_outbox_receipt_recipient", "recipients"),
        ("ix_outbox_receipt_domain", "recipient_domain"),
    ):
        op.create_index(
            name,
            "outbox",
            [column, "created_at"],
            sqlite_where=RECEIPTS,
            postgresql_where=RECEIPTS,
        )


def downgrade() -> None:
    op.drop_index("ix_outbox_receipt_domain", table_name="outbox")
    op.drop_index("ix_outbox_receipt_recipient", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("recipient_domain")
