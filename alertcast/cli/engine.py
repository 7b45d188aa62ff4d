"""``alertcast run``, ``status``, ``report`` and ``cancel``: the engine and what it did."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from alertcast.cli.root import EXIT_SETUP, CliState, emit_json, fail, pass_state, reported

EXIT_STRANDED = 4
"""``run --until-idle`` ended with deliveries that no configured route may carry (they stay queued)."""


@contextmanager
def _setup_errors() -> Iterator[None]:
    """Configuration problems in [engine] / [[routes]] are setup errors (exit 3), like a bad store URL."""
    from alertcast.services.dispatch import ENGINE_ERRORS

    try:
        yield
    except ENGINE_ERRORS as exc:
        fail(str(exc), EXIT_SETUP)


def _fmt_states(states: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(states.items(), key=lambda kv: -kv[1])) or "none"


@click.command()
@click.option(
    "--until-idle", is_flag=True, help="Exit once nothing is left that a configured route could send."
)
@click.option(
    "--receipt-timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="With --until-idle: then wait up to this many seconds for delivery receipts.",
)
@click.option("--owner", help="Lease owner name for this engine (default: host/pid/random).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Log what the engine does to standard error.")
@pass_state
def run(
    state: CliState, until_idle: bool, receipt_timeout: float, owner: str | None, as_json: bool, verbose: bool
) -> None:
    """Run the dispatch engine: send queued deliveries through the configured routes.

    Runs until interrupted (Ctrl-C / SIGTERM stop it gracefully: nothing is lost), or with --until-idle
    until done. Exit status 4: --until-idle ended with deliveries no configured route may carry.
    """
    from alertcast.services import dispatch

    if verbose:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
    ctx = state.app()
    with _setup_errors():
        summary = dispatch.run_engine(
            ctx, dispatch.RunOptions(until_idle=until_idle, receipt_timeout=receipt_timeout, owner=owner)
        )
    if as_json:
        emit_json(summary.as_dict())
    else:
        click.echo(
            f"{summary.handed} handed to routes in {summary.seconds:.1f} s: {summary.delivered} delivered, "
            f"{summary.submitted} submitted, {summary.failed} failed, {summary.retried} to retry, "
            f"{summary.requeued} requeued, {summary.expired} expired, {summary.cancelled} cancelled"
        )
        if summary.acknowledged or summary.replies_unmatched or summary.escalated:
            click.echo(
                f"{summary.acknowledged} acknowledgement(s) matched, {summary.replies_unmatched} reply(ies) "
                f"unmatched; {summary.escalated} recipient(s) moved to a fallback step "
                f"({summary.fallback_deliveries} deliveries)"
            )
        if summary.help_requests or summary.opt_out_requests:
            click.echo(
                f"warning: {summary.help_requests} help request(s), {summary.opt_out_requests} opt-out "
                "request(s) in replies: see alertcast status",
                err=True,
            )
        if summary.recovered:
            click.echo(
                f"{summary.recovered} deliveries taken back from a stopped engine (possible duplicates)"
            )
        for item in summary.stranded:
            click.echo(f"warning: {item['reason']}", err=True)
    if until_idle and summary.stranded:
        raise SystemExit(EXIT_STRANDED)


def _print_status(data: dict[str, Any]) -> None:
    drill = " DRILL" if data["drill"] else ""
    click.echo(
        f"broadcast {data['id']}{drill}: {data['title']!r}  [{data['status']}]  priority {data['priority']}"
    )
    click.echo(
        f"  created {data['created_at']} by {data['operator']}; expires {data['expires_at'] or 'never'}"
    )
    click.echo(
        f"  {data['deliveries']} deliveries to {data['recipients']} recipients: {_fmt_states(data['states'])}"
    )
    for kind, states in sorted(data["by_channel"].items()):
        click.echo(f"  channel {kind}: {_fmt_states(states)}")
    for route, states in sorted(data["by_route"].items()):
        click.echo(f"  route {route}: {_fmt_states(states)}")
    for note in data["notes"]:
        click.echo(f"  note: {note}")
    _print_acks(data)


def _print_acks(data: dict[str, Any]) -> None:
    """Acknowledgements, fallback steps and replies to read, when the status carries them."""
    acks = data.get("acks")
    if acks:
        first, ninety = acks["first_ack_seconds"], acks["ninety_percent_seconds"]
        click.echo(
            f"  people: {acks['acknowledged']} acknowledged, {acks['delivered']} delivered, {acks['sent']} sent, "
            f"{acks['pending']} pending, {acks['failed']} failed, {acks['not_sent']} not sent"
            + ("" if acks["requested"] else " (no acknowledgement asked)")
        )
        if acks["requested"]:
            click.echo(
                f"  first acknowledgement after {'-' if first is None else f'{first:.1f} s'}; "
                f"90 % after {'-' if ninety is None else f'{ninety:.1f} s'}"
            )
            for person in acks["not_acknowledged"]:
                who = person["name"] or ", ".join(person["addresses"])
                click.echo(f"    not acknowledged: {who} ({person['state']})")
            hidden = acks["not_acknowledged_total"] - len(acks["not_acknowledged"])
            if hidden > 0:
                click.echo(f"    ... and {hidden} more (--limit shows more, --json lists them)")
    fallback = data.get("fallback")
    if fallback and fallback["policy"]:
        steps = " → ".join("+".join(step) for step in fallback["steps"])
        click.echo(f"  fallback {fallback['policy']!r}: {steps}; {fallback['watched']} awaiting a decision")
        for step, states in sorted(fallback["by_step"].items()):
            click.echo(f"    step {step}: {_fmt_states(states)}")
    replies = data.get("replies")
    if replies:
        for kind, label in (("help_requests", "HELP requested"), ("opt_out_requests", "opt-out request")):
            for reply in replies[kind]:
                click.echo(f"  {label}: {reply['sender']}: {reply['text']!r}")


@click.command()
@click.argument("broadcast", type=int, required=False)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Recent broadcasts shown; with BROADCAST, people listed as not acknowledged.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def status(state: CliState, broadcast: int | None, limit: int, as_json: bool) -> None:
    """Delivery counts of BROADCAST by state, channel and route, who acknowledged and who has not (up to
    --limit listed), fallback steps and replies to read; without BROADCAST, recent broadcasts."""
    from alertcast.services import status as svc

    ctx = state.app()
    with _setup_errors(), reported(*svc.STATUS_ERRORS):
        if broadcast is not None:
            data = svc.broadcast_status(ctx, broadcast, details=True, unacknowledged_limit=limit).as_dict()
            emit_json(data) if as_json else _print_status(data)
            return
        rows = [s.as_dict() for s in svc.recent(ctx, limit)]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        drill = "drill" if row["drill"] else "live"
        click.echo(
            f"{row['id']:>6}  {row['status']:<9} {drill:<5} p{row['priority']}  {row['title'][:32]:<32}  "
            f"{_fmt_states(row['states'])}"
        )
        for note in row["notes"]:
            click.echo(f"        note: {note}")
    click.echo(f"{len(rows)} broadcast(s)", err=True)


@click.command()
@click.argument("broadcast", type=int)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="Output format.",
)
@pass_state
def report(state: CliState, broadcast: int, fmt: str) -> None:
    """One row per delivery of BROADCAST: contact, address, channel, route, state, attempts, provider id,
    error, possible duplicate and times."""
    from alertcast.services import status as svc

    ctx = state.app()
    with reported(*svc.STATUS_ERRORS):
        rows = svc.report(ctx, broadcast)
        first = next(rows, None)

    def all_rows() -> Any:
        if first is not None:
            yield first
            yield from rows

    if fmt == "json":
        emit_json(list(all_rows()))
    else:
        for chunk in svc.report_csv(all_rows()):
            click.echo(chunk, nl=False)


@click.command()
@click.argument("broadcast", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@pass_state
def cancel(state: CliState, broadcast: int, as_json: bool) -> None:
    """Cancel BROADCAST: nothing more of it is sent (messages already with a transport are not recalled)."""
    from dataclasses import asdict

    from alertcast.services import cancel as svc

    ctx = state.app()
    with reported(*svc.CANCEL_ERRORS):
        outcome = svc.cancel(ctx, broadcast)
    if as_json:
        emit_json(asdict(outcome))
        return
    if outcome.previous_status not in ("active", "done"):
        click.echo(f"broadcast {broadcast} was already {outcome.previous_status}; nothing to cancel")
        return
    click.echo(
        f"broadcast {broadcast} cancelled: {outcome.cancelled} deliveries stopped, "
        f"{outcome.in_flight} with a running engine (dropped within a second unless already handed out), "
        f"{outcome.already_sent} already sent"
    )
