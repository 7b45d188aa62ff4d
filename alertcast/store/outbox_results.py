"""Recording what became of claimed deliveries, and matching delivery receipts, in batches.

A batch of results is one transaction with one executemany per kind of change, so the engine writes
thousands of outcomes per second. Every result is applied only while the row is still CLAIMED by the
caller: if this engine's lease was taken back (it stalled past its lease), the late result is counted as
stale and dropped, and the other engine's outcome stands.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Connection, Engine, bindparam, func, or_, select, update

from alertcast.store.models import DeliveryState, UTCDateTime, utcnow
from alertcast.store.outbox_tx import DELIVERY, Prepared, execute_many, run_write
from alertcast.store.outbox_types import (
    ReceiptRecord,
    RecordSummary,
    ResultKind,
    ResultRecord,
    RetryPolicy,
)

S = DeliveryState
_d = DELIVERY.c
_CHUNK = 500


def _changes() -> dict[str, dict[str, Any]]:
    """The SET clause for each kind of change; ``b_*`` names are filled per row, ``b_now`` per batch."""
    at = bindparam("b_now", type_=UTCDateTime())
    cleared = {"lease_owner": None, "lease_expires_at": None}
    duplicate = or_(_d.possible_duplicate, bindparam("b_dup", type_=Boolean()))
    tried = _d.attempts + 1
    return {
        "submitted": {
            "state": S.SUBMITTED.value,
            "provider_id": bindparam("b_pid"),
            "submitted_at": at,
            "attempts": tried,
            "error": None,
            "possible_duplicate": duplicate,
            **cleared,
        },
        "delivered": {
            "state": S.DELIVERED.value,
            "provider_id": func.coalesce(bindparam("b_pid"), _d.provider_id),
            "submitted_at": func.coalesce(_d.submitted_at, at),
            "final_at": at,
            "attempts": tried,
            "error": None,
            "possible_duplicate": duplicate,
            **cleared,
        },
        "failed": {
            "state": S.FAILED.value,
            "error": bindparam("b_err"),
            "final_at": at,
            "attempts": tried,
            **cleared,
        },
        "retry": {
            "state": S.QUEUED.value,
            "error": bindparam("b_err"),
            "next_attempt_at": bindparam("b_next", type_=UTCDateTime()),
            "attempts": tried,
            **cleared,
        },
        "requeue": {"state": S.QUEUED.value, "possible_duplicate": duplicate, **cleared},
        "expired": {"state": S.EXPIRED.value, "error": bindparam("b_err"), "final_at": at, **cleared},
        "cancelled": {"state": S.CANCELLED.value, "error": bindparam("b_err"), "final_at": at, **cleared},
    }


_RESULT_UPDATES = {
    name: Prepared(
        update(DELIVERY)
        .where(
            _d.id == bindparam("b_id"), _d.state == S.CLAIMED.value, _d.lease_owner == bindparam("b_owner")
        )
        .values(**changes)
    )
    for name, changes in _changes().items()
}
"""One prepared UPDATE per kind of change, applied only while the caller still holds the row's lease."""

_OPEN_STATES = (S.SUBMITTED.value, S.CLAIMED.value)
_RECEIPT_UPDATES = {
    state: Prepared(
        update(DELIVERY)
        .where(_d.id == bindparam("b_id"), or_(*(_d.state == s for s in _OPEN_STATES)))  # no IN: it expands
        .values(
            state=state,
            final_at=bindparam("b_at", type_=UTCDateTime()),
            lease_owner=None,
            lease_expires_at=None,
            error=bindparam("b_err"),
        )
    )
    for state in (S.DELIVERED.value, S.FAILED.value)
}
"""A receipt settles a delivery that is submitted, or still claimed (the receipt overtook its submit result)."""


_BY_PROVIDER_ID = select(_d.id, _d.provider_id, _d.route).where(
    _d.provider_id.in_(bindparam("forms", expanding=True))
)


