"""The Textual console: a thin shell over the services.

The UI thread only draws: anything that touches the store runs in a thread worker, and the engine, when
the console hosts it, runs in a thread with its own event loop (``EngineHost``) and reaches the screen
only through messages. A slow disk or a busy route never freezes the screen an operator is watching.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from alertcast.services.context import AppContext
from alertcast.services.engine_host import EngineHost
from alertcast.services.overview import Overview, get_overview
from alertcast.tui.broadcasts_panel import BroadcastsPanel
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


class EngineEvent(Message):
    """An engine event carried from the engine's thread to the UI thread."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class AlertcastApp(App[None]):
    """The operator's console."""

    TITLE = "alertcast"
    SUB_TITLE = "emergency alert broadcast console"
    CSS_PATH = "alertcast.tcss"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit"),
        Binding("f5", "refresh", "Refresh"),
        Binding("f6", "toggle_engine", "Engine on/off"),
    ]

    def __init__(
        self, ctx: AppContext, *, host_engine: bool = False, initial_tab: str = "tab-overview", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.initial_tab = initial_tab
        self.engine = EngineHost(ctx, on_event=lambda event: self.post_message(EngineEvent(event)))
        self.host_engine = host_engine

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with TabbedContent(initial=self.initial_tab):
            with TabPane("Overview", id="tab-overview"), Vertical(id="home"):
                yield OverviewPanel("Loading…", id="overview")
            with TabPane("Compose", id="tab-compose"):
                yield ComposePanel(self.ctx, id="composer")
            with TabPane("Broadcasts", id="tab-broadcasts"):
                yield BroadcastsPanel(self.ctx, id="broadcasts-panel")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()
        if self.host_engine:
            self.action_toggle_engine()

    def action_refresh(self) -> None:
        self.load_overview()

    def action_toggle_engine(self) -> None:
        if self.engine.running:
            self.stop_engine()
        else:
            self.engine.start()
            self.sub_title = "engine running"
            self.notify("Engine started: queued deliveries are being sent")

    @work(thread=True, exclusive=True, group="engine-stop")
    def stop_engine(self) -> None:
        self.engine.stop()
        self.call_from_thread(setattr, self, "sub_title", "engine stopped")

    def on_engine_event(self, message: EngineEvent) -> None:
        self.query_one(BroadcastsPanel).show_event(message.event)

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

    async def action_quit(self) -> None:
        if self.engine.running:
            self.notify("Stopping the engine: in-flight messages are handed back…")
            await self.run_worker(self.engine.stop, thread=True).wait()
        self.exit()


def run_console(ctx: AppContext, *, host_engine: bool = False, initial_tab: str = "tab-overview") -> None:
    AlertcastApp(ctx, host_engine=host_engine, initial_tab=initial_tab).run()
