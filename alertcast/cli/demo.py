"""``alertcast demo``: see alertcast work on a fresh machine, with nothing to set up."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from alertcast.cli.root import fail


@click.command()
@click.option("--headless", is_flag=True, help="Print the outcome instead of opening the console.")
def demo(headless: bool) -> None:
    """Run the demo on a throw-away database (removed afterwards).

    Opens the console when the terminal can show it; prints a summary otherwise (or with --headless).
    """
    from alertcast.services.demo import DemoError, prepare_demo
    from alertcast.services.overview import get_overview

    with tempfile.TemporaryDirectory(prefix="alertcast-demo-") as tmp:
        try:
            setup = prepare_demo(Path(tmp))
        except DemoError as exc:
            fail(str(exc))
        try:
            for report in setup.imports:
                click.echo(
                    f"imported {report.file}: {report.added} contacts, groups {', '.join(report.groups_created)}"
                )
            if headless or not (sys.stdin.isatty() and sys.stdout.isatty()):
                o = get_overview(setup.ctx)
                click.echo(f"database: {o.database}")
                click.echo(f"contacts: {o.contacts}  groups: {o.groups}  alerts: {o.alerts}")
                return
            from alertcast.tui.app import run_console

            run_console(setup.ctx)
        finally:
            setup.ctx.close()
