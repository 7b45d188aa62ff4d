"""The modem bank channel against the modem simulator on real pseudo-terminals.

Send delays are milliseconds so a run of hundreds of messages takes well under a second; every wait is
bounded and polls for a condition rather than sleeping for a guessed time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from alertcast.channels.base import InboundMessage, OutboundMessage, Outcome, Receipt, RouteState, SendResult
from alertcast.channels.modem_bank import ModemBank
from alertcast.channels.modem_config import ModemBankConfig, ModemConfig, ModemConfigError
from alertcast.channels.modem_errors import classify
from alertcast.sim.modem import ModemBankSimulator, ModemSettings

FAST = ModemConfig(
    registration_timeout=1.0,
    health_interval=0.3,
    reopen_interval=0.1,
    command_timeout=2.0,
    prompt_timeout=2.0,
    send_timeout=5.0,
    stop_grace=0.5,
    part_retry_delay=0.01,
    fault_cooldown=0.3,
)
QUICK_MODEM = ModemSettings(send_delay=0.005, report_delay=0.01)


class Harness:
    """Stands in for the engine: records what the channel reports, on the loop thread."""

    def __init__(self) -> None:
        self.results: list[SendResult] = []
        self.receipts: list[Receipt] = []
        self.inbound: list[InboundMessage] = []
        self.states: list[RouteState] = []

    def on_results(self, channel: str, results: Sequence[SendResult]) -> None:
        self.results.extend(results)

    def on_receipts(self, receipts: Sequence[Receipt]) -> None:
        self.receipts.extend(receipts)

    def on_inbound(self, messages: Sequence[InboundMessage]) -> None:
        self.inbound.extend(messages)

    def on_state(self, channel: str, state: RouteState) -> None:
        self.states.append(state)

    def final(self) -> dict[int, SendResult]:
        return {r.delivery_id: r for r in self.results if r.outcome is not Outcome.REQUEUE}


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def deliver_all(
    bank: ModemBank,
    harness: Harness,
    messages: list[OutboundMessage],
    within: float = 20.0,
    during: Callable[[int], None] | None = None,
) -> None:
    """Feed messages as capacity allows and resend REQUEUEd ones, until each has a final result."""
    by_id = {m.delivery_id: m for m in messages}
    pending = list(messages)
    seen = len(harness.results)
    deadline = time.monotonic() + within

    def finished() -> int:
        final = harness.final()
        return sum(1 for delivery in by_id if delivery in final)

    while finished() < len(messages):
        if time.monotonic() > deadline:
            raise AssertionError(f"only {finished()} of {len(messages)} finished")
        for result in harness.results[seen:]:
            if result.outcome is Outcome.REQUEUE:
                pending.append(by_id[result.delivery_id])
        seen = len(harness.results)
        free = bank.capacity()
        if free and pending:
            batch, pending = pending[:free], pending[free:]
            bank.send(batch)
        if during is not None:
            during(finished())
        await asyncio.sleep(0.002)


def bank_for(sim: ModemBankSimulator, modem: ModemConfig = FAST, **bank: object) -> ModemBank:
    config = ModemBankConfig(ports=(str(sim.folder / "sim-modem-*"),), modem=modem, rescan_interval=0.2)
    return ModemBank("modems", replace(config, **bank))  # type: ignore[arg-type]


def messages(
    count: int, text: Callable[[int], str] = lambda i: f"Flood warning {i}: move to high ground"
) -> list:
    return [OutboundMessage(i, f"+4477009{i:05d}", text(i)) for i in range(count)]


async def test_two_hundred_messages_spread_over_four_modems_with_noise() -> None:
    with ModemBankSimulator(4, settings=replace(QUICK_MODEM, noise=0.3), seed=1) as sim:
        bank, harness = bank_for(sim), Harness()
        await bank.start(harness)
        assert bank.state.up and bank.capacity() == 8
        batch = messages(200)
        await deliver_all(bank, harness, batch)
        await bank.stop()
        stats = sim.stats()
    final = harness.final()
    assert Counter(r.outcome for r in final.values()) == {Outcome.SUBMITTED: 200}
    assert len({r.provider_id for r in final.values()}) == 200
    assert stats.sent == 200 and stats.duplicates == 0 and stats.bad_pdus == 0
    assert {(m.number, m.text) for m in stats.messages} == {(m.address, m.text) for m in batch}
    shares = Counter(m.modem for m in stats.messages)
    assert set(shares) == {0, 1, 2, 3}
    assert all(30 <= share <= 70 for share in shares.values()), shares


async def test_pdu_encoding_is_verified_by_decoding_at_the_modem() -> None:
    long_gsm = "Evacuate zone [A] {north} now €5 fare waived | " * 6  # 300 chars, extension characters
    ucs2 = "Внимание: наводнение. 洪水警報。Move to high ground ✅"
    batch = [
        OutboundMessage(1, "+447700900001", long_gsm),
        OutboundMessage(2, "+447700900002", ucs2),
        OutboundMessage(3, "07700900003", "national number, plain GSM"),
        OutboundMessage(4, "+447700900004", ucs2 * 3),
    ]
    with ModemBankSimulator(2, settings=QUICK_MODEM) as sim:
        bank, harness = bank_for(sim), Harness()
        await bank.start(harness)
        await deliver_all(bank, harness, batch)
        await bank.stop()
        stats = sim.stats()
    got = {m.number: m for m in stats.messages}
    assert got["+447700900001"].text == long_gsm and got["+447700900001"].encoding == "gsm7"
    assert got["+447700900001"].parts == harness.final()[1].parts == 3
    assert got["+447700900002"].text == ucs2 and got["+447700900002"].encoding == "ucs2"
    assert got["07700900003"].text == "national number, plain GSM"
    assert got["+447700900004"].text == ucs2 * 3 and got["+447700900004"].parts == 3
    assert all(m.status_report_requested for m in stats.messages)
    assert stats.incomplete_messages == 0 and stats.bad_pdus == 0


async def test_text_mode_sends_gsm_text_and_refuses_what_it_cannot_type() -> None:
    batch = [
        OutboundMessage(1, "+447700900001", "Boil water notice @ 10:00\nuse bottled water_"),
        OutboundMessage(2, "+447700900002", "Fare waived: 5€"),
        OutboundMessage(3, "+447700900003", "Gefahr für Leib und Leben ✅"),
        OutboundMessage(4, "+447700900004", "x" * 200),
    ]
    with ModemBankSimulator(1, settings=QUICK_MODEM) as sim:
        bank, harness = bank_for(sim, replace(FAST, mode="text")), Harness()
        await bank.start(harness)
        await deliver_all(bank, harness, batch)
        sim.inject_sms(0, "+447700900001", "OK got it")  # replies are read in PDU mode, then back to text
        await until(lambda: len(harness.inbound) == 1)
        await until(lambda: len(harness.receipts) == 1)
        await bank.stop()
        stats = sim.stats()
    final = harness.final()
    assert final[1].outcome is Outcome.SUBMITTED
    assert [(m.number, m.text, m.encoding) for m in stats.messages] == [
        ("+447700900001", "Boil water notice @ 10:00\nuse bottled water_", "text")
    ]
    for delivery, words in ((2, "'€'"), (3, "UCS-2"), (4, "needs 2")):
        assert final[delivery].outcome is Outcome.FAILED
        assert words in (final[delivery].error or "") and 'mode = "pdu"' in (final[delivery].error or "")
    assert harness.inbound[0].text == "OK got it"
    assert harness.receipts[0].provider_ids == (final[1].provider_id,)


async def test_unplugged_modem_loses_nothing_and_comes_back_after_replug() -> None:
    settings = replace(QUICK_MODEM, send_delay=0.01)
    with ModemBankSimulator(4, settings=settings, seed=3) as sim:
        bank, harness = bank_for(sim), Harness()
        await bank.start(harness)
        unplugged = False

        port = sim.port_paths[2]

        def pull(done: int) -> None:
            nonlocal unplugged
            # Pulled while it holds two messages, so at least one is certainly still in its hands.
            holding = any(m.port == port and m.held == 2 for m in bank.modems())
            if done >= 40 and holding and not unplugged:
                sim.unplug(2)
                unplugged = True

        batch = messages(160)
        await deliver_all(bank, harness, batch, during=pull)
        assert unplugged
        down = next(m for m in bank.modems() if m.port == port)
        assert not down.in_service and "port" in down.reason
        requeued = [r for r in harness.results if r.outcome is Outcome.REQUEUE]
        assert requeued, "the pulled modem held work that must have been handed back"
        assert all("sim-modem-2" in (r.error or "") for r in requeued)

        sent_before = sim.stats(2).parts_sent
        sim.replug(2)
        await until(lambda: any(m.port == port and m.in_service for m in bank.modems()))
        more = [OutboundMessage(1000 + i, f"+4477119{i:05d}", f"after replug {i}") for i in range(40)]
        await deliver_all(bank, harness, more)
        await bank.stop()
        stats = sim.stats()
        assert sim.stats(2).parts_sent > sent_before
    final = harness.final()
    assert all(final[m.delivery_id].outcome is Outcome.SUBMITTED for m in batch + more)
    assert {m.address for m in batch + more} <= stats.destinations
    # A message can only reach a phone twice if the bank said it might have.
    flagged = {r.delivery_id for r in requeued if r.possible_duplicate}
    counts = Counter(m.number for m in stats.messages)
    duplicated = {m.delivery_id for m in batch if counts[m.address] > 1}
    assert duplicated <= flagged


async def test_replies_and_status_reports_reach_the_engine() -> None:
    settings = replace(QUICK_MODEM, failing_prefixes=("+4477009999",), noise=0.3)
    with ModemBankSimulator(2, settings=settings) as sim:
        bank, harness = bank_for(sim), Harness()
        await bank.start(harness)
        batch = [
            OutboundMessage(1, "+447700900001", "Short alert"),
            OutboundMessage(2, "+447700999901", "Goes nowhere"),
            OutboundMessage(3, "+447700900003", "Long alert " * 30),
        ]
        await deliver_all(bank, harness, batch)
        await until(lambda: len(harness.receipts) == 3)
        sim.inject_sms(0, "+447700900001", "YES safe")
        sim.inject_sms(1, "+447700900003", "Received, we are leaving now. " * 8)  # 3 parts
        await until(lambda: len(harness.inbound) == 2)
        await bank.stop()
    final = harness.final()
    receipts = {r.provider_ids[0]: r for r in harness.receipts}
    assert receipts[final[1].provider_id].delivered
    assert not receipts[final[2].provider_id].delivered
    assert "validity period expired" in (receipts[final[2].provider_id].error or "")
    assert receipts[final[3].provider_id].delivered and final[3].parts == 3
    assert len(harness.receipts) == 3, "the three parts' reports make one receipt"
    replies = {m.sender: m.text for m in harness.inbound}
    assert replies == {"+447700900001": "YES safe", "+447700900003": "Received, we are leaving now. " * 8}
    assert all(m.channel == "modems" for m in harness.inbound)


async def test_replies_stored_while_nobody_listened_are_picked_up_at_start() -> None:
    with ModemBankSimulator(1, settings=QUICK_MODEM) as sim:
        sim.inject_sms(0, "+447700900042", "sent while the console was down")
        bank, harness = bank_for(sim), Harness()
        await bank.start(harness)
        await until(lambda: len(harness.inbound) == 1)
        await until(lambda: not sim.stored(0))
        await bank.stop()
    assert harness.inbound[0].text == "sent while the console was down"


@pytest.mark.parametrize(
    ("settings", "pin", "reason"),
    [
        (replace(QUICK_MODEM, pin="1234"), "9999", "SIM PIN refused (+CME ERROR: 16 (incorrect password))"),
        (replace(QUICK_MODEM, pin="1234"), None, "SIM asks for its PIN and no sim_pin is configured"),
        (
            replace(QUICK_MODEM, sim_error=13),
            None,
            "SIM check (AT+CPIN?) failed: +CME ERROR: 13 (SIM failure)",
        ),
        (replace(QUICK_MODEM, registration=2), None, "not registered on the network (+CREG status 2"),
        (replace(QUICK_MODEM, registration=3), None, "registration denied"),
    ],
)
async def test_a_modem_that_cannot_serve_says_why(
    settings: ModemSettings, pin: str | None, reason: str
) -> None:
    with ModemBankSimulator(1, settings=settings) as sim:
        bank, harness = bank_for(sim, replace(FAST, sim_pin=pin, registration_timeout=0.3)), Harness()
        await bank.start(harness)
        assert not bank.state.up
        assert reason in bank.state.reason and "sim-modem-0" in bank.state.reason
        assert bank.capacity() == 0
        await asyncio.sleep(0.5)  # several retry periods: a refused PIN must not be tried again
        await bank.stop()
        assert sim.pin_attempts_left(0) >= 2


async def test_an_initialisation_command_the_modem_refuses_is_named() -> None:
    with ModemBankSimulator(1, settings=QUICK_MODEM) as sim:
        bank, harness = bank_for(sim, replace(FAST, cnmi="2,1,0,3,0")), Harness()
        await bank.start(harness)
        assert "AT+CNMI=2,1,0,3,0 refused (+CMS ERROR: 303 (operation not supported))" in bank.state.reason
        await bank.stop()


async def test_right_pin_unlocks_and_registration_loss_takes_a_modem_out() -> None:
    with ModemBankSimulator(2, settings=replace(QUICK_MODEM, pin="1234")) as sim:
        bank, harness = bank_for(sim, replace(FAST, sim_pin="1234")), Harness()
        await bank.start(harness)
        assert bank.state.up and bank.capacity() == 4
        sim.configure(0, registration=2)
        await until(lambda: bank.capacity() == 2)
        sim.configure(1, registration=0)
        await until(lambda: not bank.state.up)
        assert "lost network registration" in bank.state.reason
        sim.configure_all(registration=1)
        await until(lambda: bank.capacity() == 4)
        await bank.stop()


async def test_error_codes_map_to_outcomes_and_a_modem_fault_takes_it_out() -> None:
    with ModemBankSimulator(1, settings=QUICK_MODEM) as sim:
        bank, harness = bank_for(sim), Harness()
        await bank.start(harness)
        for code in (1, 42, 331):
            sim.fail_next(0, code)
        await deliver_all(bank, harness, messages(3))
        final = harness.final()
        assert [final[i].outcome for i in range(3)] == [Outcome.FAILED, Outcome.RETRY, Outcome.RETRY]
        assert "unassigned (unallocated) number" in (final[0].error or "")
        assert "congestion" in (final[1].error or "")
        assert "no network service" in (final[2].error or "")
        await until(lambda: not bank.state.up)
        await until(lambda: bank.state.up)  # cooldown over, health check passes
        await bank.stop()


async def test_a_later_part_failing_for_a_moment_is_retried_in_place() -> None:
    with ModemBankSimulator(1, settings=QUICK_MODEM) as sim:
        bank, harness = bank_for(sim), Harness()
        await bank.start(harness)
        sim.fail_next(0, 42, after=1)  # the first part goes, the second meets congestion once
        await deliver_all(bank, harness, [OutboundMessage(1, "+447700900001", "Long alert " * 30)])
        await bank.stop()
        stats = sim.stats()
    assert harness.final()[1].outcome is Outcome.SUBMITTED
    assert stats.sent == 1 and stats.messages[0].text == "Long alert " * 30 and stats.send_errors == 1


async def test_a_modem_that_hangs_is_taken_out_and_its_messages_handed_back() -> None:
    quick_timeouts = replace(
        FAST, command_timeout=0.3, prompt_timeout=0.3, send_timeout=0.4, health_interval=0.1
    )
    with ModemBankSimulator(2, settings=replace(QUICK_MODEM, send_delay=0.2)) as sim:
        bank, harness = bank_for(sim, quick_timeouts), Harness()
        await bank.start(harness)
        bank.send(messages(2))
        await until(lambda: sim.busy_modems() == 2)
        sim.configure(0, mute=True)  # hangs after Ctrl-Z: its answer never comes
        await until(lambda: any(r.outcome is Outcome.REQUEUE for r in harness.results))
        hung = next(r for r in harness.results if r.outcome is Outcome.REQUEUE)
        assert hung.possible_duplicate and "no answer in time" in (hung.error or "")
        await until(lambda: bank.capacity() == 2)  # only the other modem is left
        reason = next(m.reason for m in bank.modems() if not m.in_service)
        assert "stopped answering" in reason or "not answering" in reason
        sim.configure(0, mute=False)
        await until(lambda: bank.capacity() == 4)
        await bank.stop()


async def test_per_modem_rate_spaces_the_sends() -> None:
    with ModemBankSimulator(1, settings=QUICK_MODEM) as sim:
        bank, harness = bank_for(sim, replace(FAST, rate_per_minute=600.0)), Harness()  # one per 0.1 s
        await bank.start(harness)
        started = time.monotonic()
        await deliver_all(bank, harness, messages(4))
        elapsed = time.monotonic() - started
        await bank.stop()
    # Three gaps of at least 0.1 s; only a lower bound, so a slow machine cannot fail it.
    assert elapsed >= 0.3


async def test_stop_hands_back_everything_held() -> None:
    with ModemBankSimulator(2, settings=replace(QUICK_MODEM, send_delay=5.0)) as sim:
        bank, harness = bank_for(sim, replace(FAST, stop_grace=0.05)), Harness()
        await bank.start(harness)
        batch = messages(4)
        bank.send(batch)
        await until(lambda: sim.busy_modems() == 2)
        await bank.stop()
    assert sorted(r.delivery_id for r in harness.results) == [0, 1, 2, 3]
    assert all(r.outcome is Outcome.REQUEUE for r in harness.results)
    assert sum(r.possible_duplicate for r in harness.results) == 2  # the two past Ctrl-Z
    assert harness.states[-1] == RouteState(False, "stopped")


async def test_a_bank_with_no_port_is_down_and_finds_a_modem_that_appears(tmp_path: Path) -> None:
    with ModemBankSimulator(1, settings=QUICK_MODEM, folder=tmp_path / "later") as sim:
        sim.unplug(0)
        bank = bank_for(sim)
        harness = Harness()
        await bank.start(harness)
        assert not bank.state.up and "no modem port matches" in bank.state.reason
        sim.replug(0)
        await until(lambda: bank.state.up)
        await bank.stop()


def test_config_errors_name_the_key() -> None:
    ok = ModemBankConfig.from_mapping(
        {"ports": ["/dev/serial/by-id/*"], "mode": "text", "baud": 9600}, sim_pin="0042"
    )
    assert ok.modem.mode == "text" and ok.modem.baud == 9600 and ok.modem.sim_pin == "0042"
    assert "sim_pin" not in repr(ok.modem)
    cases = [
        ({}, "[channels.modems].ports"),
        ({"ports": ["/dev/x"], "baud": "fast"}, "[channels.modems].baud: expected int, got 'fast'"),
        ({"ports": ["/dev/x"], "mode": "binary"}, "[channels.modems].mode"),
        ({"ports": ["/dev/x"], "speed": 1}, "unknown key 'speed'"),
        ({"ports": ["/dev/x"], "cnmi": "2,x"}, "[channels.modems].cnmi"),
        ({"ports": ["/dev/x"], "send_timeout": 0}, "[channels.modems].send_timeout: must be greater than 0"),
    ]
    with pytest.raises(ModemConfigError, match="SIM PIN must be 4 to 8 digits"):
        ModemBankConfig.from_mapping({"ports": ["/dev/x"]}, sim_pin='12"34')
    for data, words in cases:
        with pytest.raises(ModemConfigError, match=None) as caught:
            ModemBankConfig.from_mapping(data)
        assert words in str(caught.value)


def test_error_table_sorts_codes() -> None:
    assert classify("+CMS ERROR: 1").kind == "permanent"
    assert classify("+CMS ERROR: 42").kind == "temporary"
    assert classify("+CMS ERROR: 331").kind == "modem"
    assert classify(f"+CMS ERROR: {0x91}").kind == "permanent"
    assert classify("+CMS ERROR: 600").kind == "temporary"
    assert classify("+CME ERROR: 16").reason == "+CME ERROR: 16 (incorrect password)"
    assert classify("ERROR").kind == "temporary"
