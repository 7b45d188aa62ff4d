"""The last question before anything reaches phones: a live send must be confirmed explicitly."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmSend(ModalScreen[bool]):
    """Cancel has the focus, so a stray Enter never sends a live broadcast."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, *, drill: bool, groups: tuple[str, ...]) -> None:
        super().__init__()
        self.drill = drill
        self.groups = groups

    def compose(self) -> ComposeResult:
        kind = "a DRILL" if self.drill else "a LIVE broadcast — it reaches real phones"
        with Vertical(id="confirm"):
            yield Label(f"Send {kind} to: {', '.join(self.groups) or 'nobody'}?", id="confirm-question")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Send drill" if self.drill else "Send LIVE", id="confirm-send", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-send")
