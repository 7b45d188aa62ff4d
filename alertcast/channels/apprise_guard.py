"""Where a contact's personal Apprise URL may send to.

A contact row is data anyone with import rights can write. Used as given, ``json://10.0.0.5:8500/...`` in
a row would make alertcast POST into the internal network (server-side request forgery), and
``mailto://x@intranet-smtp`` would make it speak SMTP to an internal relay. So a personal URL must use an
allowed scheme, and, for schemes whose URL names the server to connect to, that server must resolve only
to public addresses, unless the route lists the network in ``allow_private_networks``.

Services with a fixed endpoint (Telegram, Slack, Discord...) carry tokens where a host would be; those are
never looked up in DNS, which would leak the token to resolvers.

Known limit: the name is resolved here and again by Apprise when it connects, so a DNS server that
answers differently the second time (DNS rebinding) is not stopped. Redirects are not followed for
personal URLs, which closes the simpler detour through a public server answering 307.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import parse_qs, urlsplit

from alertcast.channels.apprise_config import AppriseSettings

FIXED_DESTINATION_SCHEMES = frozenset(
    {"tgram", "slack", "discord", "msteams", "pover", "pbul", "twilio", "twist", "line", "pushed", "spush"}
)
"""Schemes whose plugin always connects to the service's own public API."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _destinations(url: str, scheme: str) -> list[str]:
    """The host names the plugin will connect to, as far as the URL decides them."""
    parts = urlsplit(url)
    hosts: list[str] = []
    if scheme in ("ntfy", "ntfys") and parts.path.strip("/") == "":
        return []  # ntfy://topic is the public ntfy.sh service; the "host" is the topic name
    if parts.hostname:
        hosts.append(parts.hostname)
    if scheme in ("mailto", "mailtos"):
        hosts += [h for h in parse_qs(parts.query).get("smtp", []) if h]
    return hosts


def _addresses(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []  # unresolvable: nothing to reach; the send itself will fail (and be retried)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _allowed(address: Address, settings: AppriseSettings) -> bool:
    if address.is_global and not address.is_multicast:
        return True
    return any(address.version == net.version and address in net for net in settings.allow_private_networks)


def refusal(url: str, settings: AppriseSettings) -> str | None:
    """Why this personal URL must not be used, or None when it may. Blocking (DNS): call off the loop."""
    scheme = url.split("://", 1)[0].lower()
    if scheme not in settings.allowed_schemes:
        allowed = ", ".join(sorted(settings.allowed_schemes)) or "none"
        return f"{scheme}:// is not allowed for a contact's address on this route (allowed: {allowed})"
    if scheme in FIXED_DESTINATION_SCHEMES:
        return None
    try:
        hosts = _destinations(url, scheme)
    except ValueError as exc:
        return f"cannot read the server of this {scheme}:// URL: {exc}"
    for host in hosts:
        for address in _addresses(host):
            if not _allowed(address, settings):
                return (
                    f"{scheme}:// to {host} ({address}) refused: a contact's URL may only reach public addresses"
                    " (see allow_private_networks)"
                )
    return None
