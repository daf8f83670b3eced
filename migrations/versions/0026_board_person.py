"""the person whose wallet it is, beside each period total and in the boards' index: a
board's top goes from the index to the people without reading the accounts

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 16:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('period_totals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_period_totals_person_id_people'), 'people', ['person_id'], ['id'])
        batch_op.drop_index('ix_period_totals_board')
    # An account's owner never changes: each wallet's totals get its person once.
    op.execute(
        "UPDATE period_totals SET person_id = accounts.owner_id FROM accounts "
        "WHERE accounts.id = period_totals.account_id AND accounts.kind = 'wallet' "
        "AND accounts.owner_type = 'person'"
    )
    with op.batch_alter_table('period_totals', schema=None) as batch_op:
        batch_op.create_index('ix_period_totals_board', ['period', 'account_kind', 'amount', 'account_id', 'person_id'], unique=False)


def downgrade():
    with op.batch_alter_table('period_totals', schema=None) as batch_op:
        batch_op.drop_index('ix_period_totals_board')
        batch_op.drop_constraint(batch_op.f('fk_period_totals_person_id_people'), type_='foreignkey')
        batch_op.drop_column('person_id')
        batch_op.create_index('ix_period_totals_board', ['period', 'account_kind', 'amount', 'account_id'], unique=False)
