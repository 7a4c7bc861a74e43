"""people: invitations and the last sign-in of each user

Admin › Users shows when a person was invited and when they last signed in.

Revision ID: 0013_people
Revises: 0012_authorization_lines
Create Date: 2026-11-30 08:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_people'
down_revision = '0012_authorization_lines'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invited_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_sign_in_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_sign_in_at')
        batch_op.drop_column('invited_at')
