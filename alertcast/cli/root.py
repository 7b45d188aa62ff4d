"""The command group, global options, and the error handling every sub-command shares."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click

from alertcast import __version__

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_SETUP = 3


@dataclass
class CliState:
    config_path: str | None
    db_url: str | None
    _ctx: Any = field(default=None, repr=False)

    def app(self) -> Any:
        """The services' AppContext, opened on first use so ``--help`` never touches a database."""
        if self._ctx is None:
            from alertcast.services.context import SETUP_ERRORS, open_context

            try:
                self._ctx = open_context(self.config_path, self.db_url)
            except SETUP_ERRORS as exc:
                fail(str(exc), EXIT_SETUP)
        return self._ctx

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.close()


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    click.echo(f"alertcast: error: {message}", err=True)
    sys.exit(code)


@contextmanager
def reported(*errors: type[BaseException]) -> Iterator[None]:
    """Turn the services' expected errors into one clear line and an exit code, never a traceback."""
    try:
        yield
    except errors as exc:
        fail(str(exc))


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def state(ctx: click.Context) -> CliState:
    return ctx.ensure_object(CliState)  # type: ignore[no-any-return]


pass_state: Callable[..., Any] = click.make_pass_decorator(CliState)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="ALERTCAST_CONFIG",
    type=click.Path(dir_okay=False),
    help="Configuration file (default: alertcast.toml in the platform config folder). Env: ALERTCAST_CONFIG.",
)
@click.option(
    "--db", "db_url", envvar="ALERTCAST_DB", help="Database URL (SQLAlchemy form). Env: ALERTCAST_DB."
)
@click.version_option(__version__, prog_name="alertcast")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db_url: str | None) -> None:
    """Emergency alert broadcast console: CAP in, SMS and fallback channels out.

    With no command, opens the console (a terminal UI).
    """
    ctx.obj = CliState(config_path, db_url)
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand is None:
        from alertcast.tui.app import run_console

        run_console(ctx.obj.app())


def _register() -> None:
    from alertcast.cli import compose, contacts, demo, engine, ingest, sim

    cli.add_command(ingest.ingest)
    cli.add_command(compose.preview)
    cli.add_command(compose.send)
    cli.add_command(contacts.contacts)
    cli.add_command(contacts.groups)
    cli.add_command(demo.demo)
    cli.add_command(engine.run)
    cli.add_command(engine.status)
    cli.add_command(engine.report)
    cli.add_command(engine.cancel)
    cli.add_command(sim.sim)


_register()


def main() -> None:
    cli(prog_name="alertcast")
