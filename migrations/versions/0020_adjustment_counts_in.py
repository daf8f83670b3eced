"""a correction may count in the month it makes up for (补记上月漏记): adjustments.counts_in;
an activity may have a cover picture: activities.photo

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
    op.add_column("activities", sa.Column("photo", sa.String(length=60), nullable=True))
    with op.batch_alter_table("stored_files") as batch_op:
        batch_op.drop_constraint("kind", type_="check")
        batch_op.create_check_constraint(
            "kind", "kind IN ('import', 'offer-photo', 'merchant-photo', 'activity-photo')"
        )


def downgrade():
    op.execute("DELETE FROM stored_files WHERE kind = 'activity-photo'")
    with op.batch_alter_table("stored_files") as batch_op:
        batch_op.drop_constraint("kind", type_="check")
        batch_op.create_check_constraint(
            "kind", "kind IN ('import', 'offer-photo', 'merchant-photo')"
        )
    with op.batch_alter_table("activities") as batch_op:
        batch_op.drop_column("photo")
    with op.batch_alter_table("adjustments") as batch_op:
        batch_op.drop_column("counts_in")
