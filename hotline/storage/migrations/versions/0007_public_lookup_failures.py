"""failed public lookups in the database (shared by every instance)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

The throttle on query-code lookups counted failures in each instance's memory, so with several
instances an address had that many tries per instance. The failures now live in a table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('public_lookup_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_lookup_failures'))
    )
    with op.batch_alter_table('public_lookup_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_lookup_failures_at'), ['at'], unique=False)
        batch_op.create_index('ix_public_lookup_failures_client_at', ['client', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('public_lookup_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_public_lookup_failures_client_at')
        batch_op.drop_index(batch_op.f('ix_public_lookup_failures_at'))

    op.drop_table('public_lookup_failures')
