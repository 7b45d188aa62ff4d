"""Getting CAP in: a guard in front of every parser, a tolerant reader, CAP rule checks, feeds and folders.

Start with :func:`read_cap`; everything it returns is plain Python (the typed model of
:mod:`alertcast.core.cap_model`), never XML objects.
"""

from alertcast.cap.documents import DocumentSink, RawDocument
from alertcast.cap.fetch import CapFetcher, FetchError, FetchResult, Validators
from alertcast.cap.guard import DEFAULT_MAX_BYTES, CapRefused
from alertcast.cap.issues import CapIssue
from alertcast.cap.poller import FeedPoller, FeedPollOutcome
from alertcast.cap.reader import read_cap
from alertcast.cap.results import CapEntry, CapReadResult
from alertcast.cap.watch import FolderWatcher
from alertcast.core.cap_eligibility import BroadcastEligibility, broadcast_eligibility

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
