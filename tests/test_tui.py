"""The console, driven headless with Textual's Pilot as an operator would use it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from textual.widgets import Button, SelectionList, Static, TextArea

from alertcast.services.contacts import import_contacts
from alertcast.services.context import AppContext
from alertcast.store.models import Broadcast
from alertcast.tui.app import AlertcastApp, OverviewPanel
from alertcast.tui.confirm import ConfirmSend


def book(ctx: AppContext, tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("name,phone,groups\nAna,2025550143,fire;ems\nBo,2025550144,fire\n")
    import_contacts(ctx, path)


def broadcasts(ctx: AppContext) -> int:
    with ctx.session() as session:
        return int(session.execute(select(func.count()).select_from(Broadcast)).scalar() or 0)


async def test_console_shows_database_and_counts(ctx: AppContext, tmp_path: Path) -> None:
    book(ctx, tmp_path)
    app = AlertcastApp(ctx)
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = str(app.query_one(OverviewPanel).render())
        assert ctx.db_label in text
        assert "Contacts" in text and "2" in text


async def test_composer_counts_previews_and_sends_only_after_confirmation(
    ctx: AppContext, tmp_path: Path
) -> None:
    book(ctx, tmp_path)
    app = AlertcastApp(ctx)
    async with app.run_test(size=(140, 50)) as pilot:
        app.query_one("TabbedContent").active = "tab-compose"
        await app.workers.wait_for_complete()
        await pilot.pause()
        area = app.query_one("#message", TextArea)
        area.text = "Road closed at Mesa Drive – use Calle Ocho."
        await pilot.pause()
        counts = str(app.query_one("#counts", Static).render())
        assert "gsm7" in counts and "1/3 SMS" in counts
        app.query_one("#groups", SelectionList).select("fire")
        await pilot.click("#preview")
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = str(app.query_one("#preview-text", Static).render())
        assert "EXERCISE: Road closed at Mesa Drive - use Calle Ocho." in shown
        assert "2 recipient(s)" in shown
        # Send asks first; Cancel (focused) sends nothing.
        await pilot.click("#send")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmSend)
        assert app.screen.focused is app.screen.query_one("#cancel", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert broadcasts(ctx) == 0
        await pilot.click("#send")
        await pilot.pause()
        await pilot.click("#confirm-send")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert broadcasts(ctx) == 1
        assert "queued" in str(app.query_one("#preview-text", Static).render())


async def test_console_hosts_the_engine_and_shows_a_drill_completing(ctx: AppContext, tmp_path: Path) -> None:
    book(ctx, tmp_path)
    app = AlertcastApp(ctx)
    async with app.run_test(size=(160, 50)) as pilot:
        composer = app.query_one("#composer")
        app.query_one("TabbedContent").active = "tab-compose"
        await app.workers.wait_for_complete()
        app.query_one("#message", TextArea).text = "Drill: muster at station 2."
        app.query_one("#groups", SelectionList).select("fire")
        composer.run_send(composer.request())  # the confirmed path, without the dialog
        await app.workers.wait_for_complete()
        app.query_one("TabbedContent").active = "tab-broadcasts"
        assert any(b.key == "f6" and b.action == "toggle_engine" for b in app.BINDINGS)  # type: ignore[union-attr]
        await app.run_action("toggle_engine")
        table = app.query_one("#broadcasts")
        delivered = ""
        for _ in range(600):  # bounded: up to ~60 s on a heavily loaded CI machine; usually under 2 s
            await pilot.pause(0.1)
            if "1" in table.rows and (delivered := str(table.get_cell("1", "delivered"))) == "2":
                break
        assert delivered == "2", (app.engine.error, app.engine.running, app.engine.summary)
        assert app.engine.running
        await pilot.press("ctrl+q")
    assert not app.engine.running
