"""needs and problems residents raise (需求 / 诉求): need_kinds, needs, their photos (stored_files
kind need-photo), timelines and the takers' monthly counts

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 06:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

KINDS = "'import', 'offer-photo', 'merchant-photo', 'activity-photo', 'deed-photo'"


def upgrade():
    op.create_table(
        "need_kinds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("keywords", sa.String(length=200), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("step_hours", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("monthly_limit", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "monthly_limit IS NULL OR monthly_limit > 0", name=op.f("ck_need_kinds_monthly_limit")
        ),
        sa.CheckConstraint("points >= 0", name=op.f("ck_need_kinds_points")),
        sa.CheckConstraint("step_hours > 0", name=op.f("ck_need_kinds_step_hours")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["org_units.id"], name=op.f("fk_need_kinds_community_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_need_kinds_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_need_kinds")),
    )
    with op.batch_alter_table("need_kinds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_need_kinds_community_id"), ["community_id"], unique=False
        )

    op.create_table(
        "need_counts",
        sa.Column("kind_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["kind_id"], ["need_kinds.id"], name=op.f("fk_need_counts_kind_id_need_kinds")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_need_counts_person_id_people")
        ),
        sa.PrimaryKeyConstraint("kind_id", "person_id", "period", name=op.f("pk_need_counts")),
    )
    op.create_table(
        "needs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("kind_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("place_note", sa.String(length=100), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("posted_by_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("step_node_id", sa.Integer(), nullable=True),
        sa.Column("step_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("taker_id", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_note", sa.String(length=200), nullable=False),
        sa.Column("dispute_reason", sa.String(length=200), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("unpaid_reason", sa.String(length=200), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("rating_comment", sa.String(length=200), nullable=False),
        sa.Column("close_reason", sa.String(length=200), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'taken', 'done', 'disputed', 'confirmed', 'closed', 'merged')",
            name=op.f("ck_needs_status"),
        ),
        sa.CheckConstraint(
            "step IN ('team', 'unit_leader', 'building_leader', 'grid_leader', 'community')",
            name=op.f("ck_needs_step"),
        ),
        sa.CheckConstraint(
            "rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_needs_rating")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["org_units.id"], name=op.f("fk_needs_community_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"], ["people.id"], name=op.f("fk_needs_confirmed_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["org_units.id"], name=op.f("fk_needs_grid_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["kind_id"], ["need_kinds.id"], name=op.f("fk_needs_kind_id_need_kinds")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["needs.id"], name=op.f("fk_needs_merged_into_id_needs")
        ),
        sa.ForeignKeyConstraint(
            ["place_id"], ["org_units.id"], name=op.f("fk_needs_place_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["posted_by_id"], ["people.id"], name=op.f("fk_needs_posted_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["people.id"], name=op.f("fk_needs_resident_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["step_node_id"], ["org_units.id"], name=op.f("fk_needs_step_node_id_org_units")
        ),
        sa.ForeignKeyConstraint(["taker_id"], ["people.id"], name=op.f("fk_needs_taker_id_people")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_needs_team_id_teams")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_needs_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_needs")),
    )
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_needs_community_id_status", ["community_id", "status"], unique=False
        )
        batch_op.create_index("ix_needs_grid_id_status", ["grid_id", "status"], unique=False)
        batch_op.create_index(
            "ix_needs_resident_id_status", ["resident_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_needs_status_step_due_at", ["status", "step_due_at"], unique=False
        )
        batch_op.create_index("ix_needs_taker_id_status", ["taker_id", "status"], unique=False)

    op.create_table(
        "need_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["people.id"], name=op.f("fk_need_events_actor_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_need_events_need_id_needs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_need_events")),
    )
    with op.batch_alter_table("need_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_need_events_need_id"), ["need_id"], unique=False)

    op.create_table(
        "need_photos",
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_need_photos_need_id_needs")
        ),
        sa.PrimaryKeyConstraint("need_id", "position", name=op.f("pk_need_photos")),
    )
    with op.batch_alter_table("stored_files") as batch_op:
        batch_op.drop_constraint("kind", type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({KINDS}, 'need-photo')")
    op.add_column("statements", sa.Column("need_lines", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("statements") as batch_op:
        batch_op.drop_column("need_lines")
    op.execute("DELETE FROM stored_files WHERE kind = 'need-photo'")
    with op.batch_alter_table("stored_files") as batch_op:
        batch_op.drop_constraint("kind", type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({KINDS})")
    op.drop_table("need_photos")
    with op.batch_alter_table("need_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_need_events_need_id"))

    op.drop_table("need_events")
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.drop_index("ix_needs_taker_id_status")
        batch_op.drop_index("ix_needs_status_step_due_at")
        batch_op.drop_index("ix_needs_resident_id_status")
        batch_op.drop_index("ix_needs_grid_id_status")
        batch_op.drop_index("ix_needs_community_id_status")

    op.drop_table("needs")
    op.drop_table("need_counts")
    with op.batch_alter_table("need_kinds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_need_kinds_community_id"))

    op.drop_table("need_kinds")
