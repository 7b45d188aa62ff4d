"""``type = "apprise"`` routes: building an :class:`AppriseChannel` from a ``[[routes]]`` table.

Secrets (the SMTP password) are references (``{ env = "NAME" }`` or ``{ file = "PATH" }``), read when the
route is built, so a missing one stops the engine at start with the key's name instead of failing every
e-mail of a broadcast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertcast.channels.apprise_channel import AppriseChannel
from alertcast.channels.apprise_config import parse_apprise_settings


def apprise_channel(name: str, settings: Mapping[str, Any]) -> AppriseChannel:
    """The channel for one ``type = "apprise"`` route; errors name the route and the key."""
    return AppriseChannel(name, parse_apprise_settings(settings, f"routes.{name}"))
