"""the resources list (资源清单): offers of partner units and people, matched to needs, and
service posts (岗位) to claim; working party members' reports (在职党员报到); needs matched
to an offer or a unit (needs.resource_id, needs.merchant_id) or passed to a department
(needs.department)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 06:40:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('party_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('employer', sa.String(length=100), nullable=False),
    sa.Column('branch', sa.String(length=100), nullable=False),
    sa.Column('reported_on', sa.String(length=10), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['org_units.id'], name=op.f('fk_party_reports_community_id_org_units')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_party_reports_person_id_people')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['people.id'], name=op.f('fk_party_reports_recorded_by_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_party_reports')),
    sa.UniqueConstraint('person_id', 'community_id', name=op.f('uq_party_reports_person_id_community_id'))
    )
    with op.batch_alter_table('party_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_party_reports_community_id'), ['community_id'], unique=False)

    op.create_table('resources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('provider_person_id', sa.Integer(), nullable=True),
    sa.Column('provider_merchant_id', sa.Integer(), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('capacity_unit', sa.String(length=10), nullable=False),
    sa.Column('claimed', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("capacity_unit IN ('times', 'hours', 'people')", name=op.f('ck_resources_capacity_unit')),
    sa.CheckConstraint("kind IN ('offer', 'post')", name=op.f('ck_resources_kind')),
    sa.CheckConstraint('capacity IS NULL OR capacity > 0', name=op.f('ck_resources_capacity')),
    sa.CheckConstraint('claimed >= 0 AND (capacity IS NULL OR claimed <= capacity)', name=op.f('ck_resources_claimed')),
    sa.CheckConstraint('provider_person_id IS NULL OR provider_merchant_id IS NULL', name=op.f('ck_resources_one_provider')),
    sa.ForeignKeyConstraint(['community_id'], ['org_units.id'], name=op.f('fk_resources_community_id_org_units')),
    sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_resources_created_by_id_people')),
    sa.ForeignKeyConstraint(['provider_merchant_id'], ['merchants.id'], name=op.f('fk_resources_provider_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['provider_person_id'], ['people.id'], name=op.f('fk_resources_provider_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resources'))
    )
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.create_index('ix_resources_community_id_kind', ['community_id', 'kind'], unique=False)

    op.create_table('resource_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'ended')", name=op.f('ck_resource_claims_status')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_resource_claims_person_id_people')),
    sa.ForeignKeyConstraint(['resource_id'], ['resources.id'], name=op.f('fk_resource_claims_resource_id_resources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource_claims'))
    )
    with op.batch_alter_table('resource_claims', schema=None) as batch_op:
        batch_op.create_index('ix_resource_claims_person_id_status', ['person_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_claims_resource_id'), ['resource_id'], unique=False)
        batch_op.create_index(
            "uq_resource_claims_holding",
            ["resource_id", "person_id"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )

    op.create_table('resource_uses',
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['resources.id'], name=op.f('fk_resource_uses_resource_id_resources')),
    sa.PrimaryKeyConstraint('resource_id', 'period', name=op.f('pk_resource_uses'))
    )
    # needs gains its two references without a batch copy (its events, photos and merges
    # refer to it): SQLite adds a column with an inline REFERENCES, which Alembic will not
    # write; PostgreSQL adds the column, then the named constraint.
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("needs")}
    if "department" not in have:
        op.add_column(
            "needs",
            sa.Column("department", sa.String(length=50), nullable=False, server_default=""),
        )
    for column, table in (("resource_id", "resources"), ("merchant_id", "merchants")):
        if op.get_bind().dialect.name == "sqlite":
            if column not in have:  # left by a downgrade (see there)
                op.execute(f"ALTER TABLE needs ADD COLUMN {column} INTEGER REFERENCES {table} (id)")
        else:
            op.add_column("needs", sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(
                op.f(f"fk_needs_{column}_{table}"), "needs", table, [column], ["id"]
            )


def downgrade():
    # SQLite cannot drop a column that holds a reference (nor rebuild needs, which others
    # refer to): there the three columns stay, emptied, and an upgrade finds them.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE needs SET resource_id = NULL, merchant_id = NULL, department = ''")
    else:
        op.drop_column("needs", "department")
        op.drop_constraint("fk_needs_merchant_id_merchants", "needs", type_="foreignkey")
        op.drop_constraint("fk_needs_resource_id_resources", "needs", type_="foreignkey")
        op.drop_column("needs", "merchant_id")
        op.drop_column("needs", "resource_id")
    op.drop_table('resource_uses')
    with op.batch_alter_table('resource_claims', schema=None) as batch_op:
        batch_op.drop_index("uq_resource_claims_holding")
        batch_op.drop_index(batch_op.f('ix_resource_claims_resource_id'))
        batch_op.drop_index('ix_resource_claims_person_id_status')

    op.drop_table('resource_claims')
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.drop_index('ix_resources_community_id_kind')

    op.drop_table('resources')
    with op.batch_alter_table('party_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_party_reports_community_id'))

    op.drop_table('party_reports')
