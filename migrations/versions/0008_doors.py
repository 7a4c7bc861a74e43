"""sessions that end: a per-user session version and the time of the last activity

Bumping `users.session_version` ends every session and remember-me cookie of the
user (sign-out, password change, deactivation, idle timeout); `last_seen_at` is
the user's last activity, for the idle timeout.

Revision ID: 0008_doors
Revises: 0006_authorization_truth
Create Date: 2026-11-30 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_doors'
down_revision = '0006_authorization_truth'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('session_version')
