"""``alertcast preview`` and ``alertcast send``: the same options, one shows and one writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from alertcast.cli.root import CliState, emit_json, fail, pass_state


def _texts(values: tuple[str, ...]) -> dict[str, str] | None:
    """``--text "..."`` (default language) or ``--text es="..."`` per language."""
    if not values:
        return None
    texts: dict[str, str] = {}
    for value in values:
        lang, sep, text = value.partition("=")
        if sep and 1 < len(lang) <= 12 and lang.replace("-", "").isalnum() and " " not in lang:
            texts[lang] = text
        else:
            texts["en"] = value
    return texts


def compose_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--text", "texts", multiple=True, help='Message text; per language as LANG="text" (repeatable).'
        ),
        click.option("--alert", "alert_id", type=int, help="Compose from this stored CAP alert (id)."),
        click.option(
            "--group", "groups", multiple=True, help="Recipients: members of this group (repeatable)."
        ),
        click.option(
            "--contact", "contacts", multiple=True, help="Recipients: this phone, e-mail or id (repeatable)."
        ),
        click.option(
            "--area-of", "areas", multiple=True, type=int, help="Recipients: everyone in this alert's area."
        ),
        click.option("--drill", is_flag=True, help="A drill: every message carries the drill marker."),
        click.option(
            "--priority", help="routine, elevated, high, severe or critical (default: from the alert)."
        ),
        click.option(
            "--channel",
            "channels",
            multiple=True,
            type=click.Choice(["sms", "apprise"]),
            help="Allowed channel kinds.",
        ),
        click.option(
            "--ack/--no-ack",
            default=None,
            help="Ask for acknowledgements (default: yes unless area-targeted).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _request(**kw: Any) -> Any:
    from alertcast.services.compose import ComposeRequest
    from alertcast.services.recipients import Targets

    return ComposeRequest(
        texts=_texts(kw["texts"]),
        alert_id=kw["alert_id"],
        targets=Targets(tuple(kw["groups"]), tuple(kw["contacts"]), tuple(kw["areas"])),
        drill=kw["drill"],
        priority=kw["priority"],
        channels=tuple(kw["channels"]),
        ack=kw["ack"],
    )


def _print_preview(p: dict[str, Any]) -> None:
    kind = "DRILL " if p["drill"] else ""
    click.echo(f"{kind}broadcast: {p['title']}  [priority {p['priority']}]")
    if p["ack_code"]:
        click.echo(f"acknowledgement code: {p['ack_code']}")
    for m in p["messages"]:
        fit = "" if m["fits"] else "  (OVER BUDGET)"
        click.echo(
            f"\n--- {m['language']}: {m['recipients']} recipient(s); SMS {m['characters']} chars, "
            f"{m['encoding']}, {m['segments']}/{m['budget_segments']} segment(s){fit}"
        )
        click.echo(m["sms"])
        click.echo(f"--- long form: {m['title']}")
        click.echo(m["body"])
    r = p["recipients"]
    click.echo(f"\nrecipients: {r['total']}")
    for target, n in r["per_target"].items():
        click.echo(f"  {target}: {n}")
    for channel, n in sorted(r["per_channel"].items()):
        click.echo(f"  via {channel}: {n}")
    if r["opted_out_skipped"]:
        click.echo(f"  opted out, not sent: {r['opted_out_skipped']}")
    if r["unreachable"]:
        click.echo(f"  no address on the allowed channels: {len(r['unreachable'])}")
    fallback = p.get("fallback")
    if fallback:
        steps = " → ".join("+".join(step) for step in fallback["steps"])
        click.echo(f"fallback {fallback['policy']!r}: {steps} ({r['deliveries']} first deliveries)")
    for w in p["warnings"]:
        click.echo(f"warning: {w}", err=True)


@click.command()
@compose_options
@pass_state
def preview(state: CliState, as_json: bool, **kw: Any) -> None:
    """Show exactly what a broadcast would send, and to how many, without sending anything."""
    from alertcast.services.send import SEND_ERRORS
    from alertcast.services.send import preview as run_preview

    try:
        result = run_preview(state.app(), _request(**kw))
    except SEND_ERRORS as exc:
        fail(str(exc))
    emit_json(result) if as_json else _print_preview(result)


@click.command()
@compose_options
@click.option(
    "--wait", is_flag=True, help="Run the engine here until this broadcast is sent, then show its status."
)
@click.option("--wait-timeout", default=600.0, show_default=True, type=float, help="Seconds --wait may take.")
@pass_state
def send(state: CliState, as_json: bool, wait: bool, wait_timeout: float, **kw: Any) -> None:
    """Create a broadcast; the engine (alertcast run, or --wait) delivers it. Prints the broadcast id.

    With --wait, exit status 1 when the broadcast could not be finished (no route serves it, time-out).
    """
    from alertcast.services.send import SEND_ERRORS, describe, wait_for_broadcast
    from alertcast.services.send import send as run_send

    try:
        sent = run_send(state.app(), _request(**kw))
    except SEND_ERRORS as exc:
        fail(str(exc))
    outcome = wait_for_broadcast(state.app(), sent.broadcast_id, timeout=wait_timeout) if wait else None
    if as_json:
        data = {"broadcast_id": sent.broadcast_id} | describe(sent.composition)
        if outcome is not None:
            data["wait"] = {"finished": outcome.finished, "reason": outcome.reason} | outcome.status.as_dict()
        emit_json(data)
        if outcome is not None and not outcome.finished:
            raise SystemExit(1)
        return
    c = sent.composition
    for w in c.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(
        f"broadcast {sent.broadcast_id} queued: {c.recipients.people} recipient(s), "
        f"priority {c.priority.label}{', DRILL' if c.drill else ''}"
    )
    click.echo(sent.broadcast_id)
    if outcome is not None:
        states = ", ".join(f"{n} {s}" for s, n in sorted(outcome.status.counts.states.items()))
        click.echo(f"broadcast {sent.broadcast_id}: {states}", err=True)
        if not outcome.finished:
            fail(f"broadcast {sent.broadcast_id} not finished: {outcome.reason}")
