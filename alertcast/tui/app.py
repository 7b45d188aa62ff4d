"""The Textual console: a thin shell over the services.

The UI thread only draws: anything that touches the store runs in a thread worker and comes back as a
message, so a slow disk or a busy database never freezes the screen an operator is watching.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from alertcast.services.context import AppContext
from alertcast.services.overview import Overview, get_overview
from alertcast.tui.compose_panel import ComposePanel


class OverviewPanel(Static):
    """Database in use and what it holds."""

    def show(self, overview: Overview) -> None:
        self.update(
            f"[b]Database[/b]  {overview.database}\n\n"
            f"[b]Contacts[/b]  {overview.contacts:>8,}    [b]Groups[/b]      {overview.groups:>6,}\n"
            f"[b]Alerts[/b]    {overview.alerts:>8,}    [b]Broadcasts[/b]  {overview.broadcasts:>6,}\n"
            f"[b]Deliveries[/b] {overview.deliveries:>7,}"
        )


class AlertcastApp(App[None]):
    """The operator's console."""

    TITLE = "alertcast"
    SUB_TITLE = "emergency alert broadcast console"
    CSS_PATH = "alertcast.tcss"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit"), Binding("f5", "refresh", "Refresh")]

    def __init__(self, ctx: AppContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with TabbedContent(initial="tab-overview"):
            with TabPane("Overview", id="tab-overview"), Vertical(id="home"):
                yield OverviewPanel("Loading…", id="overview")
            with TabPane("Compose", id="tab-compose"):
                yield ComposePanel(self.ctx, id="composer")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_overview()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-compose":
            self.query_one("#message").focus()

    def on_compose_panel_sent(self, message: ComposePanel.Sent) -> None:
        self.notify(f"Broadcast {message.broadcast_id} queued")
        self.load_overview()

    @work(thread=True, exclusive=True, group="overview")
    def load_overview(self) -> None:
        overview = get_overview(self.ctx)
        self.call_from_thread(self.query_one(OverviewPanel).show, overview)


def run_console(ctx: AppContext) -> None:
    AlertcastApp(ctx).run()