def _group(
    results: Sequence[ResultRecord], policy: RetryPolicy, at: datetime, rng: random.Random
) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        row: dict[str, Any] = {"b_id": r.delivery_id}
        kind = r.kind
        if kind in (ResultKind.SUBMITTED, ResultKind.DELIVERED):
            row.update(b_pid=r.provider_id, b_dup=r.possible_duplicate)
        elif kind is ResultKind.RETRY:
            made = r.attempts + 1
            if made >= policy.max_attempts:
                row["b_err"] = f"gave up after {made} attempts; last error: {r.error or 'temporary failure'}"
                groups["failed"].append(row)
                continue
            row.update(b_err=r.error, b_next=at + policy.delay(made, rng))
        elif kind in (ResultKind.REQUEUE, ResultKind.RELEASE):
            row["b_dup"] = r.possible_duplicate and kind is ResultKind.REQUEUE
            groups["requeue"].append(row)
            continue
        else:
            row["b_err"] = r.error
        groups[kind.value].append(row)
    return groups


def _apply_results(
    connection: Connection,
    owner: str,
    results: Sequence[ResultRecord],
    policy: RetryPolicy,
    at: datetime,
    rng: random.Random,
) -> tuple[int, int]:
    applied = 0
    constants = {"b_now": at, "b_owner": owner}
    for name, rows in _group(results, policy, at, rng).items():
        applied += execute_many(connection, _RESULT_UPDATES[name], rows, constants)
    return applied, len(results) - applied


def _apply_receipts(
    connection: Connection, receipts: Sequence[ReceiptRecord], at: datetime
) -> tuple[int, list[ReceiptRecord]]:
    """Match receipts to deliveries by any form of the provider id (and the route, when known)."""
    forms = sorted({pid for r in receipts for pid in r.provider_ids if pid})
    found: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
    for start in range(0, len(forms), _CHUNK):
        for delivery_id, provider_id, route in connection.execute(
            _BY_PROVIDER_ID, {"forms": forms[start : start + _CHUNK]}
        ).all():
            found[provider_id].append((delivery_id, route))
    delivered: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    unmatched: list[ReceiptRecord] = []
    for receipt in receipts:
        ids = {
            delivery_id
            for pid in receipt.provider_ids
            for delivery_id, route in found.get(pid, ())
            if receipt.route is None or route == receipt.route
        }
        if not ids:
            unmatched.append(receipt)
            continue
        when = receipt.received_at or at
        for delivery_id in ids:
            if receipt.delivered:
                delivered.append({"b_id": delivery_id, "b_at": when, "b_err": None})
            else:
                error = receipt.error or f"receipt: {receipt.status}"
                failed.append({"b_id": delivery_id, "b_at": when, "b_err": error})
    execute_many(connection, _RECEIPT_UPDATES[S.DELIVERED.value], delivered)
    execute_many(connection, _RECEIPT_UPDATES[S.FAILED.value], failed)
    return len(receipts) - len(unmatched), unmatched


def record_results(
    engine: Engine,
    owner: str,
    results: Sequence[ResultRecord],
    receipts: Sequence[ReceiptRecord] = (),
    *,
    policy: RetryPolicy | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> RecordSummary:
    """Write a batch of results, then match a batch of receipts, in one transaction.

    Results first, so a receipt that overtook its submit result (an SMSC can answer with the receipt before
    the submit response is processed) matches in the same batch. Receipts that match nothing are returned
    for the caller to hold and offer again.
    """
    if not results and not receipts:
        return RecordSummary()
    at = now or utcnow()
    retry = policy or RetryPolicy()
    draw = rng or random.Random()

    def work(connection: Connection) -> RecordSummary:
        applied, stale = _apply_results(connection, owner, results, retry, at, draw) if results else (0, 0)
        matched, unmatched = _apply_receipts(connection, receipts, at) if receipts else (0, [])
        return RecordSummary(applied, stale, matched, tuple(unmatched))

    return run_write(engine, work)
