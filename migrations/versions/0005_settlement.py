"""payment settlement, automation runs, reminder email claims

What 0003 and 0004 (landed with the schema first) lacked once reminders were emailed
and holds charged: claim columns on reminder deliveries, the pending → settled state
of payments, one invoice per encounter and the automation run log.

Revision ID: 0005_settlement
Revises: 0004_payments
Create Date: 2026-11-23 03:20:18.493271

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_settlement'
down_revision = '0004_payments'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('automation_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('encounter_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('disposition', sa.String(length=40), nullable=True),
    sa.Column('automation_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=True),
    sa.Column('rule_number', sa.Integer(), nullable=True),
    sa.Column('rule_label', sa.String(length=200), nullable=True),
    sa.Column('explanation', sa.String(length=300), nullable=False),
    sa.Column('also_matched', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['automation_id'], ['automations.id'], name=op.f('fk_automation_runs_automation_id_automations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_automation_runs_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['encounter_id'], ['encounters.id'], name=op.f('fk_automation_runs_encounter_id_encounters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_automation_runs_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_runs'))
    )
    with op.batch_alter_table('automation_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_automation_runs_encounter_id'), ['encounter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_automation_runs_organization_id'), ['organization_id'], unique=False)

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), server_default='visit', nullable=False))
        batch_op.drop_index(batch_op.f('ix_invoices_encounter_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_invoices_encounter_id'), ['encounter_id'])

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), server_default='pending', nullable=False))
        batch_op.add_column(sa.Column('from_hold', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('hold_attempt', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('failure_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('attempted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('settled_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('reminder_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_claim', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('email_claimed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('email_error', sa.String(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_reminder_deliveries_email_claim'), ['email_claim'], unique=False)



def downgrade():
    with op.batch_alter_table('reminder_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_deliveries_email_claim'))
        batch_op.drop_column('email_error')
        batch_op.drop_column('email_claimed_at')
        batch_op.drop_column('email_claim')

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('settled_at')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('attempted_at')
        batch_op.drop_column('failure_reason')
        batch_op.drop_column('hold_attempt')
        batch_op.drop_column('from_hold')
        batch_op.drop_column('status')

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_invoices_encounter_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_invoices_encounter_id'), ['encounter_id'], unique=False)
        batch_op.drop_column('kind')

    with op.batch_alter_table('automation_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_automation_runs_organization_id'))
        batch_op.drop_index(batch_op.f('ix_automation_runs_encounter_id'))

    op.drop_table('automation_runs')
