"""A small town for the fallback and acknowledgement tests, wired as an operator would wire it.

Real transports on 127.0.0.1 only: the simulated SMSC (SMPP), an aiosmtpd mail server, an HTTP server
taking JSON web hooks, and, where a test asks for it, simulated GSM modems on pseudo-terminals. The
configuration is an ``alertcast.toml`` file read by ``load_config``; broadcasts go through compose and send;
the engine runs in an ``EngineHost`` as in the console. Every wait is bounded and polls a condition.
"""

from __future__ import annotations

import contextlib
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlmodel import Session

from alertcast.config import load_config
from alertcast.services.compose import ComposeRequest
from alertcast.services.context import AppContext
from alertcast.services.dispatch import RunOptions
from alertcast.services.engine_host import EngineHost
from alertcast.services.recipients import Targets
from alertcast.services.send import send
from alertcast.sim.smsc import SmscConfig, SmscSimulator
from alertcast.store.db import create_db_engine
from alertcast.store.models import Ack, Broadcast, Contact, Delivery
from tests.http_sink import HttpSink
from tests.smtp_server import SmtpServer

T = TypeVar("T")
ACCOUNT = ("alertcast", "town")

FAST_ENGINE = {
    "idle_poll_seconds": 0.02,
    "flush_seconds": 0.01,
    "cancel_poll_seconds": 0.1,
    "housekeeping_seconds": 0.2,
    "progress_seconds": 0.2,
    "escalation_seconds": 0.2,
    "backoff_base_seconds": 0.2,
    "backoff_cap_seconds": 0.5,
}


def until(predicate: Callable[[], T], limit: float, what: str) -> T:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``limit`` s."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        time.sleep(0.05)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def toml_text(sections: dict[str, Any]) -> str:
    """Enough TOML for the tests' configurations: tables, arrays of tables, inline sub-tables."""
    lines: list[str] = []
    for name, value in sections.items():
        if isinstance(value, list):
            for item in value:
                lines.append(f"[[{name}]]")
                lines.extend(f"{k} = {toml_value(v)}" for k, v in item.items())
        elif isinstance(value, dict):
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {toml_value(v)}" for k, v in value.items())
        else:
            lines.insert(0, f"{name} = {toml_value(value)}")
        lines.append("")
    text = "\n".join(lines)
    tomllib.loads(text)  # the file must be valid TOML, as an operator's would be
    return text


@dataclass
class Town:
    ctx: AppContext
    smsc: Any
    smtp: SmtpServer
    hooks: HttpSink
    people: dict[str, int] = field(default_factory=dict)
    host: EngineHost | None = None
    events: list[Any] = field(default_factory=list)
    """Every event the engine published (appended on the engine's thread)."""

    # -- people and broadcasts ------------------------------------------------------------------------
    def add(self, name: str, *, phone: str | None = None, email: str | None = None, urls: Sequence[str] = ()) -> int:  # fmt: skip
        with Session(self.ctx.engine) as session:
            contact = Contact(name=name, phone=phone, email=email, apprise_urls=list(urls))
            session.add(contact)
            session.commit()
            assert contact.id is not None
            self.people[name] = contact.id
            return contact.id

    def send(self, *names: str, priority: str = "high", ack: bool = False, drill: bool = False, text: str = "Boil water before drinking it.") -> int:  # fmt: skip
        request = ComposeRequest(
            texts={"en": text},
            targets=Targets(contacts=tuple(str(self.people[n]) for n in names)),
            priority=priority,
            ack=ack,
            drill=drill,
        )
        return send(self.ctx, request).broadcast_id

    # -- the engine ----------------------------------------------------------------------------------
    def start(self) -> EngineHost:
        self.host = EngineHost(self.ctx, RunOptions(), on_event=self.events.append)
        self.host.start()
        until(lambda: self.host is not None and (self.host.running or self.host.error), 10, "the engine")
        return self.host

    def stop(self) -> Any:
        host, self.host = self.host, None
        if host is None:
            return None
        summary = host.stop()
        if host.error is not None:
            raise host.error
        return summary

    # -- what the store says -------------------------------------------------------------------------
    def deliveries(self, broadcast_id: int, name: str | None = None) -> list[Delivery]:
        query = select(Delivery).where(Delivery.broadcast_id == broadcast_id).order_by(Delivery.id)  # type: ignore[arg-type]
        if name is not None:
            query = query.where(Delivery.contact_id == self.people[name])  # type: ignore[arg-type]
        with Session(self.ctx.engine) as session:
            return list(session.execute(query).scalars())

    def code(self, broadcast_id: int) -> str:
        with Session(self.ctx.engine) as session:
            code = session.execute(select(Broadcast.ack_code).where(Broadcast.id == broadcast_id)).scalar()
        assert code, f"broadcast {broadcast_id} has no ack code"
        return code

    def acks(self) -> list[Ack]:
        with Session(self.ctx.engine) as session:
            return list(session.execute(select(Ack).order_by(Ack.id)).scalars())  # type: ignore[arg-type]

    def path(self, broadcast_id: int, name: str) -> list[tuple[int, str, str, str]]:
        """A person's chain: (step, kind, address, state) in order."""
        return [(d.step, d.channel_kind, d.address, d.state) for d in self.deliveries(broadcast_id, name)]


def town_config(
    smsc_port: int, smtp_port: int, *, fallback: list[dict[str, Any]], extra_routes: Sequence[dict[str, Any]] = (),
    mail_drill: bool = True, **sections: Any,
) -> dict[str, Any]:  # fmt: skip
    system_id, password = ACCOUNT
    routes = [
        {
            "name": "operator", "type": "smpp", "kind": "sms", "host": "127.0.0.1", "port": smsc_port,
            "system_id": system_id, "password": password, "source_addr": "TownEM", "window": 10,
            "max_rate": 200.0, "drill": True,
        },
        {
            "name": "mail", "type": "apprise", "kind": "apprise", "drill": mail_drill, "timeout": 10,
            "allow_private_networks": ["127.0.0.0/8"],
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "alerts@town.example", "tls": "none"},
        },
        *extra_routes,
    ]  # fmt: skip
    return {"engine": FAST_ENGINE, "routes": routes, "fallback": fallback, **sections}


@contextlib.contextmanager
def town(
    tmp_path: Path,
    *,
    fallback: list[dict[str, Any]],
    smsc: SmscConfig | None = None,
    extra_routes: Sequence[dict[str, Any]] = (),
    mail_drill: bool = True,
    **sections: Any,
) -> Iterator[Town]:
    """Servers up, configuration written and loaded, store created; everything closed afterwards."""
    system_id, password = ACCOUNT
    config = smsc or SmscConfig(receipt_delay=0.05)
    config.accounts = {system_id: password}
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(SmscSimulator(config).run_in_thread())
        smtp = stack.enter_context(SmtpServer())
        hooks = stack.enter_context(HttpSink())
        path = tmp_path / "alertcast.toml"
        url = f"sqlite:///{tmp_path / 'town.db'}"
        body = town_config(
            sim.port,
            smtp.port,
            fallback=fallback,
            extra_routes=extra_routes,
            mail_drill=mail_drill,
            **sections,
        )
        path.write_text(toml_text({"operator": "duty", "store": {"url": url}, **body}), encoding="utf-8")
        cfg = load_config(path, environ={})
        ctx = AppContext(config=cfg, engine=create_db_engine(cfg.db_url))
        world = Town(ctx, sim, smtp, hooks)
        try:
            yield world
        finally:
            with contextlib.suppress(Exception):
                world.stop()
            ctx.close()
