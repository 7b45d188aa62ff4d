"""Broadcast status and per-recipient reports, read from the store (the source of truth), plus notes on
deliveries that cannot move: a live broadcast with no live route for its kind stays queued, and says so."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from alertcast.engine.config import RouteSettings, load_engine_config, routes_for
from alertcast.services.context import AppContext
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

    @property
    def open(self) -> int:
        states = self.counts.states
        return states.get("queued", 0) + states.get("claimed", 0)

    def as_dict(self) -> dict[str, Any]:
        data = _plain(asdict(self.counts))
        data["notes"] = list(self.notes)
        return data


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


def broadcast_status(ctx: AppContext, broadcast_id: int) -> BroadcastStatus:
    counts = broadcast_counts(ctx.engine, broadcast_id)
    if counts is None:
        raise StatusError(f"no broadcast {broadcast_id}")
    return BroadcastStatus(counts, route_notes(counts, _routes(ctx)))


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
