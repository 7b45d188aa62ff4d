"""Turning an alert (or an operator's own text) into the words people receive.

Two forms: an SMS that must fit a segment budget, and a long form (title and body) for email and chat.
Both come from templates the operator can change per language (see :mod:`alertcast.core.render_template`).

Budget: by default an Extreme alert gets one SMS segment — it must arrive whole and first — and any other
alert at most three. When the text is longer, fields are dropped or shortened in :data:`DEFAULT_SHORTEN_ORDER`
(see :mod:`alertcast.core.render_fit`). Two things are never dropped or cut: the drill marker and the
acknowledgement hint ("Reply ACK 7F3"). If the text still does not fit, it goes out over budget and
``fits`` says so, since an alert that arrives in two parts beats one that says nothing.

Drill: every message of a drill starts with the marker (default "EXERCISE: ") in every language, SMS and
long form alike; an alert whose CAP status is Exercise or Test is always a drill.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from alertcast.core.cap_model import Alert, Info
from alertcast.core.language import best_language_index, matching_language_index, normalise_tag, pick_info
from alertcast.core.render_fit import AREA_SEPARATOR, Shorter, Step, area_shorter, fit_fields, text_shorter
from alertcast.core.render_template import MessageTemplate
from alertcast.core.sms import MAX_PARTS, SmsStats, plan_sms, sms_stats

ALERT_FIELDS = frozenset(
    {"headline", "event", "area", "description", "instruction", "expires", "sender", "ack", "web", "contact",
     "severity", "urgency", "certainty"}
)  # fmt: skip
COMPOSED_FIELDS = frozenset({"message", "sender", "ack"})
PROTECTED_FIELDS = frozenset({"ack"})
DRILL_STATUSES = frozenset({"exercise", "test"})

DEFAULT_SMS = (
    "[{headline}. ][{area}. ][{instruction} ][{description} ][Until {expires}. ][{web} ]"
    "[- {sender}. ][{ack}.]"
)
DEFAULT_TITLE = "{headline}"
DEFAULT_BODY = (
    "[{headline}\n\n][{area}\n\n][{description}\n\n][{instruction}\n\n][Expires: {expires}\n]"
    "[More information: {web}\n][Contact: {contact}\n][From: {sender}\n][\n{ack}\n]"
)
DEFAULT_COMPOSED = "[{message} ][- {sender}. ][{ack}.]"
DEFAULT_SHORTEN_ORDER = (
    "drop:description", "drop:contact", "drop:web", "trim:instruction", "shorten:sender", "drop:sender",
    "shorten:area", "drop:expires", "shorten:headline", "shorten:instruction", "drop:area", "drop:instruction",
)  # fmt: skip
"""Least important first. What to do, what and where matter most to a reader; the sender goes before them
because the SMS's source address already names the authority. The headline is never cut below the event
name ("Flash Flood Warning")."""
COMPOSED_SHORTEN_ORDER = ("drop:sender", "shorten:message")


@dataclass(frozen=True, slots=True)
class MessageTemplates:
    """The templates for one language; every one is checked when the settings are built."""

    sms: str = DEFAULT_SMS
    title: str = DEFAULT_TITLE
    body: str = DEFAULT_BODY
    composed: str = DEFAULT_COMPOSED
    ack_hint: str | None = None
    """This language's acknowledgement hint (must contain ``{code}``); None uses ``RenderSettings.ack_hint``."""
    expires_format: str | None = None
    """strftime format for expiry times; None uses ``RenderSettings.expires_format``."""


