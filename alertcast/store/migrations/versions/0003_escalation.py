"""fallback and escalation

Each broadcast keeps the fallback policy it was sent with; each delivery says when the escalation sweep
should next look at it (``escalate_at``, null once nothing more can follow it). A partial index holds only
the rows still waiting for a decision, and a partial unique index makes a fallback step impossible to
create twice for one parent and address, whichever engine decides it. Acks are indexed by contact, so
"has this person acknowledged?" does not read a whole broadcast's acks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:12:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alertcast.store.models

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('broadcast', sa.Column('escalation', sa.JSON(), nullable=False, server_default='{}'))
    op.add_column('delivery', sa.Column('escalate_at', alertcast.store.models.UTCDateTime(), nullable=True))
    op.create_index(
        'ix_delivery_escalation',
        'delivery',
        ['state', 'escalate_at'],
        unique=False,
        sqlite_where=sa.text('escalate_at IS NOT NULL'),
        postgresql_where=sa.text('escalate_at IS NOT NULL'),
    )
    op.create_index(
        'ux_delivery_parent_address',
        'delivery',
        ['parent_id', 'address'],
        unique=True,
        sqlite_where=sa.text('parent_id IS NOT NULL'),
        postgresql_where=sa.text('parent_id IS NOT NULL'),
    )
    op.create_index('ix_ack_contact_id', 'ack', ['contact_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ack_contact_id', table_name='ack')
    op.drop_index('ux_delivery_parent_address', table_name='delivery')
    op.drop_index('ix_delivery_escalation', table_name='delivery')
    # Plain drops (SQLite 3.35+ drops columns natively); batch mode cannot copy the claim index's
    # expression (priority DESC).
    op.drop_column('delivery', 'escalate_at')
    op.drop_column('broadcast', 'escalation')
