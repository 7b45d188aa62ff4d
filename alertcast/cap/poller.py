"""Polling CAP feeds on a schedule, for an unattended relay.

Each feed has its own schedule: polled every ``interval`` seconds with a conditional request, and after a
failure (unreachable, HTTP error, a body that is not CAP or a feed) retried with exponential backoff up to
``max_backoff``. One feed failing never delays or stops another. A body identical to the last one counts as
unchanged, for servers that ignore conditional requests. A document that embeds alerts is handed
to the sink as a whole; for an index feed each new linked CAP document is fetched and handed on, once.
A link that fails is retried on the next poll even if the index itself is unchanged (304).
Nothing is stored here: the sink decides.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from alertcast.cap.documents import DocumentSink, RawDocument
from alertcast.cap.fetch import CapFetcher, FetchError, Validators
from alertcast.cap.reader import read_cap

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedPollOutcome:
    url: str
    ok: bool
    not_modified: bool = False
    delivered: int = 0
    error: str | None = None
    failed_links: tuple[str, ...] = ()
    skipped_links: tuple[str, ...] = ()


@dataclass(slots=True)
class _FeedState:
    url: str
    validators: Validators = field(default_factory=Validators)
    failures: int = 0
    delivered_links: set[str] = field(default_factory=set)
    pending_links: list[str] = field(default_factory=list)
    last_outcome: FeedPollOutcome | None = None
    digest: bytes | None = None


def follow_every_link(url: str) -> bool:
    return True


class FeedPoller:
    """Polls ``feeds`` and hands every new CAP document to ``sink`` (see :class:`RawDocument`)."""

    def __init__(
        self,
        feeds: Iterable[str],
        sink: DocumentSink,
        *,
        fetcher: CapFetcher,
        interval: float = 60.0,
        max_backoff: float = 1800.0,
        jitter: float = 0.1,
        follow_link: Callable[[str], bool] = follow_every_link,
        link_concurrency: int = 4,
        max_links_per_poll: int = 500,
    ) -> None:
        self._states = {url: _FeedState(url) for url in dict.fromkeys(feeds)}
        self._sink = sink
        self._fetcher = fetcher
        self.interval = interval
        self.max_backoff = max_backoff
        self.jitter = jitter
        self._follow_link = follow_link
        self._link_slots = asyncio.Semaphore(link_concurrency)
        self._sink_lock = asyncio.Lock()
        self.max_links_per_poll = max_links_per_poll

    def delay_after(self, failures: int) -> float:
        """Seconds until the next poll of a feed with ``failures`` consecutive failures (no jitter)."""
        if failures == 0:
            return self.interval
        return min(self.max_backoff, self.interval * 2.0 ** min(failures, 32))

    def outcomes(self) -> dict[str, FeedPollOutcome | None]:
        """The latest outcome per feed, for status displays."""
        return {url: state.last_outcome for url, state in self._states.items()}

    async def run(self) -> None:
        """Poll every feed forever on its own schedule; returns only when cancelled."""
        async with asyncio.TaskGroup() as group:
            for state in self._states.values():
                group.create_task(self._feed_loop(state))

    async def poll_all_once(self) -> list[FeedPollOutcome]:
        """One poll of every feed, concurrently; handy for a manual refresh and for tests."""
        return list(await asyncio.gather(*(self.poll(url) for url in self._states)))

    async def _feed_loop(self, state: _FeedState) -> None:
        while True:
            await self.poll(state.url)
            delay = self.delay_after(state.failures)
            await asyncio.sleep(delay * random.uniform(1.0 - self.jitter, 1.0 + self.jitter))

    async def poll(self, url: str) -> FeedPollOutcome:
        """Poll one feed now. Never raises (except on cancellation): failures are logged and counted."""
        state = self._states[url]
        try:
            outcome = await self._poll(state)
        except Exception as error:  # a broken feed or sink must not stop the other feeds
            logger.exception("polling CAP feed %s failed unexpectedly", url)
            outcome = FeedPollOutcome(url, ok=False, error=f"{type(error).__name__}: {error}")
        if outcome.ok:
            state.failures = 0
        else:
            state.failures += 1
            logger.warning(
                "CAP feed %s: %s (failure %d, next try in %.0f s)",
                url,
                outcome.error,
                state.failures,
                self.delay_after(state.failures),
            )
        state.last_outcome = outcome
        return outcome

    async def _poll(self, state: _FeedState) -> FeedPollOutcome:
        try:
            fetched = await self._fetcher.fetch(state.url, state.validators)
        except FetchError as error:
            return FeedPollOutcome(state.url, ok=False, error=error.reason)
        delivered = 0
        skipped: list[str] = []
        digest = hashlib.sha256(fetched.data).digest() if fetched.data is not None else state.digest
        unchanged = fetched.not_modified or digest == state.digest  # servers without ETag resend the same
        if not unchanged and fetched.data is not None:
            result = read_cap(fetched.data, source=fetched.url, max_bytes=self._fetcher.max_bytes)
            if result.refusal is not None:
                return FeedPollOutcome(
                    state.url, ok=False, error=f"not usable as CAP: {result.refusal.message}"
                )
            if any(entry.link is None for entry in result.entries):  # embeds alerts (or rejected entries)
                await self._deliver(RawDocument(fetched.data, fetched.url))
                delivered += 1
            links = [link for link in result.links if link not in state.delivered_links]
            skipped = [link for link in links if not self._follow_link(link)]
            wanted = [link for link in links if self._follow_link(link)]
            state.pending_links = list(dict.fromkeys([*state.pending_links, *wanted]))
            state.delivered_links &= set(result.links)  # forget links the index no longer lists
        links_delivered, failed = await self._fetch_links(state)
        state.validators = fetched.validators
        state.digest = digest
        return FeedPollOutcome(
            state.url,
            ok=True,
            not_modified=unchanged,
            delivered=delivered + links_delivered,
            failed_links=tuple(failed),
            skipped_links=tuple(skipped),
        )

    async def _fetch_links(self, state: _FeedState) -> tuple[int, list[str]]:
        batch = state.pending_links[: self.max_links_per_poll]
        outcomes = await asyncio.gather(*(self._fetch_link(state.url, link) for link in batch))
        delivered = [link for link, ok in zip(batch, outcomes, strict=True) if ok]
        failed = [link for link, ok in zip(batch, outcomes, strict=True) if not ok]
        state.delivered_links.update(delivered)
        state.pending_links = [link for link in state.pending_links if link not in state.delivered_links]
        return len(delivered), failed

    async def _fetch_link(self, feed_url: str, link: str) -> bool:
        async with self._link_slots:
            try:
                fetched = await self._fetcher.fetch(link)
            except FetchError as error:
                logger.warning(
                    "CAP document %s linked from %s: %s; retried next poll", link, feed_url, error.reason
                )
                return False
        if fetched.data is None:
            return False
        try:
            await self._deliver(RawDocument(fetched.data, fetched.url, via=feed_url))
        except Exception:
            logger.exception("sink refused CAP document %s; offered again next poll", link)
            return False
        return True

    async def _deliver(self, document: RawDocument) -> None:
        async with self._sink_lock:
            await self._sink(document)
