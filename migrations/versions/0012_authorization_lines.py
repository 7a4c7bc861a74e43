"""authorization lines, decision states, payer decision files

Every authorization becomes an authorization with one line holding what it had
(type, allowed, frequency, services), with the line's id equal to its
authorization's, so every allocation moves onto the line of the authorization it
was on and nothing changes in what counts where. Authorizations and lines get a
decision state (all existing ones approved), a request time and urgency; payers an
identifier; imported payer-decision files are kept.

Revision ID: 0012_authorization_lines
Revises: 0011_two_factor
Create Date: 2026-11-30 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_authorization_lines'
down_revision = '0011_two_factor'
branch_labels = None
depends_on = None


def _reset_sequence(table):
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )


def upgrade():
    op.create_table('authorization_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('authorization_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('allowed', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.String(length=10), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('decision', sa.String(length=20), server_default='approved', nullable=False),
    sa.Column('requested', sa.Integer(), nullable=True),
    sa.Column('item_sequence', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_authorization_lines_authorization_id_authorizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_authorization_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorization_lines'))
    )
    with op.batch_alter_table('authorization_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorization_lines_authorization_id'), ['authorization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_authorization_lines_organization_id'), ['organization_id'], unique=False)

    op.create_table('authorization_line_service_types',
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('service_type_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['authorization_lines.id'], name=op.f('fk_authorization_line_service_types_line_id_authorization_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_type_id'], ['service_types.id'], name=op.f('fk_authorization_line_service_types_service_type_id_service_types'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('line_id', 'service_type_id', name=op.f('pk_authorization_line_service_types'))
    )

    op.create_table('payer_decision_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('applied_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_payer_decision_files_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_payer_decision_files_uploaded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payer_decision_files')),
    sa.UniqueConstraint('organization_id', 'sha256', name=op.f('uq_payer_decision_files_organization_id'))
    )
    with op.batch_alter_table('payer_decision_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payer_decision_files_organization_id'), ['organization_id'], unique=False)

    with op.batch_alter_table('payers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payer_identifier', sa.String(length=80), nullable=True))

    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decision', sa.String(length=20), server_default='approved', nullable=False))
        batch_op.add_column(sa.Column('urgency', sa.String(length=10), server_default='standard', nullable=False))
        batch_op.add_column(sa.Column('requested_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('request_key', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_authorizations_request_key'), ['request_key'], unique=False)

    # One line per authorization, with its id, holding what the authorization allowed.
    op.execute(
        "INSERT INTO authorization_lines (id, organization_id, authorization_id, position, "
        "kind, allowed, frequency, start_date, end_date, decision) "
        "SELECT id, organization_id, id, 0, kind, allowed, frequency, NULL, NULL, 'approved' "
        "FROM authorizations"
    )
    _reset_sequence('authorization_lines')
    op.execute(
        "INSERT INTO authorization_line_service_types (line_id, service_type_id) "
        "SELECT authorization_id, service_type_id FROM authorization_service_types"
    )

    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_id', sa.Integer(), nullable=True))
    op.execute("UPDATE allocations SET line_id = authorization_id")
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.alter_column('line_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint(batch_op.f('uq_allocations_authorization_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_allocations_line_id'), ['line_id', 'encounter_id'])
        batch_op.create_index(batch_op.f('ix_allocations_line_id'), ['line_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_allocations_line_id_authorization_lines'), 'authorization_lines', ['line_id'], ['id'], ondelete='CASCADE')

    op.drop_table('authorization_service_types')
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.drop_column('frequency')
        batch_op.drop_column('allowed')
        batch_op.drop_column('kind')


def downgrade():
    """Back to one allowance per authorization: each takes its first line's terms and the
    services of all its lines; allocations of its other lines are dropped (reallocating
    the client writes them again)."""
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('allowed', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('frequency', sa.String(length=10), nullable=True))
    first = (
        "(SELECT {col} FROM authorization_lines l WHERE l.authorization_id = authorizations.id "
        "ORDER BY l.position, l.id LIMIT 1)"
    )
    for col in ('kind', 'allowed', 'frequency'):
        op.execute(f"UPDATE authorizations SET {col} = {first.format(col=col)}")
    op.execute("UPDATE authorizations SET kind = 'sessions' WHERE kind IS NULL")
    op.execute("UPDATE authorizations SET allowed = 0 WHERE allowed IS NULL")
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=10), nullable=False)
        batch_op.alter_column('allowed', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index(batch_op.f('ix_authorizations_request_key'))
        batch_op.drop_column('request_key')
        batch_op.drop_column('requested_at')
        batch_op.drop_column('urgency')
        batch_op.drop_column('decision')

    op.create_table('authorization_service_types',
    sa.Column('authorization_id', sa.Integer(), nullable=False),
    sa.Column('service_type_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_authorization_service_types_authorization_id_authorizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_type_id'], ['service_types.id'], name=op.f('fk_authorization_service_types_service_type_id_service_types'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('authorization_id', 'service_type_id', name=op.f('pk_authorization_service_types'))
    )
    op.execute(
        "INSERT INTO authorization_service_types (authorization_id, service_type_id) "
        "SELECT DISTINCT l.authorization_id, s.service_type_id "
        "FROM authorization_line_service_types s "
        "JOIN authorization_lines l ON l.id = s.line_id"
    )
    op.execute(
        "DELETE FROM allocations WHERE id NOT IN (SELECT MIN(id) FROM allocations "
        "GROUP BY authorization_id, encounter_id)"
    )
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_allocations_line_id_authorization_lines'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_allocations_line_id'))
        batch_op.drop_constraint(batch_op.f('uq_allocations_line_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_allocations_authorization_id'), ['authorization_id', 'encounter_id'])
        batch_op.drop_column('line_id')

    with op.batch_alter_table('payers', schema=None) as batch_op:
        batch_op.drop_column('payer_identifier')

    with op.batch_alter_table('payer_decision_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payer_decision_files_organization_id'))
    op.drop_table('payer_decision_files')
    op.drop_table('authorization_line_service_types')
    with op.batch_alter_table('authorization_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorization_lines_organization_id'))
        batch_op.drop_index(batch_op.f('ix_authorization_lines_authorization_id'))
    op.drop_table('authorization_lines')
