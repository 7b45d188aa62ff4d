"""Compose: from an alert or an operator's text to the exact messages each recipient gets.

Preview and send share :func:`compose`, so the preview is not an approximation: it is the broadcast, minus
the writing. A broadcast stores one rendered text per language it needs (the languages of its recipients,
each matched to the closest CAP ``info`` block or composed text).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from alertcast.config import Config, ConfigError
from alertcast.core.ack_codes import DEFAULT_ALPHABET
from alertcast.core.cap_eligibility import broadcast_eligibility
from alertcast.core.cap_json import alert_from_json
from alertcast.core.cap_model import Alert
from alertcast.core.escalation import EscalationPolicy, policy_for
from alertcast.core.language import best_language_index, normalise_tag
from alertcast.core.priority import Priority, alert_priority, parse_priority
from alertcast.core.render import (
    MessageTemplates,
    RenderedSms,
    Renderer,
    RenderSettings,
    SmsBudget,
    is_drill,
)
from alertcast.core.render_languages import DEFAULT_TEMPLATES
from alertcast.core.sms import sms_stats
from alertcast.engine.escalation import load_fallback
from alertcast.services.recipients import APPRISE, SMS, RecipientSet, Targets, resolve
from alertcast.store.models import Alert as AlertRow

ACK_ALPHABET = DEFAULT_ALPHABET
"""No 0/O, 1/I/L: codes are read off a phone screen and typed back (the reply parser's own alphabet)."""


class ComposeError(ValueError):
    """The request cannot become a broadcast (no text, unknown alert, alert not for broadcast...)."""


@dataclass(frozen=True)
class ComposeRequest:
    texts: Mapping[str, str] | None = None
    """An operator's message, one text per language tag (``{"en": "...", "es": "..."}``)."""
    alert_id: int | None = None
    targets: Targets = field(default_factory=Targets)
    drill: bool = False
    priority: str | int | None = None
    channels: tuple[str, ...] = ()
    """Channel kinds allowed (``sms``, ``apprise``); all when empty."""
    ack: bool | None = None
    """Ask recipients to acknowledge; default: yes for groups/contacts, no for area (public) broadcasts."""
    title: str | None = None


@dataclass(frozen=True)
class LanguageMessage:
    language: str
    sms: RenderedSms
    title: str
    body: str


@dataclass
class Composition:
    """Everything a broadcast will be, before it is written."""

    title: str
    priority: Priority
    drill: bool
    ack_code: str | None
    expires_at: datetime | None
    alert_id: int | None
    messages: dict[str, LanguageMessage]
    recipients: RecipientSet
    recipient_language: dict[int, str]
    """Contact id → the message language they get."""
    warnings: list[str] = field(default_factory=list)
    escalation: EscalationPolicy | None = None
    """The ``[[fallback]]`` policy for its priority, limited to the allowed channels; None: no fallback."""


def render_settings(config: Config) -> RenderSettings:
    """``[compose]`` in the configuration: marker, ack hint, time format and zone, budget, templates."""
    raw = config.section("compose")
    where = f"{config.path or 'configuration'}: compose"
    try:
        zone = ZoneInfo(raw["timezone"]) if raw.get("timezone") else None
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{where}.timezone: unknown time zone {raw.get('timezone')!r}") from exc
    templates = dict(DEFAULT_TEMPLATES)
    for language, entry in dict(raw.get("templates", {})).items():
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}.templates.{language}: expected a table of sms/title/body/composed")
        base = templates.get(language, MessageTemplates())
        try:
            templates[language] = replace(base, **{k: str(v) for k, v in entry.items()})
        except TypeError as exc:
            raise ConfigError(f"{where}.templates.{language}: {exc}") from exc
    try:
        settings = RenderSettings(
            templates=templates,
            drill_marker=str(raw.get("drill_marker", "EXERCISE")),
            ack_hint=str(raw.get("ack_hint", "Reply ACK {code}")),
            expires_format=str(raw.get("expires_format", "%d %b %H:%M")),
            timezone=zone,
            budget=SmsBudget(int(raw.get("extreme_segments", 1)), int(raw.get("max_segments", 3))),
            transliterate=bool(raw.get("transliterate", True)),
        )
        Renderer(settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return settings


def sender_name(config: Config) -> str | None:
    """How composed messages are signed (``[compose] sender_name``, e.g. the agency); unsigned if unset.

    Never the operator's login: the public needs to know which authority speaks, not who typed it.
    """
    value = config.section("compose").get("sender_name")
    return str(value) if value else None


def new_ack_code(length: int = 4) -> str:
    return "".join(secrets.choice(ACK_ALPHABET) for _ in range(length))


def _load_alert(session: Session, alert_id: int) -> tuple[Alert, AlertRow]:
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise ComposeError(f"no alert with id {alert_id} (see: alertcast status, alertcast ingest)")
    return alert_from_json(row.model), row


def _check_alert(alert: Alert, row: AlertRow, drill: bool, now: datetime) -> list[str]:
    if row.cancelled:
        raise ComposeError(
            f"alert {row.id} was cancelled by alert {row.cancelled_by}: it must not be broadcast"
        )
    eligibility = broadcast_eligibility(alert, now)
    if eligibility.expired:
        raise ComposeError(
            f"alert {row.id} has expired ({', '.join(eligibility.reasons)}): it must not be broadcast"
        )
    if eligibility.not_for_broadcast:
        raise ComposeError(f"alert {row.id} is not for broadcast: {', '.join(eligibility.reasons)}")
    warnings = []
    if row.superseded_by:
        warnings.append(
            f"alert {row.id} has been updated by alert {row.superseded_by}; consider broadcasting that"
        )
    if eligibility.drill_only and not drill:
        warnings.append(f"alert {row.id} is an Exercise: sent as a drill")
    return warnings


def compose(
    session: Session, config: Config, request: ComposeRequest, *, now: datetime | None = None
) -> Composition:
    """Resolve recipients and render every message the request needs; writes nothing."""
    now = now or datetime.now(UTC)
    if (request.texts is None) == (request.alert_id is None):
        raise ComposeError("give either a text or an alert, not both and not neither")
    if request.targets.empty():
        raise ComposeError("no recipients: give at least one group, contact or alert area")
    renderer = Renderer(render_settings(config))
    alert = row = None
    warnings: list[str] = []
    if request.alert_id is not None:
        alert, row = _load_alert(session, request.alert_id)
        warnings = _check_alert(alert, row, request.drill, now)
        drill = is_drill(alert, request.drill)
        priority = parse_priority(request.priority) if request.priority is not None else alert_priority(alert)
        expires_at = alert.expires
        title = request.title or row.headline or row.event
    else:
        texts = {normalise_tag(k): v.strip() for k, v in (request.texts or {}).items()}
        if not texts or not all(texts.values()):
            raise ComposeError("the message text is empty")
        drill = request.drill
        priority = parse_priority(request.priority) if request.priority is not None else Priority.HIGH
        expires_at = None
        title = request.title or next(iter(texts.values()))[:60]
    emergency = priority >= Priority.SEVERE and config.contacts.emergency_reaches_opted_out
    kinds = request.channels or (SMS, APPRISE)
    configured = policy_for(load_fallback(config), int(priority))
    escalation = configured.restricted_to(kinds) if configured else None
    recipients = resolve(
        session,
        request.targets,
        region=config.contacts.default_region,
        channel_kinds=kinds,
        include_opted_out=emergency,
        steps=escalation.steps if escalation else None,
    )
    ack = request.ack if request.ack is not None else not request.targets.area_of
    ack_code = new_ack_code() if ack else None
    languages = sorted({r.language for r in recipients.recipients}) or ["en-US"]
    messages: dict[str, LanguageMessage] = {}
    recipient_language: dict[str, str] = {}
    for wanted in languages:
        if alert is not None:
            sms = renderer.alert_sms(alert, wanted, drill=drill, ack_code=ack_code)
            long = renderer.alert_long(alert, wanted, drill=drill, ack_code=ack_code)
            message = LanguageMessage(sms.language, sms, long.title, long.body)
        else:
            severity = "Extreme" if priority >= Priority.CRITICAL else None
            sms = renderer.composed_sms(
                texts, wanted, severity=severity, sender=sender_name(config), drill=drill, ack_code=ack_code
            )
            chosen = list(texts)[best_language_index(list(texts), wanted) or 0]
            body = texts[chosen] + (f"\n\n{sms.ack_hint}" if sms.ack_hint else "")
            prefix = f"{renderer.settings.drill_marker}: " if drill else ""
            message = LanguageMessage(sms.language, sms, prefix + title, prefix + body)
        messages.setdefault(message.language, message)
        recipient_language[wanted] = message.language
        if not sms.fits:
            warnings.append(
                f"the {sms.language} SMS needs {sms.stats.segments} segments, over its budget of {sms.budget_segments}"
            )
    return Composition(
        title=f"{renderer.settings.drill_marker}: {title}" if drill else title,
        priority=priority,
        drill=drill,
        ack_code=ack_code,
        expires_at=expires_at,
        alert_id=request.alert_id,
        messages=messages,
        recipients=recipients,
        recipient_language={r.contact_id: recipient_language[r.language] for r in recipients.recipients},
        warnings=warnings,
        escalation=escalation,
    )


@dataclass(frozen=True)
class TextStats:
    """What the composer shows live under the text box."""

    characters: int
    encoding: str
    segments: int
    left_in_segment: int
    budget: int
    transliterated: bool
    ucs2_characters: tuple[str, ...]

    @property
    def over_budget(self) -> bool:
        return self.segments > self.budget


def text_stats(
    config: Config, text: str, *, priority: str | int | None = None, drill: bool = False
) -> TextStats:
    """Live counts for a message as it will be sent (drill marker included), cheap enough for every key."""
    settings = render_settings(config)
    level = parse_priority(priority) if priority is not None else Priority.HIGH
    sent = f"{settings.drill_marker}: {text}" if drill else text
    stats = sms_stats(sent, transliterate=settings.transliterate)
    budget = settings.budget.segments_for("Extreme" if level >= Priority.CRITICAL else None)
    return TextStats(
        stats.chars,
        stats.encoding,
        stats.segments,
        stats.units_left,
        budget,
        stats.transliterated,
        stats.ucs2_chars,
    )
