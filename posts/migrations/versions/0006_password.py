"""password: argon2id hashes for signing in to the web page with auth = "password"

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import posts.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "password",
        sa.Column("user", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated", posts.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user"),
    )


def downgrade() -> None:
    op.drop_table("password")
