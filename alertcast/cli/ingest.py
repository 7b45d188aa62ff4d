"""``alertcast ingest``: CAP documents from files, folders and URLs into the store."""

from __future__ import annotations

import click

from alertcast.cli.root import EXIT_INPUT, CliState, emit_json, pass_state


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="PATH_OR_URL...")
@click.option("--dry-run", is_flag=True, help="Read, validate and check for duplicates; store nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert, in a list.")
@pass_state
def ingest(state: CliState, targets: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Ingest CAP alerts from files, folders (recursively) and http(s) URLs.

    URLs may name a CAP document or an ATOM/RSS index feed; the CAP documents a feed links to are fetched.
    Prints one line per alert: accepted, duplicate, rejected (with the rule and the element) or refused
    (the whole document, with the reason). Exit status 1 when anything was rejected, refused or unreachable.
    """
    from alertcast.services.ingest import ingest as run_ingest

    report = run_ingest(state.app(), targets, dry_run=dry_run)
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "counts": report.counts(),
                "records": [r.as_dict() for r in report.records],
                "skipped_files": report.skipped_files,
            }
        )
    else:
        for r in report.records:
            name = f" {r.sender} {r.identifier}" if r.identifier else ""
            stored = f" -> alert {r.alert_id}" if r.alert_id and r.result == "accepted" else ""
            line = f"{r.source}: {r.result}{name}{stored}"
            if r.reason:
                line += f": {r.reason}"
            click.echo(line, err=r.failed)
            for flag in r.flags:
                click.echo(f"    note: {flag}")
            for warning in r.warnings:
                click.echo(f"    warning: {warning}")
        counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts().items())) or "nothing found"
        skipped = f"; {len(report.skipped_files)} non-CAP file(s) skipped" if report.skipped_files else ""
        click.echo(f"{'dry run: ' if dry_run else ''}{counts}{skipped}")
    if not report.ok:
        raise SystemExit(EXIT_INPUT)
