"""Fetching CAP documents and feeds over http(s), defensively.

A feed server can be slow, huge, wrong or hostile; the fetcher bounds all of it: http and https only
(before and after redirects), a per-phase timeout plus an overall deadline (a server dripping one byte at a
time cannot hold a poll forever), and a size limit enforced while streaming, after decompression, so a
compressed bomb is cut off at the limit. Conditional requests (ETag / Last-Modified) let an unchanged feed
cost a 304 and nothing more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from alertcast.cap.found import FETCHABLE_SCHEMES
from alertcast.cap.guard import DEFAULT_MAX_BYTES

ACCEPT = (
    "application/cap+xml, application/atom+xml, application/rss+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.1"
)


@dataclass(frozen=True, slots=True)
class Validators:
    """What the server said identifies this version of a resource, for the next conditional request."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    """Final URL after redirects: the base for the document's relative links."""
    not_modified: bool
    data: bytes | None
    validators: Validators
    content_type: str | None = None


class FetchError(Exception):
    """A fetch failed; ``reason`` says how, in words fit for a log line."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class CapFetcher:
    """One pooled httpx client for all fetches; use as ``async with CapFetcher() as fetcher``."""

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        total_timeout: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = 5,
        user_agent: str = "alertcast-cap-fetcher",
        trust_env: bool = True,
    ) -> None:
        self.max_bytes = max_bytes
        self.total_timeout = total_timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            max_redirects=max_redirects,
            headers={"User-Agent": user_agent, "Accept": ACCEPT},
            trust_env=trust_env,
        )

    async def __aenter__(self) -> CapFetcher:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, validators: Validators | None = None) -> FetchResult:
        """GET ``url``; a 304 answer gives ``not_modified=True`` and no data. Raises :class:`FetchError`."""
        if urlsplit(url).scheme.lower() not in FETCHABLE_SCHEMES:
            raise FetchError(url, "only http and https URLs are fetched")
        headers = {}
        if validators is not None and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators is not None and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._get(url, headers, validators or Validators())
        except TimeoutError:
            raise FetchError(url, f"no complete response within {self.total_timeout:g} s") from None
        except httpx.TimeoutException as error:
            raise FetchError(url, f"timed out ({type(error).__name__})") from None
        except httpx.HTTPError as error:
            raise FetchError(url, f"{type(error).__name__}: {error}") from None

    async def _get(self, url: str, headers: dict[str, str], previous: Validators) -> FetchResult:
        async with self._client.stream("GET", url, headers=headers) as response:
            final_url = str(response.url)
            if response.status_code == 304:
                return FetchResult(final_url, True, None, _validators(response, previous))
            if not response.is_success or response.status_code == 204:
                raise FetchError(url, f"HTTP {response.status_code} {response.reason_phrase}".strip())
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchError(
                    url, f"response of {int(declared):,} bytes exceeds the {self.max_bytes:,}-byte limit"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError(
                        url, f"response exceeds the {self.max_bytes:,}-byte limit; download stopped"
                    )
                chunks.append(chunk)
            return FetchResult(
                final_url,
                False,
                b"".join(chunks),
                _validators(response, Validators()),
                response.headers.get("Content-Type"),
            )


def _validators(response: httpx.Response, previous: Validators) -> Validators:
    return Validators(
        etag=response.headers.get("ETag", previous.etag),
        last_modified=response.headers.get("Last-Modified", previous.last_modified),
    )
