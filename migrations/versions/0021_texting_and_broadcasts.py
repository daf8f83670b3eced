"""numbers that texted STOP, known or not: sms_opt_outs; group messages: broadcasts, and
people.broadcasts_off (退订 to a group message stops those, not personal notices)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 04:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_sms_opt_outs")),
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("target_name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("channels", sa.String(length=30), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audience", sa.Integer(), nullable=False),
        sa.Column("by_sms", sa.Integer(), nullable=False),
        sa.Column("by_wechat", sa.Integer(), nullable=False),
        sa.Column("by_telegram", sa.Integer(), nullable=False),
        sa.Column("sms_parts", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "target_kind IN ('node', 'team', 'activity')", name=op.f("ck_broadcasts_target_kind")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["org_units.id"], name=op.f("fk_broadcasts_community_id_org_units")
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["people.id"], name=op.f("fk_broadcasts_sender_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_broadcasts_idempotency_key")),
    )
    op.create_index(
        op.f("ix_broadcasts_community_id"), "broadcasts", ["community_id"], unique=False
    )
    op.create_index(
        "ix_broadcasts_sender_id_created_at", "broadcasts", ["sender_id", "created_at"]
    )
    # Plain ALTER TABLE … ADD COLUMN, not batch: on SQLite a batch would rebuild `people`,
    # and every table refers to it, so its DROP fails on a street with data.
    op.add_column(
        "people",
        sa.Column("broadcasts_off", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # A foreign key needs the batch on SQLite, which rebuilds the outbox (nothing refers to
    # it, and `flask purge` keeps it to 90 days of messages).
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.add_column(sa.Column("broadcast_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_broadcast_id"), ["broadcast_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_messages_broadcast_id_broadcasts"),
            "broadcasts",
            ["broadcast_id"],
            ["id"],
        )


def downgrade():
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_messages_broadcast_id_broadcasts"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbox_messages_broadcast_id"))
        batch_op.drop_column("broadcast_id")
    # Not batch: on SQLite that would rebuild `people`, which every other table refers to
    # (the DROP TABLE fails its foreign keys); SQLite 3.35+ drops a plain column in place.
    op.drop_column("people", "broadcasts_off")
    op.drop_index("ix_broadcasts_sender_id_created_at", table_name="broadcasts")
    op.drop_index(op.f("ix_broadcasts_community_id"), table_name="broadcasts")
    op.drop_table("broadcasts")
    op.drop_table("sms_opt_outs")
