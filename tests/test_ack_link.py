"""The ack link server over real HTTP on 127.0.0.1: a GET only shows the page, a POST acknowledges, and
nothing about unknown tokens leaks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import Session

from alertcast.config import Config, ConfigError
from alertcast.engine.ack_link import AckLinkServer, AckLinkSettings, start_ack_link_server
from alertcast.store.ack_links import assign_link_tokens, parse_token
from alertcast.store.db import create_db_engine
from alertcast.store.models import Ack, Contact, Delivery
from alertcast.store.outbox import create_broadcast
from alertcast.store.outbox_types import BroadcastSpec, MessageText, Recipient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def tokens(engine: Engine) -> list[str]:
    """Two people sent a broadcast titled 'Boil water <notice>' (the title tests HTML escaping)."""
    with Session(engine) as session:
        people = [Contact(name=n, email=f"{n}@example.org") for n in ("ana", "ben")]
        session.add_all(people)
        session.flush()
        spec = BroadcastSpec(
            operator="tester",
            title="Boil water <notice>",
            messages={"en": MessageText("Boil water. Reply ACK 7F3K", "Boil water <notice>", "Body")},
            recipients=[Recipient(p.id, p.email or "", "apprise") for p in people],
            ack_requested=True,
            ack_code="7F3K",
        )
        broadcast_id = create_broadcast(session, spec)
        session.commit()
    links = assign_link_tokens(engine, broadcast_id)
    with engine.begin() as connection:
        connection.execute(update(Delivery).values(state="delivered", attempts=1))
    return [links[i] for i in sorted(links)]


@pytest.fixture
async def server(engine: Engine) -> AsyncIterator[AckLinkServer]:
    running = await start_ack_link_server(
        engine, "127.0.0.1", 0, requests_per_minute=60, burst=20, read_timeout=1.0
    )
    yield running
    await running.close()


@pytest.fixture
async def client(server: AckLinkServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as http:
        yield http


def acks(engine: Engine) -> list[Ack]:
    with Session(engine) as session:
        return list(session.execute(select(Ack)).scalars())


def state_of(engine: Engine, token: str) -> str:
    parsed = parse_token(token)
    assert parsed is not None
    with Session(engine) as session:
        delivery = session.get(Delivery, parsed[0])
        assert delivery is not None
        return delivery.state


async def test_a_get_shows_the_page_and_records_nothing(
    client: httpx.AsyncClient, engine: Engine, tokens: list[str]
) -> None:
    for _ in range(3):  # a mail scanner, a link preview, the person
        page = await client.get(f"/a/{tokens[0]}")
        assert page.status_code == 200
    assert "Boil water &lt;notice&gt;" in page.text and "<notice>" not in page.text
    assert f'<form method="post" action="/a/{tokens[0]}">' in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert acks(engine) == [] and state_of(engine, tokens[0]) == "delivered"


async def test_a_post_acknowledges_once(client: httpx.AsyncClient, engine: Engine, tokens: list[str]) -> None:
    first = await client.post(f"/a/{tokens[0]}")
    again = await client.post(f"/a/{tokens[0]}")
    assert first.status_code == again.status_code == 200 and "Thank you" in first.text
    [ack] = acks(engine)
    assert ack.matched and ack.channel == "link" and ack.sender == "ana@example.org"
    assert state_of(engine, tokens[0]) == "acknowledged" and state_of(engine, tokens[1]) == "delivered"
    page = await client.get(f"/a/{tokens[0]}")
    assert "already confirmed" in page.text and "<form" not in page.text


async def test_bad_tokens_all_look_the_same(
    client: httpx.AsyncClient, engine: Engine, tokens: list[str]
) -> None:
    _, secret = parse_token(tokens[0]) or (0, "")
    forged = [
        f"/a/{tokens[1].split('.')[0]}.{secret}",  # a real id with another delivery's secret
        f"/a/{tokens[0][:-2]}xx",
        f"/a/zzzzzz.{secret}",
        "/a/nonsense",
        "/a/",
        "/",
        "/admin",
    ]
    bodies = set()
    for path in forged:
        for method in ("GET", "POST"):
            answer = await client.request(method, path)
            assert answer.status_code == 404, (method, path)
            bodies.add(answer.text)
    assert len(bodies) == 1 and acks(engine) == []
    assert (await client.put(f"/a/{tokens[0]}")).status_code == 405
    head = await client.head(f"/a/{tokens[0]}")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0


async def test_each_client_is_rate_limited(engine: Engine, tokens: list[str]) -> None:
    server = await start_ack_link_server(engine, "127.0.0.1", 0, requests_per_minute=1, burst=3)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as http:
            codes = [(await http.get(f"/a/{tokens[0]}")).status_code for _ in range(5)]
            limited = await http.post(f"/a/{tokens[0]}")
        assert codes == [200, 200, 200, 429, 429]
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert acks(engine) == [] and server.limited == 3
    finally:
        await server.close()


async def test_slow_or_oversized_requests_are_cut_off(server: AckLinkServer, tokens: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /a/")  # and then nothing: the server gives up after read_timeout (1 s)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        assert answer.startswith(b"HTTP/1.1 400 ")
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /a/" + b"x" * 10_000 + b" HTTP/1.1\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        assert answer.startswith(b"HTTP/1.1 400 ")
    finally:
        writer.close()
        with suppress(ConnectionError):  # the server may reset a connection it refused to read
            await writer.wait_closed()


def test_settings_and_link_building(tmp_path: Path) -> None:
    def config(raw: dict[str, object]) -> Config:
        return Config(path=tmp_path / "alertcast.toml", sections={"ack_links": raw})

    off = AckLinkSettings.from_config(config({}))
    assert not off.enabled and off.link_for(5, "secretsecretsecret") is None
    assert off.body_with_link("Body", 5, "secretsecretsecret") == "Body"
    on = AckLinkSettings.from_config(config({"enabled": True, "base_url": "https://alerts.example.org/"}))
    link = on.link_for(36, "AbCdEfGhIjKlMnOp")
    assert link == "https://alerts.example.org/a/10.AbCdEfGhIjKlMnOp"
    assert on.body_with_link("Body", 36, "AbCdEfGhIjKlMnOp", "fr").endswith(f"ce message : {link}")
    assert on.body_with_link("Body", 36, None) == "Body"
    for raw, needle in [
        ({"enabled": True}, "ack_links.base_url"),
        ({"enabled": True, "base_url": "alerts.example.org"}, "ack_links.base_url"),
        ({"port": 70000}, "ack_links.port"),
        ({"requests_per_minute": 0}, "ack_links.requests_per_minute"),
        ({"enable": True}, "unknown key(s) enable"),
    ]:
        with pytest.raises(
            ConfigError, match=needle.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")
        ):
            AckLinkSettings.from_config(config(raw))
