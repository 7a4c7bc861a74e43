"""money truth: hold checks, per-unit lines, refunds, voids, fees

Holds the gateway may have that a row does not know about (gateway_check_due) and
the findings of the checks; the claim of a lapse renewal; invoice lines as
quantity × unit price; per-unit cancellation fees; the self-pay rounding rule;
refunds (of which payment, why), voids and the gateway's fees.

Revision ID: 0009_money_truth
Revises: 0008_doors
Create Date: 2026-11-30 05:11:11.213234

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_money_truth'
down_revision = '0008_doors'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('hold_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('pre_authorization_id', sa.Integer(), nullable=True),
    sa.Column('gateway_reference', sa.String(length=100), nullable=False),
    sa.Column('our_reference', sa.String(length=100), nullable=True),
    sa.Column('amount_cents', sa.Integer(), nullable=True),
    sa.Column('gateway_status', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('found_by', sa.String(length=60), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_hold_findings_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pre_authorization_id'], ['pre_authorizations.id'], name=op.f('fk_hold_findings_pre_authorization_id_pre_authorizations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hold_findings'))
    )
    with op.batch_alter_table('hold_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hold_findings_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_hold_findings_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hold_findings_pre_authorization_id'), ['pre_authorization_id'], unique=False)

    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quantity', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('unit_price_cents', sa.Integer(), nullable=True))
    # Lines written before: one of each, at their amount.
    op.execute("UPDATE invoice_lines SET unit_price_cents = amount_cents")

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('void_reason', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('voided_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('voided_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_invoices_voided_by_id_users'), 'users', ['voided_by_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('self_pay_rounding_profile', sa.String(length=32), server_default='cms-8-minute', nullable=False))

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fee_cents', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('refund_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=300), nullable=True))
        batch_op.create_index(batch_op.f('ix_payments_refund_of_id'), ['refund_of_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_payments_refund_of_id_payments'), 'payments', ['refund_of_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('pre_authorizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gateway_check_due', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('renewal_started_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('service_types', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancellation_fee_per_unit', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    with op.batch_alter_table('service_types', schema=None) as batch_op:
        batch_op.drop_column('cancellation_fee_per_unit')

    with op.batch_alter_table('pre_authorizations', schema=None) as batch_op:
        batch_op.drop_column('renewal_started_at')
        batch_op.drop_column('gateway_check_due')

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payments_refund_of_id_payments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_payments_refund_of_id'))
        batch_op.drop_column('reason')
        batch_op.drop_column('refund_of_id')
        batch_op.drop_column('fee_cents')

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('self_pay_rounding_profile')

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_invoices_voided_by_id_users'), type_='foreignkey')
        batch_op.drop_column('voided_at')
        batch_op.drop_column('voided_by_id')
        batch_op.drop_column('void_reason')

    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.drop_column('unit_price_cents')
        batch_op.drop_column('quantity')

    with op.batch_alter_table('hold_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hold_findings_pre_authorization_id'))
        batch_op.drop_index(batch_op.f('ix_hold_findings_organization_id'))
        batch_op.drop_index(batch_op.f('ix_hold_findings_created_at'))

    op.drop_table('hold_findings')
