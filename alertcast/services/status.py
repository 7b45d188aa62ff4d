"""Broadcast status and per-recipient reports, read from the store (the source of truth), plus notes on
deliveries that cannot move: a live broadcast with no live route for its kind stays queued, and says so."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alertcast.engine.config import RouteSettings, load_engine_config, routes_for
from alertcast.services.context import AppContext
from alertcast.store.ack_report import AckSummary, ReplySummary, ack_summary, reply_summary
from alertcast.store.outbox_escalation import EscalationStatus, escalation_status, escalations_due
from alertcast.store.outbox_report import (
    REPORT_COLUMNS,
    BroadcastCounts,
    broadcast_counts,
    recent_broadcasts,
    report_rows,
)


class StatusError(ValueError):
    """An unknown broadcast id; the message names it."""


STATUS_ERRORS: tuple[type[Exception], ...] = (StatusError,)


@dataclass
class BroadcastStatus:
    counts: BroadcastCounts
    notes: list[str] = field(default_factory=list)
    acks: AckSummary | None = None
    """Per person: acknowledged, delivered, sent, pending, failed; times to first and 90 % ack; who has not
    acknowledged. Only with ``details``."""
    fallback: EscalationStatus | None = None
    replies: ReplySummary | None = None

    @property
    def open(self) -> int:
        states = self.counts.states
        return states.get("queued", 0) + states.get("claimed", 0)

    def as_dict(self) -> dict[str, Any]:
        data = _plain(asdict(self.counts))
        data["notes"] = list(self.notes)
        if self.acks is not None:
            data["acks"] = _acks(self.acks)
        if self.fallback is not None:
            data["fallback"] = asdict(self.fallback)
        if self.replies is not None:
            data["replies"] = {
                "matched": self.replies.matched,
                "unmatched": self.replies.unmatched,
                "opt_out_requests": [_plain(asdict(r)) for r in self.replies.opt_out_requests],
                "help_requests": [_plain(asdict(r)) for r in self.replies.help_requests],
            }
        return data


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds(), 3)


def _acks(a: AckSummary) -> dict[str, Any]:
    return {
        "requested": a.ack_requested,
        "recipients": a.recipients,
        "acknowledged": a.acknowledged,
        "delivered": a.delivered,
        "sent": a.sent,
        "pending": a.pending,
        "failed": a.failed,
        "not_sent": a.not_sent,
        "first_ack_seconds": _seconds(a.first_ack_after),
        "ninety_percent_seconds": _seconds(a.ninety_percent_after),
        "not_acknowledged": [
            {"contact_id": u.contact_id, "name": u.name, "addresses": list(u.addresses), "state": u.state}
            for u in a.not_acknowledged
        ],
        "not_acknowledged_total": a.not_acknowledged_total,
    }


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def _routes(ctx: AppContext) -> tuple[RouteSettings, ...]:
    return load_engine_config(ctx.config).routes


def route_notes(counts: BroadcastCounts, routes: tuple[RouteSettings, ...]) -> list[str]:
    """Why queued deliveries of this broadcast may not move."""
    notes = []
    mode = "drill" if counts.drill else "live"
    for kind, states in sorted(counts.by_channel.items()):
        queued = states.get("queued", 0)
        if queued and not routes_for(routes, kind, counts.drill):
            notes.append(
                f"no {mode} route for kind {kind}: {queued} deliveries stay queued until one is configured"
            )
    if counts.status == "cancelled" and counts.states.get("claimed"):
        notes.append("cancelled: the engine drops what it has not handed out within a second")
    if counts.possible_duplicates:
        notes.append(
            f"{counts.possible_duplicates} deliveries may have been sent twice (an engine stopped mid-send)"
        )
    return notes


def broadcast_status(
    ctx: AppContext, broadcast_id: int, *, details: bool = False, unacknowledged_limit: int = 50
) -> BroadcastStatus:
    """Counts and notes; with ``details`` also acknowledgements per person, the fallback picture and the
    replies that need reading (these read every delivery of the broadcast, so pollers leave them off)."""
    counts = broadcast_counts(ctx.engine, broadcast_id)
    if counts is None:
        raise StatusError(f"no broadcast {broadcast_id}")
    status = BroadcastStatus(counts, route_notes(counts, _routes(ctx)))
    if details:
        status.acks = ack_summary(ctx.engine, broadcast_id, limit=unacknowledged_limit)
        status.fallback = escalation_status(ctx.engine, broadcast_id)
        status.replies = reply_summary(ctx.engine, broadcast_id, limit=unacknowledged_limit)
    return status


def fallback_due(ctx: AppContext, broadcast_id: int | None = None) -> int:
    """Deliveries (of one broadcast, if given) the engine's fallback sweep will act on at its next run:
    failed ones a later step may follow, or ones whose wait is over."""
    return escalations_due(ctx.engine, broadcast_id=broadcast_id)


def recent(ctx: AppContext, limit: int = 20) -> list[BroadcastStatus]:
    routes = _routes(ctx)
    return [BroadcastStatus(c, route_notes(c, routes)) for c in recent_broadcasts(ctx.engine, limit)]


def report(ctx: AppContext, broadcast_id: int) -> Iterator[dict[str, Any]]:
    """Per-recipient rows (see ``REPORT_COLUMNS``), streamed in delivery order; times as ISO 8601."""
    if broadcast_counts(ctx.engine, broadcast_id) is None:
        raise StatusError(f"no broadcast {broadcast_id}")
    for row in report_rows(ctx.engine, broadcast_id):
        yield _plain(row)


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def report_csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """The report as CSV text, header first, a chunk at a time."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(REPORT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for n, row in enumerate(rows, 1):
        writer.writerow({k: _cell(v) for k, v in row.items()})
        if n % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
