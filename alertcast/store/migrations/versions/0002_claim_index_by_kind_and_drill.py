"""claim index by kind and drill mode

Deliveries carry their broadcast's drill flag, and the claim index leads with (state, channel_kind, drill)
and orders by priority descending, so each route's claim reads exactly the rows it may take, in order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 02:47:47.656940
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain operations, not batch mode: SQLite adds a column and swaps an index natively, and batch mode
    # cannot copy an index with an expression (priority DESC).
    op.add_column('delivery', sa.Column('drill', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE delivery SET drill = (SELECT broadcast.drill FROM broadcast WHERE broadcast.id = delivery.broadcast_id)"
    )
    op.drop_index('ix_delivery_claim', table_name='delivery')
    op.create_index(
        'ix_delivery_claim',
        'delivery',
        ['state', 'channel_kind', 'drill', sa.literal_column('priority DESC'), 'next_attempt_at', 'id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_delivery_claim', table_name='delivery')
    op.create_index('ix_delivery_claim', 'delivery', ['state', 'priority', 'next_attempt_at', 'id'], unique=False)
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('drill')
