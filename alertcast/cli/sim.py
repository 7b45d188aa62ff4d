"""``alertcast sim …``: the built-in simulators, for drills on a laptop, demos and trying routes out."""

from __future__ import annotations

import asyncio
import contextlib

import click

from alertcast.cli.root import fail


@click.group()
def sim() -> None:
    """Run a built-in simulator (SMPP SMSC, GSM modems) until Ctrl+C."""


def _account(value: str) -> tuple[str, str]:
    system_id, sep, password = value.partition(":")
    if not sep or not system_id:
        raise click.BadParameter(f"{value!r}: expected SYSTEM_ID:PASSWORD")
    return system_id, password


@sim.command("smsc")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=2775, show_default=True, type=int, help="SMPP port (0: any free port).")
@click.option("--http-port", type=int, help="HTTP control port (POST /mo, GET /stats, POST /disconnect).")
@click.option(
    "--account",
    "accounts",
    multiple=True,
    default=("alertcast:secret",),
    show_default=True,
    help="SYSTEM_ID:PASSWORD (repeatable).",
)
@click.option("--throughput", type=float, help="submit_sm per second per bind; above it ESME_RTHROTTLED.")
@click.option(
    "--receipt-delay", default=1.0, show_default=True, type=float, help="Seconds to a delivery receipt."
)
@click.option(
    "--undeliverable",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of UNDELIV receipts.",
)
@click.option(
    "--reject-prefix", "reject", multiple=True, help="Refuse destinations starting so (ESME_RINVDSTADR)."
)
@click.option(
    "--ids", type=click.Choice(["hex", "decimal"]), default="hex", show_default=True, help="Message id form."
)
def smsc(
    host: str,
    port: int,
    http_port: int | None,
    accounts: tuple[str, ...],
    throughput: float | None,
    receipt_delay: float,
    undeliverable: float,
    reject: tuple[str, ...],
    ids: str,
) -> None:
    """An SMPP 3.4 SMSC simulator: binds, submits, receipts, throttling, failure injection."""
    from alertcast.sim.smsc import SmscConfig, SmscSimulator, serve

    config = SmscConfig(
        host=host,
        port=port,
        http_port=http_port,
        accounts=dict(_account(a) for a in accounts),
        throughput=throughput,
        receipt_delay=receipt_delay,
        undeliverable_fraction=undeliverable,
        reject_prefixes=reject,
        message_id_format=ids,  # type: ignore[arg-type]
    )

    def ready(simulator: SmscSimulator) -> None:
        control = f", HTTP control on {host}:{simulator.http_port}" if simulator.http_port else ""
        click.echo(f"SMSC simulator listening on {host}:{simulator.port}{control}; Ctrl+C stops it", err=True)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, on_ready=ready))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")


@sim.command("modems")
@click.option("--count", default=4, show_default=True, type=click.IntRange(1, 64), help="How many modems.")
@click.option("--delay", default=3.0, show_default=True, type=float, help="Seconds each modem takes per SMS.")
@click.option("--pin", help="SIM PIN the simulated SIMs ask for (none by default).")
@click.option("--folder", type=click.Path(file_okay=False), help="Where to put the stable port links.")
def modems(count: int, delay: float, pin: str | None, folder: str | None) -> None:
    """GSM modems on pseudo-terminals (AT commands, text and PDU mode), until Ctrl+C.

    Prints each modem's port path; use them as a modem route's ``ports``.
    """
    from alertcast.sim.modem import ModemBankSimulator, ModemSettings

    simulator = ModemBankSimulator(count, settings=ModemSettings(send_delay=delay, pin=pin), folder=folder)

    def ready(paths: list[str]) -> None:
        click.echo(f"{count} simulated modem(s); Ctrl+C stops them. Ports:", err=True)
        for path in paths:
            click.echo(path)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            simulator.serve(ready=ready)
    finally:
        simulator.stop()
