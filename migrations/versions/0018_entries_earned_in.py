"""ledger entries carry the month they count in for earned and issued totals, and each
transaction the number of its entries (a control count), so `flask ledger-check` proves a
ledger in one pass over the entries instead of grouping and joining them

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 18:40:00

"""
from alembic import op
from flask import current_app
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# app.points.ledger.EARNING_KINDS when this was written.
EARNING = "('award', 'attendance', 'deed', 'adjustment')"


def upgrade():
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('earned_in', sa.String(length=8), nullable=True))
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_count', sa.Integer(), nullable=False, server_default='0'))
    postgres = op.get_bind().dialect.name == "postgresql"
    month = (
        "'M' || to_char(t.created_at AT TIME ZONE CAST(:zone AS TEXT), 'YYYY-MM')"
        if postgres
        else "linli_month_key(t.created_at, :zone)"
    )
    # The wallet and issuance legs of an earning, and of a reversal of one, in the month
    # of their transaction: what the period totals were kept from. Entries are append-only:
    # the trigger steps aside for this one backfill.
    counted = (
        f"SELECT e.id, {month} AS month FROM ledger_entries e "
        "JOIN ledger_transactions t ON t.id = e.transaction_id "
        "JOIN accounts a ON a.id = e.account_id "
        "LEFT JOIN ledger_transactions o ON o.id = t.reverses_id "
        f"WHERE a.kind IN ('wallet', 'issuance') AND (t.kind IN {EARNING} OR o.kind IN {EARNING})"
    )
    zone = {"zone": current_app.config["LINLI_TIMEZONE"]}
    counts = "SELECT transaction_id, count(*) AS n FROM ledger_entries GROUP BY transaction_id"
    if postgres:
        for table in ("ledger_entries", "ledger_transactions"):
            op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        op.get_bind().execute(
            sa.text(
                f"UPDATE ledger_entries SET earned_in = c.month FROM ({counted}) c "
                "WHERE c.id = ledger_entries.id"
            ),
            zone,
        )
        op.execute(
            f"UPDATE ledger_transactions SET entry_count = c.n FROM ({counts}) c "
            "WHERE c.transaction_id = ledger_transactions.id"
        )
        for table in ("ledger_entries", "ledger_transactions"):
            op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
    else:
        for table in ("ledger_entries", "ledger_transactions"):
            op.execute(f"DROP TRIGGER {table}_no_update")
        op.get_bind().execute(
            sa.text(
                f"WITH c AS ({counted}) UPDATE ledger_entries SET earned_in = "
                "(SELECT month FROM c WHERE c.id = ledger_entries.id) "
                "WHERE id IN (SELECT id FROM c)"
            ),
            zone,
        )
        op.execute(
            f"WITH c AS ({counts}) UPDATE ledger_transactions SET entry_count = "
            "(SELECT n FROM c WHERE c.transaction_id = ledger_transactions.id) "
            "WHERE id IN (SELECT transaction_id FROM c)"
        )
        for table in ("ledger_entries", "ledger_transactions"):
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column('ledger_transactions', 'entry_count')
        op.drop_column('ledger_entries', 'earned_in')
        return
    # SQLite may rebuild a table to drop a column, and lose its triggers with it.
    for table, column in (("ledger_transactions", "entry_count"), ("ledger_entries", "earned_in")):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(column)
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} "
                f"ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
