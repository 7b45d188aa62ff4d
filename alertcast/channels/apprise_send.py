"""One message through Apprise, on a worker thread: address → URL → guard → notify → outcome.

Each recipient gets an Apprise object of their own, so each has a result of their own: one bad address in
a batch fails that recipient only. Everything here blocks (DNS, SMTP, HTTP); the channel runs it in its
thread pool and never on the event loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import apprise

from alertcast.channels.apprise_config import AppriseSettings, email_address
from alertcast.channels.apprise_guard import refusal
from alertcast.channels.apprise_outcome import capturing, classify
from alertcast.channels.base import OutboundMessage, Outcome, SendResult

TITLE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    personal: bool
    """A URL from the contact row (guarded), not one the route built from its own settings."""
    label: str
    """How results name it: the e-mail address or the URL's scheme (never the URL: it may hold tokens)."""


def target_for(address: str, settings: AppriseSettings) -> Target | str:
    """The URL to send to, or why there is none (a reason for a FAILED result)."""
    text = address.strip()
    if "://" in text:
        return Target(text, personal=True, label=text.split("://", 1)[0].lower() + "://…")
    email = email_address(text)
    if email is None:
        return f"{text!r} is neither an e-mail address nor an Apprise URL"
    try:
        return Target(settings.email_url(email), personal=False, label=email)
    except ValueError as exc:
        return str(exc)


def make_asset(settings: AppriseSettings) -> apprise.AppriseAsset:
    """Apprise settings shared by every send of a route: our name, no persistent cache on disk, services
    run in the calling thread (we bring our own pool), no redirects."""
    return apprise.AppriseAsset(
        app_id=settings.app_id,
        app_desc="alertcast emergency alerts",
        storage_mode="memory",
        async_mode=False,
        http_redirects=False,
        secure_logging=True,
    )


def _notify_type(priority: int) -> str:
    if priority >= 3:
        return apprise.NotifyType.FAILURE
    return apprise.NotifyType.WARNING if priority >= 2 else apprise.NotifyType.INFO


def _title(message: OutboundMessage) -> str:
    lines = message.text.strip().splitlines()
    title = (message.title or (lines[0] if lines else "")).strip()
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"


def _failed(message: OutboundMessage, reason: str) -> SendResult:
    return SendResult(message.delivery_id, Outcome.FAILED, error=reason)


def deliver(message: OutboundMessage, settings: AppriseSettings, asset: apprise.AppriseAsset) -> SendResult:
    """Send one message and say what became of it. Never raises for a recipient's problem."""
    target = target_for(message.address, settings)
    if isinstance(target, str):
        return _failed(message, target)
    if target.personal:
        refused = refusal(target.url, settings)
        if refused is not None:
            return _failed(message, refused)
    plugin = apprise.Apprise.instantiate(target.url, asset=asset)
    if plugin is None:
        scheme = target.url.split("://", 1)[0].lower()
        return _failed(message, f"not a usable Apprise URL ({scheme}://): unknown service, or fields missing")
    if target.personal and hasattr(plugin, "redirects"):
        plugin.redirects = False  # a ?redirect=yes in a contact's URL does not get to override the route
    sender = apprise.Apprise(asset=asset)
    sender.add(plugin)
    with capturing():
        result = sender.notify(
            body=message.body or message.text,
            title=_title(message),
            notify_type=_notify_type(message.priority),
            body_format=apprise.NotifyFormat.TEXT,
            timeout=settings.timeout,
            log_level=logging.DEBUG,
        )
    if isinstance(result, bool):  # Apprise before 2.0: a bare bool, no per-service detail
        outcome, reason = classify("SUCCESS" if result else "FAILURE", [])
    else:
        with result:
            services = list(result)
            if services:
                status = services[0].status.name
                entries = [(e.level, e.message) for e in services[0].logs()]
            else:
                status = result.status.name
                entries = [(e.level, e.message) for e in result.call_logs()]
            outcome, reason = classify(status, entries)
    error = f"{target.label}: {reason}" if reason else None
    return SendResult(message.delivery_id, outcome, error=error)
