"""Preview and send: the two things an operator does with a composed broadcast.

``send`` writes the broadcast and every delivery in one transaction (the outbox), so a broadcast either
exists with all its recipients or not at all; the engine picks it up from there.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alertcast.config import ConfigError
from alertcast.services.compose import ComposeError, ComposeRequest, Composition, compose
from alertcast.services.context import AppContext
from alertcast.services.recipients import APPRISE, TargetError
from alertcast.store.ack_links import assign_link_tokens
from alertcast.store.outbox import create_broadcast
from alertcast.store.outbox_types import BroadcastSpec, MessageText, OutboxError, Recipient

SEND_ERRORS: tuple[type[Exception], ...] = (ComposeError, TargetError, OutboxError, ConfigError)


def describe(c: Composition) -> dict[str, Any]:
    """The preview as plain data: per language the exact SMS and long form, and who gets what."""
    return {
        "title": c.title,
        "priority": c.priority.label,
        "drill": c.drill,
        "ack_code": c.ack_code,
        "expires_at": c.expires_at.isoformat() if c.expires_at else None,
        "alert_id": c.alert_id,
        "messages": [
            {
                "language": m.language,
                "sms": m.sms.text,
                "encoding": m.sms.stats.encoding,
                "characters": m.sms.stats.chars,
                "segments": m.sms.stats.segments,
                "budget_segments": m.sms.budget_segments,
                "fits": m.sms.fits,
                "shortened": list(m.sms.steps),
                "title": m.title,
                "body": m.body,
                "recipients": sum(1 for lang in c.recipient_language.values() if lang == m.language),
            }
            for m in c.messages.values()
        ],
        "recipients": {
            "total": c.recipients.people,
            "deliveries": len(c.recipients.recipients),
            "per_target": c.recipients.per_target,
            "per_channel": c.recipients.per_channel(),
            "opted_out_skipped": c.recipients.opted_out_skipped,
            "unreachable": c.recipients.unreachable,
        },
        "fallback": {
            "policy": c.escalation.name,
            "steps": [list(step) for step in c.escalation.steps],
            "receipt_wait_minutes": c.escalation.receipt_wait / 60,
            "ack_wait_minutes": c.escalation.ack_wait / 60,
            "per_step": dict(Counter(r.step for r in c.recipients.recipients)),
        }
        if c.escalation
        else None,
        "warnings": c.warnings,
    }


def preview(ctx: AppContext, request: ComposeRequest, *, now: datetime | None = None) -> dict[str, Any]:
    with ctx.session() as session:
        return describe(compose(session, ctx.config, request, now=now))


@dataclass(frozen=True)
class Sent:
    broadcast_id: int
    composition: Composition


def send(ctx: AppContext, request: ComposeRequest, *, now: datetime | None = None) -> Sent:
    """Create the broadcast and its deliveries; the engine (``alertcast run``) sends them."""
    with ctx.session() as session:
        composition = compose(session, ctx.config, request, now=now)
        if not composition.recipients.recipients:
            raise ComposeError("no recipient can be reached on the allowed channels: nothing to send")
        spec = BroadcastSpec(
            operator=ctx.config.operator,
            title=composition.title,
            messages={
                lang: MessageText(m.sms.text, title=m.title, body=m.body)
                for lang, m in composition.messages.items()
            },
            recipients=[
                Recipient(
                    r.contact_id,
                    r.address,
                    r.channel_kind,
                    composition.recipient_language[r.contact_id],
                    step=r.step,
                )
                for r in composition.recipients.recipients
            ],
            priority=int(composition.priority),
            drill=composition.drill,
            expires_at=composition.expires_at,
            ack_requested=composition.ack_code is not None,
            ack_code=composition.ack_code,
            alert_id=composition.alert_id,
            escalation=composition.escalation.to_json() if composition.escalation else None,
        )
        broadcast_id = create_broadcast(session, spec, now=now)
        if spec.ack_requested:
            # E-mail and chat messages carry a per-recipient ack link (shown when [ack_links] is enabled);
            # fallback steps created later get theirs when they are created.
            assign_link_tokens(session, broadcast_id, kinds=[APPRISE])
    return Sent(broadcast_id, composition)


@dataclass(frozen=True)
class WaitOutcome:
    finished: bool
    """Nothing of the broadcast is queued or claimed any more."""
    status: Any
    """The broadcast's :class:`~alertcast.services.status.BroadcastStatus` at the end."""
    reason: str = ""


def wait_for_broadcast(
    ctx: AppContext, broadcast_id: int, *, timeout: float = 600.0, receipts: float = 10.0, poll: float = 0.5
) -> WaitOutcome:
    """Run the engine here until ``broadcast_id`` has nothing left to hand out, then up to ``receipts``
    seconds more for its delivery receipts. Other engines on the same store may share the work (leases).

    Gives up early, with the reason, when the broadcast cannot move: no configured route serves it.
    """
    import time

    from alertcast.services.engine_host import EngineHost
    from alertcast.services.status import broadcast_status, fallback_due

    host = EngineHost(ctx)
    host.start()
    deadline = time.monotonic() + timeout
    reason = ""
    try:
        while True:
            status = broadcast_status(ctx, broadcast_id)
            stuck = [n for n in status.notes if n.startswith("no ")]
            if status.open == 0 and not fallback_due(ctx, broadcast_id):  # a due fallback step is work too
                break
            if stuck and not status.counts.states.get("claimed"):
                reason = "; ".join(stuck)
                break
            if time.monotonic() > deadline or not host.running:
                reason = (
                    f"gave up after {timeout:g} s" if host.running else f"the engine stopped: {host.error}"
                )
                break
            time.sleep(poll)
        settle = time.monotonic() + receipts
        while not reason and status.counts.states.get("submitted") and time.monotonic() < settle:
            time.sleep(poll)
            status = broadcast_status(ctx, broadcast_id)
    finally:
        host.stop()
    return WaitOutcome(finished=not reason, status=broadcast_status(ctx, broadcast_id), reason=reason)
