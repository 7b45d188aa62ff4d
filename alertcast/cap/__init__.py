"""Getting CAP in: a guard in front of every parser, a tolerant reader, CAP rule checks, feeds and folders.

Start with :func:`read_cap`; everything it returns is plain Python (the typed model of
:mod:`alertcast.core.cap_model`), never XML objects.

Fetching, polling and watching (httpx and its dependencies) are imported on first use, so a process that
only reads CAP, such as an ingest reading worker, starts in a fraction of the time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from alertcast.cap.documents import DocumentSink, RawDocument
from alertcast.cap.guard import DEFAULT_MAX_BYTES, CapRefused
from alertcast.cap.issues import CapIssue
from alertcast.cap.reader import read_cap
from alertcast.cap.results import CapEntry, CapReadResult
from alertcast.core.cap_eligibility import BroadcastEligibility, broadcast_eligibility

if TYPE_CHECKING:
    from alertcast.cap.fetch import CapFetcher, FetchError, FetchResult, Validators
    from alertcast.cap.poller import FeedPoller, FeedPollOutcome
    from alertcast.cap.watch import FolderWatcher

_LAZY = {
    "CapFetcher": "alertcast.cap.fetch",
    "FetchError": "alertcast.cap.fetch",
    "FetchResult": "alertcast.cap.fetch",
    "Validators": "alertcast.cap.fetch",
    "FeedPoller": "alertcast.cap.poller",
    "FeedPollOutcome": "alertcast.cap.poller",
    "FolderWatcher": "alertcast.cap.watch",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_MAX_BYTES",
    "BroadcastEligibility",
    "CapEntry",
    "CapFetcher",
    "CapIssue",
    "CapReadResult",
    "CapRefused",
    "DocumentSink",
    "FeedPollOutcome",
    "FeedPoller",
    "FetchError",
    "FetchResult",
    "FolderWatcher",
    "RawDocument",
    "Validators",
    "broadcast_eligibility",
    "read_cap",
]
