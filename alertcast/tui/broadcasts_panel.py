"""Live broadcast progress: one row per broadcast, updated by engine events and a slow store refresh.

Events from an engine hosted by this console arrive several times a second; the store is read every few
seconds in a worker so that broadcasts driven by other engine processes show up too.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from alertcast.core.priority import Priority
from alertcast.engine.events import BroadcastProgress, EngineNotice, RouteProgress
from alertcast.services.context import AppContext
from alertcast.services.status import BroadcastStatus, recent

COLUMNS = (
    "id",
    "title",
    "priority",
    "status",
    "recipients",
    "queued",
    "in flight",
    "sent",
    "delivered",
    "acked",
    "failed",
    "rate/s",
)
REFRESH_SECONDS = 2.0


def _priority(level: int) -> str:
    try:
        return Priority(level).label
    except ValueError:
        return str(level)


def _state_columns(states: dict[str, int]) -> dict[str, str]:
    """The per-state columns from one consistent set of counts (a store snapshot)."""
    return {
        "queued": str(states.get("queued", 0)),
        "in flight": str(states.get("claimed", 0)),
        "sent": str(states.get("submitted", 0)),
        "delivered": str(states.get("delivered", 0) + states.get("acknowledged", 0)),
        "acked": str(states.get("acknowledged", 0)),
        "failed": str(states.get("failed", 0) + states.get("expired", 0)),
    }


class BroadcastsPanel(Vertical):
    def __init__(self, ctx: AppContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.rates: dict[int, float] = {}
        self.route_lines: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="routes")
        table: DataTable[str] = DataTable(id="broadcasts", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="notices")

    def on_mount(self) -> None:
        table = self.query_one("#broadcasts", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.refresh_from_store()
        self.set_interval(REFRESH_SECONDS, self.refresh_from_store)

    @work(thread=True, exclusive=True, group="broadcasts")
    def refresh_from_store(self) -> None:
        rows = recent(self.ctx, limit=50)
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[BroadcastStatus]) -> None:
        table = self.query_one("#broadcasts", DataTable)
        for status in reversed(rows):
            c = status.counts
            values = {
                "id": str(c.id),
                "title": c.title[:48],
                "priority": _priority(c.priority),
                "status": c.status,
                "recipients": str(c.recipients),
                **_state_columns(c.states),
                "rate/s": f"{self.rates.get(c.id, 0.0):.0f}",
            }
            self._upsert(table, str(c.id), values)

    def _upsert(self, table: DataTable[str], key: str, values: dict[str, str]) -> None:
        if key in table.rows:
            for column, value in values.items():
                table.update_cell(key, column, value)
        else:
            table.add_row(*(values[c] for c in COLUMNS), key=key)

    def show_event(self, event: Any) -> None:
        """Apply one engine event (called on the UI thread)."""
        table = self.query_one("#broadcasts", DataTable)
        if isinstance(event, BroadcastProgress):
            self.rates[event.broadcast_id] = event.rate
            key = str(event.broadcast_id)
            if key in table.rows and event.totals:
                for column, value in _state_columns(event.totals).items():
                    table.update_cell(key, column, value)
            if key in table.rows:
                table.update_cell(key, "rate/s", f"{event.rate:.0f}")
        elif isinstance(event, RouteProgress):
            state = "up" if event.up else f"[red]down: {event.reason}[/red]"
            self.route_lines[event.route] = (
                f"[b]{event.route}[/b] {state} · in flight {event.in_flight} · handed {event.handed} · "
                f"{event.rate:.0f}/s"
            )
            self.query_one("#routes", Static).update("\n".join(self.route_lines.values()))
        elif isinstance(event, EngineNotice):
            self.query_one("#notices", Static).update(
                f"[{'red' if event.level == 'error' else 'yellow'}]{event.text}"
            )
