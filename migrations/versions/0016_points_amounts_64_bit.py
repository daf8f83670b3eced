"""points amounts, balances and period totals are 64-bit (PostgreSQL; SQLite's INTEGER is)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 11:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

COLUMNS = (("ledger_entries", "amount"), ("accounts", "balance"), ("period_totals", "amount"))


def upgrade():
    # An issuance account holds minus all its community ever issued: past 2**31 at city
    # scale. ALTER ... TYPE rewrites the table; the append-only triggers fire on UPDATE and
    # DELETE only, so they stay and do not object.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_nullable=False)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Integer(), existing_nullable=False)
