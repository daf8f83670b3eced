"""a correction may count in the month it makes up for (补记上月漏记): adjustments.counts_in

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 01:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("adjustments", sa.Column("counts_in", sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table("adjustments") as batch_op:
        batch_op.drop_column("counts_in")
