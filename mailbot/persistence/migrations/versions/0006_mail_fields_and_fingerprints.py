"""Free text from mail in unbounded columns; the content fingerprint of every mail handled

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

A display name over 200 characters or an attachment content type over 255 blocked the
inbox on PostgreSQL; duplicates are now recognised by content, not by Message-ID alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column(
            "citizen_name", existing_type=sa.String(length=200), type_=sa.Text()
        )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.alter_column(
            "content_type", existing_type=sa.String(length=255), type_=sa.Text()
        )
    with op.batch_alter_table("mailbox_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
    op.create_index("ix_outbox_kind_created", "outbox", ["kind", "created_at"])
    op.create_index("ix_cases_received_at", "cases", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_kind_created", table_name="outbox")
    op.drop_index("ix_cases_received_at", table_name="cases")
    with op.batch_alter_table("mailbox_items", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.alter_column(
            "content_type", existing_type=sa.Text(), type_=sa.String(length=255)
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column(
            "citizen_name", existing_type=sa.Text(), type_=sa.String(length=200)
        )
