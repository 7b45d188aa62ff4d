"""The console, driven headless with Textual's Pilot."""

from __future__ import annotations

from pathlib import Path

from alertcast.services.contacts import import_contacts
from alertcast.services.context import AppContext
from alertcast.tui.app import AlertcastApp, OverviewPanel


async def test_console_shows_database_and_counts(ctx: AppContext, tmp_path: Path) -> None:
    book = tmp_path / "b.csv"
    book.write_text("name,phone,groups\nAna,2025550143,fire;ems\nBo,2025550144,fire\n")
    import_contacts(ctx, book)
    app = AlertcastApp(ctx)
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = str(app.query_one(OverviewPanel).render())
        assert ctx.db_label in text
        assert "Contacts" in text and "2" in text
        await pilot.press("q")
