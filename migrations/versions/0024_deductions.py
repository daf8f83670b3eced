"""deductions (扣分): deed rules that take points (deed_rules.deducts, owe_beyond_balance),
the deductions made under them, and their evidence photos (stored_files kind
deduction-photo)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 06:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

KINDS = "'import', 'offer-photo', 'merchant-photo', 'activity-photo', 'deed-photo', 'need-photo'"


def upgrade():
    # Plain ADD COLUMN (no batch copy): deed_rules is referenced by awards, counts, reports.
    op.add_column(
        "deed_rules",
        sa.Column("deducts", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "deed_rules",
        sa.Column("owe_beyond_balance", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "deductions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("owed", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("photo", sa.String(length=60), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverse_reason", sa.String(length=200), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_deductions_points")),
        sa.CheckConstraint(
            "taken >= 0 AND owed >= 0 AND taken + owed <= points", name=op.f("ck_deductions_parts")
        ),
        sa.CheckConstraint("status IN ('active', 'reversed')", name=op.f("ck_deductions_status")),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["deed_rules.id"], name=op.f("fk_deductions_rule_id_deed_rules")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_deductions_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["org_units.id"], name=op.f("fk_deductions_community_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_deductions_transaction_id_ledger_transactions"),
        ),
        sa.ForeignKeyConstraint(["actor_id"], ["people.id"], name=op.f("fk_deductions_actor_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deductions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_deductions_idempotency_key")),
    )
    op.create_index("ix_deductions_community_id", "deductions", ["community_id"])
    op.create_index("ix_deductions_person_id_owed", "deductions", ["person_id", "owed"])
    with op.batch_alter_table("stored_files") as batch_op:
        batch_op.drop_constraint("kind", type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({KINDS}, 'deduction-photo')")


def downgrade():
    op.execute("DELETE FROM stored_files WHERE kind = 'deduction-photo'")
    with op.batch_alter_table("stored_files") as batch_op:
        batch_op.drop_constraint("kind", type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({KINDS})")
    op.drop_index("ix_deductions_person_id_owed", table_name="deductions")
    op.drop_index("ix_deductions_community_id", table_name="deductions")
    op.drop_table("deductions")
    with op.batch_alter_table("deed_rules") as batch_op:
        batch_op.drop_column("owe_beyond_balance")
        batch_op.drop_column("deducts")
