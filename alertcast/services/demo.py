"""The demo: a whole exercise on a laptop, with nothing to set up and nothing real reached.

It builds a throw-away world in a temporary folder — a SQLite store, the sample address book and alerts,
the built-in SMSC simulator and two simulated GSM modems — and queues three drill broadcasts: a routine
road closure for every resident, then an Extreme chlorine alert for the people near the plant (which
overtakes it), and a call-out to fire and EMS staff that asks for acknowledgements. Simulated staff reply
through the SMSC and their replies are matched to the call-out (a stranger's is not). One resident's number
is refused by the network, so the fallback policy reaches her by e-mail instead. Every route is a drill
route, so nothing here can reach a real phone or mailbox.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import alertcast
from alertcast.config import Config
from alertcast.services.compose import ComposeRequest
from alertcast.services.contacts import ImportReport, import_contacts
from alertcast.services.context import AppContext
from alertcast.services.ingest import IngestReport, ingest
from alertcast.services.recipients import Targets
from alertcast.services.send import send
from alertcast.sim.modem import ModemBankSimulator, ModemSettings
from alertcast.sim.smsc import SmscConfig, SmscSimulator
from alertcast.store.db import create_db_engine

PROJECT_ROOT = Path(alertcast.__file__).resolve().parents[1]
SAMPLE_CONTACTS = PROJECT_ROOT / "contacts" / "sample-contacts.csv"
SAMPLE_ALERTS = PROJECT_ROOT / "sample_alerts"
SMSC_ACCOUNT = ("alertcast", "demo")
REFUSED_NUMBER = "+15755550121"
"""A resident (with an e-mail address) whose number the simulated network refuses: the fallback at work."""
DEMO_FALLBACK = [{"name": "sms-then-email", "steps": ["sms", "apprise"], "receipt_wait_minutes": 1}]


class DemoError(RuntimeError):
    """The demo's sample data cannot be found (e.g. the package was installed without the repository)."""


@dataclass
class DemoSetup:
    ctx: AppContext
    imports: list[ImportReport] = field(default_factory=list)
    ingested: IngestReport | None = None
    broadcasts: dict[str, int] = field(default_factory=dict)
    """Name in the story → broadcast id."""
    smsc: Any = None
    modems: ModemBankSimulator | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def close(self) -> None:
        self._stack.close()
        self.ctx.close()


def demo_routes(smsc_port: int, modem_ports: list[str]) -> list[dict[str, Any]]:
    """Drill routes only: the SMSC simulator and the modem bank share SMS; a drill sink takes the rest."""
    system_id, password = SMSC_ACCOUNT
    return [
        {
            "name": "smsc-sim",
            "type": "smpp",
            "kind": "sms",
            "drill": True,
            "live": False,
            "host": "127.0.0.1",
            "port": smsc_port,
            "system_id": system_id,
            "password": password,
            "source_addr": "ValleBrisa",
            "window": 20,
            "max_rate": 40.0,
        },
        {
            "name": "modem-bank-sim",
            "type": "modem",
            "kind": "sms",
            "drill": True,
            "live": False,
            "ports": modem_ports,
            "status_reports": True,
        },
        {"name": "apprise-drill", "type": "drill", "kind": "apprise", "latency": 0.2},
    ]


def _start_simulators(setup: DemoSetup) -> tuple[int, list[str]]:
    system_id, password = SMSC_ACCOUNT
    smsc = SmscSimulator(
        SmscConfig(
            accounts={system_id: password},
            throughput=60.0,
            receipt_delay=0.8,
            undeliverable_fraction=0.03,
            reject_prefixes=(REFUSED_NUMBER,),
        )
    )
    setup.smsc = setup._stack.enter_context(smsc.run_in_thread())
    modem = ModemSettings(send_delay=0.4, report_delay=0.6, failing_prefixes=(REFUSED_NUMBER,))
    modems = ModemBankSimulator(2, settings=modem)
    modems.start()
    setup._stack.callback(modems.stop)
    setup.modems = modems
    return setup.smsc.port, modems.port_paths


