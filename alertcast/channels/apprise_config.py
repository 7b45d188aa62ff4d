"""Settings of an Apprise route, and how a delivery's address becomes the Apprise URL it is sent to.

Credentials live here, in the configuration, never in contact rows: a contact's e-mail address becomes a
``mailto(s)://`` URL through the route's SMTP settings, and only personal URLs (a chat handle, a webhook)
come from the contact. Values taken from a contact are quoted before they go into a URL, so an address
such as ``x@y.org&smtp=10.0.0.5`` cannot add parameters to the route's own URL.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from alertcast.config import ConfigError, Secret, parse_secret

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_ALLOWED_SCHEMES = (
    "mailto", "mailtos", "ntfy", "ntfys", "json", "jsons", "xml", "xmls", "form", "forms", "tgram", "slack",
    "matrix", "matrixs", "discord", "msteams", "gotify", "gotifys", "pover",
)  # fmt: skip
"""Schemes a contact's personal URL may use unless the route lists its own."""

TLS_MODES = {"starttls": ("mailtos", "starttls"), "ssl": ("mailtos", "ssl"), "none": ("mailto", "insecure")}

_EMAIL = re.compile(
    r"^[^@\s,;:<>()\[\]\\\"/?#&=%]+@[^@\s,;:<>()\[\]\\\"/?#&=%]+\.[^@\s,;:<>()\[\]\\\"/?#&=%.]+$"
)


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server e-mail addresses are sent through (``[routes.smtp]``)."""

    host: str
    sender: str
    """The From address (``from`` in the configuration)."""
    port: int | None = None
    """Default by ``tls``: 587 (starttls), 465 (ssl), 25 (none)."""
    user: str = ""
    password: str = field(default="", repr=False)
    sender_name: str = ""
    tls: str = "starttls"

    def url_for(self, address: str) -> str:
        scheme, mode = TLS_MODES[self.tls]
        login = ""
        if self.user:
            login = quote(self.user, safe="") + (f":{quote(self.password, safe='')}" if self.password else "")
            login += "@"
        port = f":{self.port}" if self.port else ""
        params = f"mode={mode}&smtp={quote(self.host, safe='')}&from={quote(self.sender, safe='@')}"
        if self.sender_name:
            params += f"&name={quote(self.sender_name, safe='')}"
        return f"{scheme}://{login}{self.host}{port}?{params}&to={quote(address, safe='@')}"


@dataclass(frozen=True)
class AppriseSettings:
    """One Apprise route. Every key is documented in ``docs/fallback-and-acks.md``."""

    smtp: SmtpSettings | None = None
    smtp_url: str = field(default="", repr=False)
    """A URL template with ``{address}`` (and ``{password}``, filled from ``smtp_password``)."""
    smtp_password: str = field(default="", repr=False)
    allowed_schemes: frozenset[str] = frozenset(DEFAULT_ALLOWED_SCHEMES)
    allow_private_networks: tuple[IPNetwork, ...] = ()
    """Networks a personal URL may reach although they are not public (tests, an internal ntfy)."""
    concurrency: int = 4
    timeout: float = 30.0
    """Seconds one send may take in all (connect, TLS, answer) before it counts as a temporary failure."""
    stop_grace: float = 5.0
    """On stop, seconds to let sends already under way finish before they are handed back."""
    app_id: str = "alertcast"

    def email_url(self, address: str) -> str:
        """The route's URL for one e-mail address; ValueError when the route has no mail server."""
        if self.smtp_url:
            url = self.smtp_url.replace("{password}", quote(self.smtp_password, safe=""))
            return url.replace("{address}", quote(address, safe="@"))
        if self.smtp is not None:
            return self.smtp.url_for(address)
        raise ValueError("this route has no mail server (set smtp_url or [routes.smtp]) for e-mail addresses")


def email_address(address: str) -> str | None:
    """The plain e-mail address ``address`` is (``mailto:`` accepted), or None if it is not one."""
    candidate = address.strip()
    if candidate.lower().startswith("mailto:") and "://" not in candidate:
        candidate = candidate[len("mailto:") :]
    return candidate if _EMAIL.match(candidate) else None


