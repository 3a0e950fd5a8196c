"""Originals and attachments stored without compression on PostgreSQL

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

PostgreSQL compresses every large value it stores (pglz, TOAST). The blobs are mails and
their attachments: photos, PDFs and base64, which pglz cannot make smaller (600 generated
complaints: 52.7 MB compressed, 53.3 MB not), while trying cost the server about 1 ms a
mail, on the cores intake shares with it (1.5 against 0.45 ms an INSERT, bench/README.md).
EXTERNAL keeps the values out of line, as before, without the attempt. Values stored
before keep their form; SQLite has no such setting.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTENDED")
