"""drop ix_tickets_status: ix_tickets_status_due_at leads with status

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

Every ticket written and every change of its status updated both indexes, while any lookup by
status alone is served as well by the composite index's leading column.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_status'))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tickets_status'), ['status'], unique=False)
