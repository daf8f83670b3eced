"""board counts: the street's and each community's histogram of earned amounts, for ranks
at a million residents; a partial index on the people hidden from the boards; the period
totals' index in a board's order

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 15:04:16

"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

SHARDS = 4  # app.points.board_counts.SHARDS when this was written


def upgrade():
    op.create_table('board_counts',
    sa.Column('scope', sa.String(length=24), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('shard', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('wallets', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'period', 'amount', 'shard', name=op.f('pk_board_counts'))
    )
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index('ix_people_hidden_from_boards', ['id'], unique=False, postgresql_where=sa.text('hide_from_boards'), sqlite_where=sa.text('hide_from_boards'))
    # A board's top straight off an index of wallets' totals in the board's own order
    # (ties by wallet): the account's kind beside each total.
    with op.batch_alter_table('period_totals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_kind', sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE period_totals SET account_kind = "
        "(SELECT kind FROM accounts WHERE accounts.id = period_totals.account_id)"
    )
    with op.batch_alter_table('period_totals', schema=None) as batch_op:
        batch_op.alter_column('account_kind', existing_type=sa.String(length=16), nullable=False)
        batch_op.create_check_constraint(op.f('ck_period_totals_account_kind'), "account_kind IN ('wallet', 'issuance')")
        batch_op.drop_index('ix_period_totals_period_amount')
        batch_op.create_index('ix_period_totals_board', ['period', 'account_kind', 'amount', 'account_id'], unique=False)
    # The counts of the totals already kept, among the people shown on the boards (what
    # `flask rebuild-boards` computes).
    earned = (
        "FROM period_totals t JOIN accounts a ON a.id = t.account_id "
        "JOIN people p ON a.owner_type = 'person' AND p.id = a.owner_id "
        "WHERE a.kind = 'wallet' AND t.amount > 0 AND NOT p.hide_from_boards"
    )
    op.execute(
        "INSERT INTO board_counts (scope, period, amount, shard, wallets) "
        f"SELECT 'street', t.period, t.amount, a.id % {SHARDS}, count(*) {earned} "
        f"GROUP BY t.period, t.amount, a.id % {SHARDS}"
    )
    op.execute(
        "INSERT INTO board_counts (scope, period, amount, shard, wallets) "
        "SELECT 'community:' || CAST(a.community_id AS VARCHAR), t.period, t.amount, "
        f"a.id % {SHARDS}, count(*) {earned} AND a.community_id IS NOT NULL "
        f"GROUP BY a.community_id, t.period, t.amount, a.id % {SHARDS}"
    )


def downgrade():
    with op.batch_alter_table('period_totals', schema=None) as batch_op:
        batch_op.drop_index('ix_period_totals_board')
        batch_op.drop_constraint(op.f('ck_period_totals_account_kind'), type_='check')
        batch_op.drop_column('account_kind')
        batch_op.create_index('ix_period_totals_period_amount', ['period', 'amount'], unique=False)
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index('ix_people_hidden_from_boards', postgresql_where=sa.text('hide_from_boards'), sqlite_where=sa.text('hide_from_boards'))
    op.drop_table('board_counts')
