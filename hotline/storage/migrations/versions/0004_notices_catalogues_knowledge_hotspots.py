"""notices catalogues knowledge hotspots

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('routing_catalogues',
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('rules', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('urban_divisions', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('counties', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_routing_catalogues'))
    )
    op.create_table('hotspots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_code', sa.String(length=64), nullable=False),
    sa.Column('division_code', sa.String(length=40), nullable=False),
    sa.Column('place', sa.String(length=40), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reports', sa.Integer(), nullable=False),
    sa.Column('ticket_numbers', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('flagged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['category_code'], ['categories.code'], name=op.f('fk_hotspots_category_code_categories')),
    sa.ForeignKeyConstraint(['division_code'], ['divisions.code'], name=op.f('fk_hotspots_division_code_divisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hotspots')),
    sa.UniqueConstraint('category_code', 'division_code', 'place', 'first_seen', name=op.f('uq_hotspots_category_code_division_code_place_first_seen'))
    )
    with op.batch_alter_table('hotspots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hotspots_status'), ['status'], unique=False)

    op.create_table('kb_articles',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('category_code', sa.String(length=64), nullable=True),
    sa.Column('keywords', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['category_code'], ['categories.code'], name=op.f('fk_kb_articles_category_code_categories')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_kb_articles'))
    )
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_articles_category_code'), ['category_code'], unique=False)

    op.create_table('kb_article_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('keywords', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['code'], ['kb_articles.code'], name=op.f('fk_kb_article_versions_code_kb_articles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_article_versions')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_kb_article_versions_code_version'))
    )
    with op.batch_alter_table('kb_article_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_article_versions_code'), ['code'], unique=False)

    op.create_table('deadline_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.String(length=36), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fire_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_deadline_notices_assignment_id_assignments')),
    sa.ForeignKeyConstraint(['department_code'], ['departments.code'], name=op.f('fk_deadline_notices_department_code_departments')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_deadline_notices_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline_notices')),
    sa.UniqueConstraint('assignment_id', 'kind', 'level', 'due_at', name=op.f('uq_deadline_notices_assignment_id_kind_level_due_at'))
    )
    with op.batch_alter_table('deadline_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadline_notices_assignment_id'), ['assignment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deadline_notices_department_code'), ['department_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_deadline_notices_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_notice_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_assignments_next_notice_at'), ['next_notice_at'], unique=False)

    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('webhook_secret', sa.String(length=128), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_column('webhook_secret')
        batch_op.drop_column('webhook_url')

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_next_notice_at'))
        batch_op.drop_column('next_notice_at')

    with op.batch_alter_table('deadline_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deadline_notices_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_deadline_notices_department_code'))
        batch_op.drop_index(batch_op.f('ix_deadline_notices_assignment_id'))

    op.drop_table('deadline_notices')
    with op.batch_alter_table('kb_article_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_article_versions_code'))

    op.drop_table('kb_article_versions')
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_articles_category_code'))

    op.drop_table('kb_articles')
    with op.batch_alter_table('hotspots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hotspots_status'))

    op.drop_table('hotspots')
    op.drop_table('routing_catalogues')