def prepare_demo(workdir: Path) -> DemoSetup:
    """Build the world in ``workdir`` and queue the demo's broadcasts; the engine is not started."""
    for needed in (SAMPLE_CONTACTS, SAMPLE_ALERTS):
        if not needed.exists():
            raise DemoError(f"{needed} not found; run the demo from a clone of the repository")
    url = f"sqlite:///{workdir / 'demo.db'}"
    setup = DemoSetup(AppContext(config=Config(db_url=url, operator="demo"), engine=create_db_engine(url)))
    try:
        smsc_port, modem_ports = _start_simulators(setup)
        setup.ctx.config = Config(
            db_url=url,
            operator="demo",
            sections={
                "routes": demo_routes(smsc_port, modem_ports),
                "compose": {"sender_name": "Valle Brisa County EM", "timezone": "America/Denver"},
                "engine": {
                    "backoff_base_seconds": 2.0,
                    "backoff_cap_seconds": 10.0,
                    "escalation_seconds": 0.5,
                },
                "fallback": DEMO_FALLBACK,
            },
        )
        setup.imports.append(import_contacts(setup.ctx, SAMPLE_CONTACTS))
        setup.ingested = ingest(setup.ctx, [str(SAMPLE_ALERTS)])
        ids = {r.identifier: r.alert_id for r in setup.ingested.records if r.result == "accepted"}
        road, chlorine = ids["VB-EM-2026-0006"], ids["VB-EM-2026-0004"]
        story = {
            "road closure (routine, all residents)": ComposeRequest(
                alert_id=road, targets=Targets(groups=("residents",)), drill=True, ack=False
            ),
            "chlorine release (critical, people near the plant)": ComposeRequest(
                alert_id=chlorine, targets=Targets(area_of=(chlorine,)), drill=True
            ),
            "staff call-out (fire + EMS, asks for ACK)": ComposeRequest(
                texts={"en": "All fire and EMS staff: report to the Santa Liora EOC now.",
                       "es": "Todo el personal de bomberos y EMS: preséntese ahora en el COE de Santa Liora."},
                targets=Targets(groups=("fire", "ems")),
                drill=True,
                priority="severe",
                ack=True,
            ),
        }  # fmt: skip
        for name, request in story.items():
            setup.broadcasts[name] = send(setup.ctx, request).broadcast_id
    except BaseException:
        setup.close()
        raise
    return setup


def reply_to_callout(setup: DemoSetup, share: float = 0.6) -> int:
    """Simulated staff answer the call-out through the SMSC, plus one stranger; returns replies sent."""
    from sqlalchemy import select

    from alertcast.store.models import Broadcast, Delivery

    broadcast_id = setup.broadcasts["staff call-out (fire + EMS, asks for ACK)"]
    with setup.ctx.session() as session:
        code = session.execute(select(Broadcast.ack_code).where(Broadcast.id == broadcast_id)).scalar()
        numbers = list(
            session.execute(
                select(Delivery.address).where(
                    Delivery.broadcast_id == broadcast_id,
                    Delivery.channel_kind == "sms",
                    Delivery.state.in_(("submitted", "delivered")),  # type: ignore[attr-defined]
                )
            ).scalars()
        )
    answering = numbers[: max(1, int(len(numbers) * share))]
    for i, number in enumerate(answering):
        text = f"ACK {code}" if i % 3 else f"ok {str(code).lower()}"
        setup.smsc.inject_mo(number.removeprefix("+"), "ValleBrisa", text)
    setup.smsc.inject_mo("15055550999", "ValleBrisa", f"ACK {code}")  # not a contact: must stay unmatched
    return len(answering) + 1


def run_headless(setup: DemoSetup, emit: Callable[[str], None], *, timeout: float = 120.0) -> dict[str, Any]:
    """Run the engine until every broadcast is finished, printing progress each second."""
    from alertcast.services.dispatch import RunOptions
    from alertcast.services.engine_host import EngineHost
    from alertcast.services.status import fallback_due, recent

    host = EngineHost(setup.ctx, RunOptions())
    host.start()
    replied = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            time.sleep(1.0)
            rows = recent(setup.ctx, limit=10)
            emit(" | ".join(_progress(r.counts) for r in reversed(rows)))
            if not replied and all(r.counts.states.get("queued", 0) == 0 for r in rows):
                emit(f"simulated staff reply: {reply_to_callout(setup)} SMS")
                replied = True
            settled = all(r.open == 0 and not r.counts.states.get("submitted") for r in rows)
            if replied and settled and fallback_due(setup.ctx) == 0:
                time.sleep(1.5)  # the last replies reach the engine
                break
    finally:
        host.stop()
    if host.error is not None:
        raise host.error
    return {"summary": host.summary, "statuses": recent(setup.ctx, limit=10), "ctx": setup.ctx}


def _progress(counts: Any) -> str:
    s = counts.states
    done = s.get("delivered", 0) + s.get("acknowledged", 0)
    return f"#{counts.id} {done}/{counts.deliveries} delivered, {s.get('failed', 0)} failed"
