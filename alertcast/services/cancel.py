"""Cancelling a broadcast: nothing more of it is sent; what a transport already has is not recalled."""

from __future__ import annotations

from alertcast.services.context import AppContext
from alertcast.store.outbox import CancelOutcome, OutboxError, cancel_broadcast

CANCEL_ERRORS: tuple[type[Exception], ...] = (OutboxError,)


def cancel(ctx: AppContext, broadcast_id: int, *, operator: str | None = None) -> CancelOutcome:
    """Cancel ``broadcast_id`` as ``operator`` (default: the configured operator); audit-logged.

    Running engines (any process) notice within a second and drop what they have not handed out yet.
    """
    return cancel_broadcast(ctx.engine, broadcast_id, operator=operator or ctx.config.operator)
