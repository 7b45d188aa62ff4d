"""``alertcast demo``: a whole exercise on a laptop, with nothing to set up and nothing real reached."""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

import click

from alertcast.cli.root import fail


@click.command()
@click.option("--headless", is_flag=True, help="Print progress and a summary instead of opening the console.")
def demo(headless: bool) -> None:
    """Run a drill end to end on a throw-away database with the built-in simulators.

    Loads the sample address book and alerts, starts a simulated SMSC and two simulated GSM modems, queues
    three drill broadcasts (a routine one, then an Extreme one that overtakes it, then a staff call-out that
    asks for acknowledgements) and sends them. Opens the console when the terminal can show it (Broadcasts
    tab; Ctrl+Q quits); prints progress otherwise, or with --headless. Everything is removed afterwards.
    """
    from alertcast.services.demo import DemoError, prepare_demo, reply_to_callout, run_headless

    with tempfile.TemporaryDirectory(prefix="alertcast-demo-") as tmp:
        click.echo(
            "Setting up: sample contacts, sample alerts, SMSC simulator, 2 simulated modems…", err=True
        )
        try:
            setup = prepare_demo(Path(tmp))
        except DemoError as exc:
            fail(str(exc))
        try:
            for report in setup.imports:
                click.echo(
                    f"contacts: {report.added} imported into groups {', '.join(report.groups_created)}"
                )
            if setup.ingested is not None:
                counts = ", ".join(f"{n} {k}" for k, n in sorted(setup.ingested.counts().items()))
                click.echo(f"alerts: {counts}")
            for name, broadcast_id in setup.broadcasts.items():
                click.echo(f"broadcast {broadcast_id}: {name}")
            if headless or not (sys.stdin.isatty() and sys.stdout.isatty()):
                result = run_headless(setup, click.echo)
                _summary(result)
                return
            from alertcast.tui.app import run_console

            timer = threading.Timer(12.0, reply_to_callout, args=(setup,))
            timer.daemon = True
            timer.start()
            try:
                run_console(setup.ctx, host_engine=True, initial_tab="tab-broadcasts")
            finally:
                timer.cancel()
        finally:
            setup.close()


def _summary(result: dict[str, object]) -> None:
    from alertcast.services.overview import get_overview
    from alertcast.services.status import broadcast_status

    ctx = result["ctx"]
    click.echo("\nfinished:")
    for status in result["statuses"]:  # type: ignore[attr-defined]
        c = broadcast_status(ctx, status.counts.id).counts  # type: ignore[arg-type]
        states = ", ".join(f"{n} {s}" for s, n in sorted(c.states.items()))
        routes = ", ".join(f"{r} {sum(v.values())}" for r, v in sorted(c.by_route.items()))
        click.echo(f"  #{c.id} {c.title[:70]}\n      {states}; via {routes}")
    overview = get_overview(ctx)  # type: ignore[arg-type]
    click.echo(f"replies: {overview.acks} acknowledgement(s) matched, {overview.unmatched_replies} unmatched")
    summary = result.get("summary")
    if summary is not None:
        s = summary
        click.echo(
            f"fallback: {s.escalated} recipient(s) reached by e-mail after their SMS failed "  # type: ignore[attr-defined]
            f"({s.fallback_deliveries} fallback deliveries)"  # type: ignore[attr-defined]
        )
        click.echo(
            f"engine: {s.handed} handed to transports in {s.seconds:.1f} s, "  # type: ignore[attr-defined]
            f"{s.receipts_matched} receipts matched, {s.receipts_unmatched} unmatched"  # type: ignore[attr-defined]
        )
