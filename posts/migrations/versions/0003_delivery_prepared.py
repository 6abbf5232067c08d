"""delivery.prepared and delivery.claimed: a prepared object's id, and when the send began

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 01:40:00
"""

import sqlalchemy as sa
from alembic import op

import posts.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prepared", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("claimed", posts.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("claimed")
        batch_op.drop_column("prepared")