@dataclass(frozen=True, slots=True)
class SmsBudget:
    extreme_segments: int = 1
    default_segments: int = 3

    def __post_init__(self) -> None:
        for name in ("extreme_segments", "default_segments"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_PARTS:
                raise ValueError(f"SMS budget {name} must be 1..{MAX_PARTS}, got {value}")

    def segments_for(self, severity: str | None) -> int:
        is_extreme = (severity or "").strip().lower() == "extreme"
        return self.extreme_segments if is_extreme else self.default_segments


def _default_templates() -> Mapping[str, MessageTemplates]:
    """English for any language plus the built-in ones (imported on use: they are made of this module's
    MessageTemplates)."""
    from alertcast.core.render_languages import DEFAULT_TEMPLATES

    return DEFAULT_TEMPLATES


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """How messages are worded. ``templates`` is keyed by language tag; "*" is used for any other."""

    templates: Mapping[str, MessageTemplates] = field(default_factory=lambda: dict(_default_templates()))
    drill_marker: str = "EXERCISE"
    ack_hint: str = "Reply ACK {code}"
    expires_format: str = "%d %b %H:%M"
    timezone: tzinfo | None = None
    """Zone to show expiry times in; None keeps the offset the alert was written with."""
    budget: SmsBudget = field(default_factory=SmsBudget)
    transliterate: bool = True
    shorten_order: tuple[str, ...] = DEFAULT_SHORTEN_ORDER
    composed_shorten_order: tuple[str, ...] = COMPOSED_SHORTEN_ORDER


@dataclass(frozen=True, slots=True)
class _LanguageTemplates:
    sms: MessageTemplate
    title: MessageTemplate
    body: MessageTemplate
    composed: MessageTemplate
    ack_hint: str
    expires_format: str


@dataclass(frozen=True, slots=True)
class RenderedSms:
    text: str
    """Exactly what is sent (after transliteration, when enabled)."""
    language: str
    stats: SmsStats
    budget_segments: int
    fits: bool
    steps: tuple[str, ...]
    """The shortening steps that were needed, e.g. ("drop:description", "shorten:instruction")."""
    drill: bool
    ack_hint: str


@dataclass(frozen=True, slots=True)
class RenderedLong:
    title: str
    body: str
    language: str
    drill: bool


def is_drill(alert: Alert, drill: bool = False) -> bool:
    """A broadcast is a drill when the operator says so or the alert itself is an Exercise or Test."""
    return drill or alert.status.strip().lower() in DRILL_STATUSES


_WHITESPACE = re.compile(r"\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _one_line(text: str | None) -> str:
    return _WHITESPACE.sub(" ", text or "").strip()


def _paragraphs(text: str | None) -> str:
    """Hard-wrapped CAP text (NWS wraps at 70 columns) re-flowed, keeping blank-line paragraph breaks."""
    return "\n\n".join(_one_line(part) for part in _PARAGRAPH_BREAK.split(text or "") if part.strip())


def _area_names(info: Info) -> list[str]:
    return list(dict.fromkeys(_one_line(area.description) for area in info.areas if area.description.strip()))


def _expires_text(expires: datetime | None, settings: RenderSettings, fmt: str) -> str:
    if expires is None:
        return ""
    shown = expires.astimezone(settings.timezone) if settings.timezone is not None else expires
    return shown.strftime(fmt)


def _alert_values(
    alert: Alert, info: Info, settings: RenderSettings, ack: str, flow: bool, expires_format: str
) -> dict[str, str]:
    text = _paragraphs if flow else _one_line
    return {
        "headline": _one_line(info.headline) or _one_line(info.event),
        "event": _one_line(info.event),
        "area": AREA_SEPARATOR.join(_area_names(info)),
        "description": text(info.description),
        "instruction": text(info.instruction),
        "expires": _expires_text(info.expires or alert.expires, settings, expires_format),
        "sender": _one_line(info.sender_name) or _one_line(alert.sender),
        "ack": ack,
        "web": _one_line(info.web),
        "contact": _one_line(info.contact),
        "severity": info.severity,
        "urgency": info.urgency,
        "certainty": info.certainty,
    }


def _parse_templates(
    language: str, templates: MessageTemplates, settings: RenderSettings
) -> _LanguageTemplates:
    hint = templates.ack_hint or settings.ack_hint
    if "{code}" not in hint:
        raise ValueError(f"ack hint {hint!r} for language {language!r} must contain {{code}}")
    parsed: dict[str, object] = {
        name: MessageTemplate.parse(
            getattr(templates, name),
            allowed=COMPOSED_FIELDS if name == "composed" else ALERT_FIELDS,
            where=f"{name} template for language {language!r}",
        )
        for name in ("sms", "title", "body", "composed")
    }
    return _LanguageTemplates(
        **parsed,  # type: ignore[arg-type]
        ack_hint=hint,
        expires_format=templates.expires_format or settings.expires_format,
    )


def _parse_steps(order: tuple[str, ...], allowed: frozenset[str]) -> tuple[Step, ...]:
    return tuple(Step.parse(text, allowed=allowed, protected=PROTECTED_FIELDS) for text in order)


class Renderer:
    """Renders with one set of :class:`RenderSettings`, checked once: build it when configuration loads so
    that a broken template is reported then, with its language and position, not at the first alert."""

    def __init__(self, settings: RenderSettings | None = None) -> None:
        self.settings = settings = settings or RenderSettings()
        if "*" not in settings.templates:
            raise ValueError('render templates need a "*" entry for languages without their own')
        if not settings.drill_marker.strip():
            raise ValueError("the drill marker must not be empty: drills must always be recognisable")
        if "{code}" not in settings.ack_hint:
            raise ValueError(f"ack hint {settings.ack_hint!r} must contain {{code}}")
        self._templates = {
            language: _parse_templates(language, templates, settings)
            for language, templates in settings.templates.items()
        }
        self._languages = [language for language in self._templates if language != "*"]
        self._steps = _parse_steps(settings.shorten_order, ALERT_FIELDS)
        self._composed_steps = _parse_steps(settings.composed_shorten_order, COMPOSED_FIELDS)

    def templates_for(self, language: str | None) -> _LanguageTemplates:
        """The templates of the closest configured language, else those under "*"."""
        index = matching_language_index(self._languages, language) if language else None
        return self._templates["*" if index is None else self._languages[index]]

    def alert_sms(
        self,
        alert: Alert,
        language: str | None,
        *,
        drill: bool = False,
        ack_code: str | None = None,
        budget_segments: int | None = None,
    ) -> RenderedSms:
        """The SMS for a reader of ``language``, fitted to the budget for the alert's severity."""
        info = _info_or_error(alert, language)
        templates = self.templates_for(info.language)
        ack = self._ack_hint(ack_code, templates)
        values = _alert_values(
            alert, info, self.settings, ack, flow=False, expires_format=templates.expires_format
        )
        event = values["event"] if len(values["event"]) < len(values["headline"]) else ""
        candidates = {
            "instruction": text_shorter(values["instruction"]),
            "headline": text_shorter(values["headline"], minimum=event),
            "area": area_shorter(_area_names(info)),
            "sender": text_shorter(values["sender"]),
        }
        return self._fit_sms(
            templates.sms,
            values,
            candidates,
            self._steps,
            language=normalise_tag(info.language),
            budget=budget_segments or self.settings.budget.segments_for(info.severity),
            drill=is_drill(alert, drill),
        )

    def alert_long(
        self, alert: Alert, language: str | None, *, drill: bool = False, ack_code: str | None = None
    ) -> RenderedLong:
        """Title and body for email and chat: everything the alert says, no budget."""
        info = _info_or_error(alert, language)
        templates = self.templates_for(info.language)
        ack = self._ack_hint(ack_code, templates)
        values = _alert_values(
            alert, info, self.settings, ack, flow=True, expires_format=templates.expires_format
        )
        drilling = is_drill(alert, drill)
        prefix = self._drill_prefix(drilling)
        body = templates.body.render(values)
        if ack and "ack" not in templates.body.fields:
            body = f"{body}\n\n{ack}"
        return RenderedLong(
            title=prefix + templates.title.render(values),
            body=prefix + body,
            language=normalise_tag(info.language),
            drill=drilling,
        )

    def composed_sms(
        self,
        texts: Mapping[str, str],
        language: str | None,
        *,
        severity: str | None = None,
        sender: str | None = None,
        drill: bool = False,
        ack_code: str | None = None,
        budget_segments: int | None = None,
    ) -> RenderedSms:
        """An operator's own message, one text per language, under the same budget rules as an alert."""
        languages = list(texts)
        index = best_language_index(languages, language)
        if index is None:
            raise ValueError("a composed message needs at least one text")
        chosen = languages[index]
        message = _one_line(texts[chosen])
        if not message:
            raise ValueError(f"the composed text for language {chosen!r} is empty")
        templates = self.templates_for(chosen)
        values = {"message": message, "sender": _one_line(sender), "ack": self._ack_hint(ack_code, templates)}
        return self._fit_sms(
            templates.composed,
            values,
            {"message": text_shorter(message)},
            self._composed_steps,
            language=normalise_tag(chosen),
            budget=budget_segments or self.settings.budget.segments_for(severity),
            drill=drill,
        )

    def with_ack_code(self, rendered: RenderedSms, ack_code: str) -> RenderedSms:
        """``rendered`` with another recipient's ack code, without rendering again.

        Rendering and fitting take milliseconds; a broadcast to 100,000 people with one code each renders
        once per language and swaps the code here. With codes of one length and alphabet the result is the
        same as a fresh render; otherwise ``stats`` and ``fits`` are recomputed and tell the truth.
        """
        if not rendered.ack_hint:
            raise ValueError("this message was rendered without an ack code, so there is none to replace")
        hint = self._ack_hint(ack_code, self.templates_for(rendered.language))
        head, found, tail = rendered.text.rpartition(rendered.ack_hint)
        if not found:
            raise ValueError(f"ack hint {rendered.ack_hint!r} not found in the rendered text")
        text = plan_sms(head + hint + tail, transliterate=self.settings.transliterate).text
        stats = sms_stats(text)
        return replace(
            rendered,
            text=text,
            stats=stats,
            fits=rendered.fits and stats.segments <= rendered.budget_segments,
            ack_hint=hint,
        )

    def ack_hint(self, language: str | None) -> str:
        """The hint wording for a language, with ``{code}`` still in it (for the reply parser and docs)."""
        return self.templates_for(language).ack_hint

    @staticmethod
    def _ack_hint(ack_code: str | None, templates: _LanguageTemplates) -> str:
        return templates.ack_hint.format(code=ack_code) if ack_code else ""

    def _drill_prefix(self, drill: bool) -> str:
        return f"{self.settings.drill_marker.strip()}: " if drill else ""

    def _fit_sms(
        self,
        template: MessageTemplate,
        values: dict[str, str],
        candidates: Mapping[str, Shorter],
        steps: tuple[Step, ...],
        *,
        language: str,
        budget: int,
        drill: bool,
    ) -> RenderedSms:
        prefix = self._drill_prefix(drill)
        ack = values.get("ack", "")
        trailer = f" {ack}" if ack and "ack" not in template.fields else ""
        transliterate = self.settings.transliterate

        def compose(current: Mapping[str, str]) -> str:
            return prefix + template.render(current) + trailer

        def fits(current: Mapping[str, str]) -> bool:
            return sms_stats(compose(current), transliterate=transliterate).segments <= budget

        result = fit_fields(values, candidates, steps, fits)
        plan = plan_sms(compose(result.values), transliterate=transliterate)
        return RenderedSms(
            text=plan.text,
            language=language,
            stats=sms_stats(plan.text),
            budget_segments=budget,
            fits=result.fits,
            steps=result.steps,
            drill=drill,
            ack_hint=ack,
        )


def _info_or_error(alert: Alert, language: str | None) -> Info:
    info = pick_info(alert, language)
    if info is None:
        raise ValueError(
            f"alert {alert.identifier!r} from {alert.sender!r} has no <info> block: nothing to send"
        )
    return info