def _text(raw: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: expected text, got {value!r}")
    return value


def _number(raw: Mapping[str, Any], key: str, where: str, default: float, minimum: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{where}.{key}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def _secret(raw: Mapping[str, Any], key: str, where: str) -> str:
    if key not in raw:
        return ""
    secret: Secret = parse_secret(raw[key], f"{where}.{key}")
    try:
        return secret.resolve()
    except ConfigError as exc:
        raise ConfigError(f"{where}.{key}: {exc}") from None


def _smtp(raw: object, where: str) -> SmtpSettings:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table (host, port, user, password, from, from_name, tls)")
    known = {"host", "port", "user", "password", "from", "from_name", "tls"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    host = _text(raw, "host", where)
    sender = _text(raw, "from", where)
    if not host:
        raise ConfigError(f"{where}.host: the mail server's host name is required")
    if email_address(sender) is None:
        raise ConfigError(f"{where}.from: expected the sender's e-mail address, got {sender!r}")
    tls = _text(raw, "tls", where, "starttls")
    if tls not in TLS_MODES:
        raise ConfigError(f"{where}.tls: expected one of {', '.join(TLS_MODES)}, got {tls!r}")
    port = raw.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise ConfigError(f"{where}.port: expected a port number 1..65535, got {port!r}")
    return SmtpSettings(
        host=host,
        sender=sender,
        port=port,
        user=_text(raw, "user", where),
        password=_secret(raw, "password", where),
        sender_name=_text(raw, "from_name", where),
        tls=tls,
    )


def _networks(raw: object, where: str) -> tuple[IPNetwork, ...]:
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise ConfigError(f'{where}: expected a list of networks such as ["10.0.0.0/8", "127.0.0.1"]')
    try:
        return tuple(ipaddress.ip_network(n, strict=False) for n in raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


KNOWN_KEYS = frozenset(
    {"smtp", "smtp_url", "smtp_password", "allowed_schemes", "allow_private_networks", "concurrency",
     "timeout", "stop_grace", "app_id"}
)  # fmt: skip


def parse_apprise_settings(raw: Mapping[str, Any], where: str = "apprise") -> AppriseSettings:
    """Check a route's keys; errors name the key (``routes.mail.smtp.port: expected ...``)."""
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} for an apprise route (known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    smtp_url = _text(raw, "smtp_url", where)
    if smtp_url and "{address}" not in smtp_url:
        raise ConfigError(f"{where}.smtp_url: must contain {{address}} where the recipient goes")
    if smtp_url and "smtp" in raw:
        raise ConfigError(f"{where}: give either smtp_url or [smtp], not both")
    password = _secret(raw, "smtp_password", where)
    if "{password}" in smtp_url and not password:
        raise ConfigError(f"{where}.smtp_password: smtp_url has {{password}} but no smtp_password is set")
    schemes = raw.get("allowed_schemes", list(DEFAULT_ALLOWED_SCHEMES))
    if not isinstance(schemes, list) or not all(isinstance(s, str) and s.isalnum() for s in schemes):
        raise ConfigError(f'{where}.allowed_schemes: expected a list of schemes such as ["ntfy", "mailto"]')
    concurrency = _number(raw, "concurrency", where, 4, 1)
    if concurrency != int(concurrency) or concurrency > 64:
        raise ConfigError(f"{where}.concurrency: expected a whole number of sends at once, 1..64")
    return AppriseSettings(
        smtp=_smtp(raw["smtp"], f"{where}.smtp") if "smtp" in raw else None,
        smtp_url=smtp_url,
        smtp_password=password,
        allowed_schemes=frozenset(s.lower() for s in schemes),
        allow_private_networks=_networks(
            raw.get("allow_private_networks", []), f"{where}.allow_private_networks"
        ),
        concurrency=int(concurrency),
        timeout=_number(raw, "timeout", where, 30.0, 1.0),
        stop_grace=_number(raw, "stop_grace", where, 5.0, 0.0),
        app_id=_text(raw, "app_id", where, "alertcast") or "alertcast",
    )
