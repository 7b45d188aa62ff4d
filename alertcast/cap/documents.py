"""Raw documents as the feed poller and folder watcher hand them on: bytes plus where they came from.

They are deliberately not read or stored here: the consumer (the relay) calls
:func:`alertcast.cap.reader.read_cap` on each and decides what to keep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RawDocument:
    data: bytes
    source: str
    """URL or file path; pass it to ``read_cap(data, source=...)``."""
    via: str | None = None
    """The index feed that linked to this document, when it was fetched through one."""


DocumentSink = Callable[[RawDocument], Awaitable[None]]
"""Receives each new document. If it raises, the document counts as not delivered and is offered again."""
