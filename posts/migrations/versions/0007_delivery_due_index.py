"""An index on delivery.due: 'deliveries list' and the calendars read deliveries by due time

Without it, ``ORDER BY due DESC`` made SQLite sort every delivery for each page (31.7 ms
over 14,286 deliveries, growing with them); with it, 0.35 ms (docs/benchmarks.md).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 19:20:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_delivery_due", "delivery", ["due"])


def downgrade() -> None:
    op.drop_index("ix_delivery_due", table_name="delivery")
