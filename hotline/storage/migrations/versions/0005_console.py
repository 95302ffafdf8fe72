"""console sessions, sign-in attempts, indexes for the console's pages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_console_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions'))
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('console_login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_login_attempts'))
    )
    with op.batch_alter_table('console_login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_console_login_attempts_ip_at', ['ip', 'at'], unique=False)
        batch_op.create_index('ix_console_login_attempts_username_at', ['username', 'at'], unique=False)

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_arrived_at', ['arrived_at'], unique=False)

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_department_code_status_due_at', ['department_code', 'status', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_assignments_department_code_status_due_at')

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_arrived_at')

    with op.batch_alter_table('console_login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_console_login_attempts_username_at')
        batch_op.drop_index('ix_console_login_attempts_ip_at')

    op.drop_table('console_login_attempts')
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_console_sessions_expires_at'))

    op.drop_table('console_sessions')
