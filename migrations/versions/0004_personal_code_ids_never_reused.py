"""personal code ids are never reused (SQLite AUTOINCREMENT)

A redemption keeps the id of the personal code it used up (UNIQUE), and expired codes
are purged; on SQLite a purged highest id would be handed out again. PostgreSQL
sequences never go back, so this only rebuilds the SQLite table, and starts its
sequence after every id a code or a redemption has used.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "personal_codes", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass
    highest = bind.execute(
        sa.text(
            "SELECT MAX(n) FROM (SELECT MAX(id) AS n FROM personal_codes "
            "UNION ALL SELECT MAX(code_id) FROM redemptions)"
        )
    ).scalar()
    if highest:
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'personal_codes'"))
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('personal_codes', :seq)"),
            {"seq": highest},
        )


def downgrade():
    pass
