"""The composer: type a message, pick groups, see live counts, preview, confirm, send.

Counting is pure and takes microseconds, so it runs on every keystroke on the UI thread; preview and send
touch the store and run in thread workers, so typing never waits on the database.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Label, Select, SelectionList, Static, TextArea

from alertcast.services.compose import ComposeRequest, text_stats
from alertcast.services.contacts import list_groups
from alertcast.services.context import AppContext
from alertcast.services.recipients import Targets
from alertcast.services.send import SEND_ERRORS, preview, send
from alertcast.tui.confirm import ConfirmSend

PRIORITIES = ("routine", "elevated", "high", "severe", "critical")


def preview_text(p: dict[str, Any]) -> str:
    """The preview as the operator reads it before deciding to send."""
    lines = [f"[b]{'DRILL — ' if p['drill'] else ''}{p['title']}[/b]  priority {p['priority']}"]
    for m in p["messages"]:
        flag = "" if m["fits"] else "  [red]over budget[/red]"
        lines.append(
            f"\n[b]{m['language']}[/b] — {m['recipients']} recipient(s), {m['characters']} chars, "
            f"{m['encoding']}, {m['segments']}/{m['budget_segments']} SMS{flag}"
        )
        lines.append(m["sms"].replace("[", r"\["))
    r = p["recipients"]
    channels = ", ".join(f"{n} by {k}" for k, n in sorted(r["per_channel"].items()))
    lines.append(f"\n[b]{r['total']} recipient(s)[/b]: {channels or 'none'}")
    if r["opted_out_skipped"]:
        lines.append(f"{r['opted_out_skipped']} opted out (not sent)")
    if r["unreachable"]:
        lines.append(f"{len(r['unreachable'])} without an address on the allowed channels")
    lines.extend(f"[yellow]warning:[/yellow] {w}" for w in p["warnings"])
    return "\n".join(lines)


class ComposePanel(Vertical):
    """Message, recipients and options on the left; counts and preview on the right."""

    class Sent(Message):
        def __init__(self, broadcast_id: int) -> None:
            super().__init__()
            self.broadcast_id = broadcast_id

    def __init__(self, ctx: AppContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="compose-left"):
                yield Label("Message")
                yield TextArea(id="message", soft_wrap=True)
                yield Static("", id="counts")
                yield Label("Groups")
                yield SelectionList[str](id="groups")
                with Horizontal(id="options"):
                    yield Checkbox("Drill", value=True, id="drill")
                    yield Select([(p, p) for p in PRIORITIES], value="high", allow_blank=False, id="priority")
                with Horizontal(id="actions"):
                    yield Button("Preview", id="preview", variant="primary")
                    yield Button("Send…", id="send", variant="error")
            with VerticalScroll(id="compose-right"):
                yield Static("Type a message and pick groups, then Preview.", id="preview-text")

    def on_mount(self) -> None:
        self.load_groups()
        self.update_counts()

    @work(thread=True, exclusive=True, group="groups")
    def load_groups(self) -> None:
        groups = list_groups(self.ctx)
        self.app.call_from_thread(self._show_groups, [(f"{g.name} ({g.members})", g.name) for g in groups])

    def _show_groups(self, options: list[tuple[str, str]]) -> None:
        selection = self.query_one("#groups", SelectionList)
        selection.clear_options()
        selection.add_options(options)

    def request(self) -> ComposeRequest:
        return ComposeRequest(
            texts={"en": self.query_one("#message", TextArea).text},
            targets=Targets(groups=tuple(self.query_one("#groups", SelectionList).selected)),
            drill=self.query_one("#drill", Checkbox).value,
            priority=str(self.query_one("#priority", Select).value),
        )

    @on(TextArea.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def update_counts(self) -> None:
        request = self.request()
        text = (request.texts or {}).get("en", "")
        stats = text_stats(self.ctx.config, text, priority=request.priority, drill=request.drill)
        style = "red" if stats.over_budget else "green"
        extra = f"  forces UCS-2: {' '.join(stats.ucs2_characters)}" if stats.ucs2_characters else ""
        self.query_one("#counts", Static).update(
            f"{stats.characters} chars · {stats.encoding} · [{style}]{stats.segments}/{stats.budget} SMS[/{style}]"
            f" · {stats.left_in_segment} left in this SMS{extra}"
        )

    @on(Button.Pressed, "#preview")
    def do_preview(self) -> None:
        self.run_preview(self.request())

    @work(thread=True, exclusive=True, group="preview")
    def run_preview(self, request: ComposeRequest) -> None:
        try:
            text = preview_text(preview(self.ctx, request))
        except SEND_ERRORS as exc:
            text = f"[red]{exc}[/red]"
        self.app.call_from_thread(self.query_one("#preview-text", Static).update, text)

    @on(Button.Pressed, "#send")
    def ask_to_send(self) -> None:
        request = self.request()

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self.run_send(request)

        self.app.push_screen(ConfirmSend(drill=request.drill, groups=request.targets.groups), decided)

    @work(thread=True, exclusive=True, group="send")
    def run_send(self, request: ComposeRequest) -> None:
        try:
            sent = send(self.ctx, request)
        except SEND_ERRORS as exc:
            self.app.call_from_thread(self.query_one("#preview-text", Static).update, f"[red]{exc}[/red]")
            return
        text = f"[b]Broadcast {sent.broadcast_id} queued[/b] for {sent.composition.recipients.people} recipient(s)."
        self.app.call_from_thread(self.query_one("#preview-text", Static).update, text)
        self.post_message(self.Sent(sent.broadcast_id))
