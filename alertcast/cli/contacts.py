"""``alertcast contacts …`` and ``alertcast groups …``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from alertcast.cli.root import EXIT_INPUT, CliState, emit_json, pass_state, reported


def _svc() -> Any:
    """The contacts services, imported when a command runs so ``alertcast --help`` stays instant."""
    from alertcast.services import contacts

    return contacts


def _errors() -> tuple[type[Exception], ...]:
    from alertcast.services.contact_files import ContactFileError
    from alertcast.services.contacts import ContactsError

    return (ContactsError, ContactFileError)


@click.group()
def contacts() -> None:
    """Import, list and export contacts."""


@contacts.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--group", help="Also add every imported contact to this group (created if missing).")
@click.option("--region", help="Region for numbers without a country code, e.g. US, GB (default: config).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def import_(state: CliState, file: Path, group: str | None, region: str | None, as_json: bool) -> None:
    """Import contacts from a CSV (header row) or vCard 3.0/4.0 FILE.

    CSV columns: name, phone, email, language, groups, lat, lon, apprise, geocodes, opted_out.
    Rows are matched to stored contacts by phone, then e-mail; re-importing a file changes nothing.
    Bad rows are reported with their line and field and skipped; the exit status is 1 if any was.
    """
    if region is not None and len(region) != 2:
        raise click.BadParameter("expected a two-letter region such as US or GB", param_hint="--region")
    with reported(*_errors()):
        report = _svc().import_contacts(state.app(), file, group=group, region=region)
    if as_json:
        emit_json(report.as_dict())
    else:
        for note in report.notes:
            click.echo(f"{file}: note: {note}", err=True)
        for problem in report.rejected:
            click.echo(f"{file}: {problem}", err=True)
        rejected = len({p.where for p in report.rejected})
        click.echo(
            f"{file}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{rejected} rejected"
            + (f"; new groups: {', '.join(report.groups_created)}" if report.groups_created else "")
        )
    if not report.ok:
        raise SystemExit(EXIT_INPUT)


@contacts.command("list")
@click.option("--group", help="Only members of this group.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV in the import format.")
@pass_state
def list_(state: CliState, group: str | None, as_json: bool, as_csv: bool) -> None:
    """List contacts."""
    with reported(*_errors()):
        rows = _svc().list_contacts(state.app(), group=group)
    if as_json:
        emit_json([asdict(r) for r in rows])
    elif as_csv:
        click.echo(_svc().export_csv(rows), nl=False)
    else:
        for r in rows:
            reach = r.phone or r.email or (r.apprise[0] if r.apprise else "")
            flags = " (opted out)" if r.opted_out else ""
            click.echo(f"{r.id:>6}  {r.name:<28.28} {reach:<22} {r.language:<6} {','.join(r.groups)}{flags}")
        click.echo(f"{len(rows)} contact(s)", err=True)


@contacts.command("export")
@click.option("--group", help="Only members of this group.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of CSV.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV in the import format (the default).")
@pass_state
def export(state: CliState, group: str | None, as_json: bool, as_csv: bool) -> None:
    """Export contacts (CSV in the import format by default) to standard output."""
    with reported(*_errors()):
        rows = _svc().list_contacts(state.app(), group=group)
    if as_json:
        emit_json([asdict(r) for r in rows])
    else:
        click.echo(_svc().export_csv(rows), nl=False)


@contacts.command("opt-out")
@click.argument("contact", nargs=-1, required=True)
@pass_state
def opt_out(state: CliState, contact: tuple[str, ...]) -> None:
    """Mark contacts (phone, e-mail or id) as opted out of non-emergency broadcasts."""
    with reported(*_errors()):
        n = _svc().set_opt_out(state.app(), list(contact), True)
    click.echo(f"{n} contact(s) opted out")


@contacts.command("opt-in")
@click.argument("contact", nargs=-1, required=True)
@pass_state
def opt_in(state: CliState, contact: tuple[str, ...]) -> None:
    """Clear the opt-out flag of contacts (phone, e-mail or id)."""
    with reported(*_errors()):
        n = _svc().set_opt_out(state.app(), list(contact), False)
    click.echo(f"{n} contact(s) opted in")


@click.group()
def groups() -> None:
    """Manage contact groups."""


@groups.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def groups_list(state: CliState, as_json: bool) -> None:
    """List groups with their member counts."""
    rows = _svc().list_groups(state.app())
    if as_json:
        emit_json([asdict(g) for g in rows])
        return
    for g in rows:
        click.echo(f"{g.name:<24} {g.members:>7}  {g.description}")


@groups.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the group is for.")
@pass_state
def groups_create(state: CliState, name: str, description: str) -> None:
    """Create an empty group."""
    with reported(*_errors()):
        _svc().create_group(state.app(), name, description)
    click.echo(f"group {name!r} created")


@groups.command("delete")
@click.argument("name")
@pass_state
def groups_delete(state: CliState, name: str) -> None:
    """Delete a group; its contacts stay."""
    with reported(*_errors()):
        n = _svc().delete_group(state.app(), name)
    click.echo(f"group {name!r} deleted ({n} membership(s) removed)")


@groups.command("add")
@click.argument("name")
@click.argument("contact", nargs=-1, required=True)
@pass_state
def groups_add(state: CliState, name: str, contact: tuple[str, ...]) -> None:
    """Add contacts (phone, e-mail or id) to a group."""
    with reported(*_errors()):
        n = _svc().change_membership(state.app(), name, list(contact), add=True)
    click.echo(f"{n} contact(s) added to {name!r}")


@groups.command("remove")
@click.argument("name")
@click.argument("contact", nargs=-1, required=True)
@pass_state
def groups_remove(state: CliState, name: str, contact: tuple[str, ...]) -> None:
    """Remove contacts (phone, e-mail or id) from a group."""
    with reported(*_errors()):
        n = _svc().change_membership(state.app(), name, list(contact), add=False)
    click.echo(f"{n} contact(s) removed from {name!r}")
