"""evaluation and audit chain

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Adds the ratings and return visits of 好差评, and chains the ticket history by hash: events
written before this revision are chained here (the append-only triggers are lifted for the
backfill only). The canonical form is frozen in this file so that later code changes cannot
alter how old events were hashed.
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rating_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=100), nullable=True),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('sent_count', sa.Integer(), nullable=False),
    sa.Column('first_sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resend_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_rating_invitations_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_rating_invitations_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_invitations')),
    sa.UniqueConstraint('ticket_id', 'round', name=op.f('uq_rating_invitations_ticket_id_round'))
    )
    with op.batch_alter_table('rating_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_invitations_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_invitations_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_invitations_resend_at'), ['resend_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_invitations_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_invitations_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=True),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('bad', sa.Boolean(), nullable=False),
    sa.Column('real_name', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('source_ref', sa.String(length=200), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('void', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['department_code'], ['departments.code'], name=op.f('fk_ratings_department_code_departments')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ratings_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings')),
    sa.UniqueConstraint('ticket_id', 'round', name=op.f('uq_ratings_ticket_id_round'))
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_department_code'), ['department_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_ratings_rated_at'), ['rated_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ratings_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('return_visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('agent', sa.String(length=100), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('reply_true', sa.Boolean(), nullable=True),
    sa.Column('level', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('visited_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_return_visits_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_visits'))
    )
    with op.batch_alter_table('return_visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_visits_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_visits_visited_at'), ['visited_at'], unique=False)

    op.create_table('unit_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('flagged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('flagged_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['department_code'], ['departments.code'], name=op.f('fk_unit_flags_department_code_departments')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_unit_flags_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_flags'))
    )
    with op.batch_alter_table('unit_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_flags_department_code'), ['department_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_flags_flagged_at'), ['flagged_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_flags_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('bad_rating_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rating_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('contact_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('contacted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('contact_note', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['department_code'], ['departments.code'], name=op.f('fk_bad_rating_reviews_department_code_departments')),
    sa.ForeignKeyConstraint(['rating_id'], ['ratings.id'], name=op.f('fk_bad_rating_reviews_rating_id_ratings')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_bad_rating_reviews_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bad_rating_reviews')),
    sa.UniqueConstraint('rating_id', name=op.f('uq_bad_rating_reviews_rating_id'))
    )
    with op.batch_alter_table('bad_rating_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bad_rating_reviews_department_code'), ['department_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_bad_rating_reviews_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_bad_rating_reviews_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('rating_appeals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rating_id', sa.Integer(), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['department_code'], ['departments.code'], name=op.f('fk_rating_appeals_department_code_departments')),
    sa.ForeignKeyConstraint(['rating_id'], ['ratings.id'], name=op.f('fk_rating_appeals_rating_id_ratings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_appeals'))
    )
    with op.batch_alter_table('rating_appeals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_appeals_rating_id'), ['rating_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_appeals_status'), ['status'], unique=False)

    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('history_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_tickets_received_at'), ['received_at'], unique=False)


    _backfill_chains()

def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_received_at'))
        batch_op.drop_column('history_hash')

    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')

    with op.batch_alter_table('rating_appeals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_appeals_status'))
        batch_op.drop_index(batch_op.f('ix_rating_appeals_rating_id'))

    op.drop_table('rating_appeals')
    with op.batch_alter_table('bad_rating_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bad_rating_reviews_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_bad_rating_reviews_status'))
        batch_op.drop_index(batch_op.f('ix_bad_rating_reviews_department_code'))

    op.drop_table('bad_rating_reviews')
    with op.batch_alter_table('unit_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_flags_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_unit_flags_flagged_at'))
        batch_op.drop_index(batch_op.f('ix_unit_flags_department_code'))

    op.drop_table('unit_flags')
    with op.batch_alter_table('return_visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_visits_visited_at'))
        batch_op.drop_index(batch_op.f('ix_return_visits_ticket_id'))

    op.drop_table('return_visits')
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ratings_rated_at'))
        batch_op.drop_index(batch_op.f('ix_ratings_department_code'))

    op.drop_table('ratings')
    with op.batch_alter_table('rating_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_invitations_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_rating_invitations_status'))
        batch_op.drop_index(batch_op.f('ix_rating_invitations_resend_at'))
        batch_op.drop_index(batch_op.f('ix_rating_invitations_expires_at'))
        batch_op.drop_index(batch_op.f('ix_rating_invitations_citizen_id'))

    op.drop_table('rating_invitations')


def _genesis(number: str) -> str:
    return hashlib.sha256(f"hotline-ticket:{number}".encode()).hexdigest()


def _link(prev: str, number: str, row: Any) -> str:
    at = row.at if isinstance(row.at, datetime) else datetime.fromisoformat(str(row.at))
    at = at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite keeps UTC without an offset
    data = row.data
    if isinstance(data, str):
        data = json.loads(data)
    body = {
        "ticket": number,
        "seq": row.seq,
        "at": at.astimezone(UTC).isoformat(),
        "actor": [row.actor_kind, row.actor_id, row.actor_department],
        "action": row.action,
        "before": row.status_before,
        "after": row.status_after,
        "note": row.note,
        "data": data or {},
    }
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(prev.encode())
    digest.update(text.encode())
    return digest.hexdigest()


def _backfill_chains() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT e.id, e.ticket_id, e.seq, e.at, e.actor_kind, e.actor_id, "
            "e.actor_department, e.action, e.status_before, e.status_after, e.note, e.data, "
            "t.number FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
            "ORDER BY e.ticket_id, e.seq"
        )
    ).all()
    if not rows:
        return
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE ticket_events DISABLE TRIGGER ticket_events_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS ticket_events_no_update")
    heads: dict[int, str] = {}
    for row in rows:
        prev = heads.get(row.ticket_id) or _genesis(row.number)
        current = _link(prev, row.number, row)
        bind.execute(
            sa.text("UPDATE ticket_events SET prev_hash = :p, hash = :h WHERE id = :i"),
            {"p": prev, "h": current, "i": row.id},
        )
        heads[row.ticket_id] = current
    for ticket_id, head in heads.items():
        bind.execute(
            sa.text("UPDATE tickets SET history_hash = :h WHERE id = :i"),
            {"h": head, "i": ticket_id},
        )
    if postgres:
        op.execute("ALTER TABLE ticket_events ENABLE TRIGGER ticket_events_append_only")
    else:
        op.execute(
            "CREATE TRIGGER ticket_events_no_update BEFORE UPDATE ON ticket_events "
            "BEGIN SELECT RAISE(ABORT, 'ticket_events is append-only'); END"
        )
