"""good deeds residents report themselves (好人好事): deed_reports, and their photos in
stored_files (kind deed-photo)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 05:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

KINDS = "'import', 'offer-photo', 'merchant-photo', 'activity-photo'"


def upgrade():
    op.create_table(
        "deed_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("photo", sa.String(length=60), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'declined')", name=op.f("ck_deed_reports_status")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_deed_reports_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["org_units.id"], name=op.f("fk_deed_reports_community_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["deed_rules.id"], name=op.f("fk_deed_reports_rule_id_deed_rules")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_deed_reports_transaction_id_ledger_transactions"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["people.id"], name=op.f("fk_deed_reports_decided_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deed_reports")),
    )
    op.create_index(
        "ix_deed_reports_status_community_id", "deed_reports", ["status", "community_id"]
    )
    op.create_index("ix_deed_reports_person_id_day", "deed_reports", ["person_id", "day"])
    with op.batch_alter_table("stored_files") as batch_op:
        batch_op.drop_constraint("kind", type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({KINDS}, 'deed-photo')")


def downgrade():
    op.execute("DELETE FROM stored_files WHERE kind = 'deed-photo'")
    with op.batch_alter_table("stored_files") as batch_op:
        batch_op.drop_constraint("kind", type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({KINDS})")
    op.drop_index("ix_deed_reports_person_id_day", table_name="deed_reports")
    op.drop_index("ix_deed_reports_status_community_id", table_name="deed_reports")
    op.drop_table("deed_reports")
