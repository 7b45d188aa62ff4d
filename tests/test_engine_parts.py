"""The engine's small parts (rate limiter, event bus, configuration, route types, idle rule) and the
``run``/``status``/``report``/``cancel`` commands end to end on a real store."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from alertcast.channels.drill import DrillChannel
from alertcast.cli.root import cli
from alertcast.config import Config, ConfigError
from alertcast.engine.config import DEFAULT_ROUTES, load_engine_config, parse_engine, parse_routes, routes_for
from alertcast.engine.events import BroadcastProgress, EngineNotice, EventBus
from alertcast.engine.housekeeping import classify, dead_local_owners
from alertcast.engine.ratelimit import TokenBucket
from alertcast.engine.routes import build_channel, register_route_type, route_types
from alertcast.services.context import AppContext
from alertcast.store.outbox_report import OpenWork
from tests.engine_helpers import broadcast, counts


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_the_burst_then_exactly_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert sum(bucket.try_take(1) for _ in range(20)) == 5
    assert bucket.wait_time(1) == pytest.approx(0.1)
    taken = 0
    for _ in range(1000):  # ten seconds in 10 ms steps
        clock.now += 0.01
        while bucket.try_take(1):
            taken += 1
    assert taken == 100
    clock.now += 60  # idle for a minute: still only a burst's worth at once
    assert sum(bucket.try_take(1) for _ in range(20)) == 5
    # A message of three segments costs three tokens; one larger than the burst still goes when full.
    clock.now += 1
    assert bucket.try_take(8) and not bucket.try_take(1)
    assert TokenBucket(0, 0).try_take(10**6)


async def test_slow_subscribers_get_the_latest_event_per_key_not_a_backlog() -> None:
    bus = EventBus()
    subscription = bus.subscribe(limit=2)
    calls: list[object] = []
    unsubscribe = bus.subscribe_callback(calls.append)
    bus.subscribe_callback(lambda event: 1 / 0)  # a broken subscriber does not stop publishing
    for delivered in range(100):
        bus.publish(BroadcastProgress(1, 0, 0, delivered, delivered, 0, 0, 0, 1.0))
    bus.publish(EngineNotice("warning", "route a is down"))
    bus.publish(EngineNotice("warning", "route b is down"))
    first = await asyncio.wait_for(subscription.get(), 1)
    second = subscription.get_nowait()
    assert (first, second, subscription.get_nowait()) == (
        EngineNotice("warning", "route a is down"),
        EngineNotice("warning", "route b is down"),
        None,
    )
    assert subscription.dropped == 1  # the broadcast event made way (limit 2)
    assert len(calls) == 102
    unsubscribe()
    subscription.close()
    bus.publish(EngineNotice("info", "x"))
    assert len(calls) == 102


def test_engine_settings_and_routes_are_checked_with_the_key_named() -> None:
    assert parse_engine({}).lease_seconds == 60
    with pytest.raises(ConfigError, match=r"engine\.batch_size: expected an integer >= 1, got 0"):
        parse_engine({"batch_size": 0})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_engine({"batchsize": 10})
    with pytest.raises(ConfigError, match=r"cancel_poll_seconds: at most 0\.5"):
        parse_engine({"cancel_poll_seconds": 2})
    assert parse_routes(None) == DEFAULT_ROUTES
    with pytest.raises(ConfigError, match=r"routes\[0\]\.rate: expected a number >= 0, got 'fast'"):
        parse_routes([{"name": "a", "type": "drill", "rate": "fast"}])
    with pytest.raises(ConfigError, match=r"routes\[1\]\.name: route 'a' is defined twice"):
        parse_routes([{"name": "a", "type": "drill"}, {"name": "a", "type": "drill"}])
    with pytest.raises(ConfigError, match=r"routes\[0\]\.kind: unknown kind 'fax'"):
        parse_routes([{"name": "a", "type": "drill", "kind": "fax"}])
    with pytest.raises(ConfigError, match="always carries drills"):
        parse_routes([{"name": "a", "type": "drill", "drill": False}])
    [sink, smsc] = parse_routes(
        [
            {"name": "sink", "type": "drill", "kind": ["sms", "apprise"], "latency": 0.1},
            {"name": "smsc", "type": "smpp", "rate": 50, "host": "127.0.0.1"},
        ]
    )
    assert (sink.drill, sink.live, sink.kinds, dict(sink.settings)) == (
        True,
        False,
        ("sms", "apprise"),
        {"latency": 0.1},
    )
    assert (smsc.drill, smsc.live, smsc.effective_burst, dict(smsc.settings)) == (
        False,
        True,
        5.0,
        {"host": "127.0.0.1"},
    )
    assert routes_for([sink, smsc], "sms", drill=False) == [smsc]
    assert routes_for([sink, smsc], "apprise", drill=False) == []


def test_the_default_is_a_drill_sink_for_drills_only() -> None:
    config = load_engine_config(Config(db_url="sqlite://"))
    [only] = config.routes
    assert (only.type, only.drill, only.live) == ("drill", True, False)
    for kind in ("sms", "apprise"):
        assert routes_for(config.routes, kind, drill=True) == [only]
        assert routes_for(config.routes, kind, drill=False) == []


def test_route_types_build_channels_and_unknown_ones_are_named() -> None:
    [sink] = parse_routes([{"name": "s", "type": "drill", "window": 7, "fail_prefixes": ["+1999"]}])
    channel = build_channel(sink)
    assert isinstance(channel, DrillChannel) and channel.window == 7 and channel.drill_route
    [bad] = parse_routes([{"name": "s", "type": "drill", "windw": 7}])
    with pytest.raises(ConfigError, match=r"routes\.s: unknown key.*windw"):
        build_channel(bad)
    [unknown] = parse_routes([{"name": "x", "type": "pigeon"}])
    with pytest.raises(ConfigError, match="unknown route type 'pigeon'"):
        build_channel(unknown)
    register_route_type("pigeon", lambda name, settings: DrillChannel(name, window=int(settings["coop"])))
    try:
        [pigeon] = parse_routes([{"name": "p", "type": "pigeon", "coop": 3}])
        channel = build_channel(pigeon)
        assert "pigeon" in route_types() and channel.window == 3
        assert not channel.drill_route  # not marked for drills in the configuration: it may not carry them
    finally:
        from alertcast.engine import routes

        routes._REGISTERED.pop("pigeon")


def test_idle_means_nothing_claimed_and_nothing_queued_that_a_route_here_could_carry() -> None:
    routes = parse_routes([{"name": "s", "type": "drill"}])
    assert classify([], list(routes)).idle
    queued_drill = OpenWork("queued", "sms", True, 5)
    queued_live = OpenWork("queued", "sms", False, 7)
    claimed = OpenWork("claimed", "apprise", True, 1)
    assert not classify([queued_drill], list(routes)).idle
    assert not classify([claimed], list(routes)).idle
    state = classify([queued_live], list(routes))
    assert state.idle and [s.reason for s in state.stranded] == [
        "no live route for kind sms: 7 deliveries stay queued"
    ]


def test_only_dead_engines_on_this_host_are_taken_over_early() -> None:
    import socket

    host = socket.gethostname()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(gone.stdout)
    owners = [f"{host}/{dead_pid}/aa", f"{host}/{os.getpid()}/bb", f"other-host/{dead_pid}/cc", "custom-name"]
    assert dead_local_owners(owners, me="me") == [f"{host}/{dead_pid}/aa"]


@pytest.fixture
def shell(ctx: AppContext, tmp_path: Path) -> tuple[CliRunner, list[str]]:
    config = tmp_path / "alertcast.toml"
    config.write_text("[engine]\nidle_poll_seconds = 0.02\nflush_seconds = 0.01\n", encoding="utf-8")
    return CliRunner(), ["--config", str(config), "--db", str(ctx.engine.url)]


def test_run_status_report_and_cancel_from_the_command_line(
    ctx: AppContext, shell: tuple[CliRunner, list[str]]
) -> None:
    runner, base = shell
    drill = broadcast(ctx.engine, 40, drill=True)
    live = broadcast(ctx.engine, 5, drill=False)
    result = runner.invoke(cli, [*base, "run", "--until-idle", "--json"])
    assert result.exit_code == 4, result.output  # the live broadcast has no live route
    summary = json.loads(result.stdout)
    assert summary["delivered"] == 40 and summary["stranded"][0]["kind"] == "sms"
    assert counts(ctx.engine, live) == {"queued": 5}

    result = runner.invoke(cli, [*base, "status", str(live), "--json"])
    assert result.exit_code == 0
    status = json.loads(result.stdout)
    assert status["states"] == {"queued": 5} and "no live route for kind sms" in status["notes"][0]
    result = runner.invoke(cli, [*base, "status"])
    assert (
        result.exit_code == 0 and "40 delivered" in result.stdout and "note: no live route" in result.stdout
    )

    result = runner.invoke(cli, [*base, "report", str(drill), "--format", "csv"])
    assert result.exit_code == 0
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(table) == 40 and {r["state"] for r in table} == {"delivered"} and table[0]["route"] == "drill"
    assert table[0]["possible_duplicate"] == "false" and table[0]["provider_id"].startswith("drill-")
    result = runner.invoke(cli, [*base, "report", str(drill), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["attempts"] == 1

    result = runner.invoke(cli, [*base, "cancel", str(live)])
    assert result.exit_code == 0 and "5 deliveries stopped" in result.stdout
    assert counts(ctx.engine, live) == {"cancelled": 5}
    result = runner.invoke(cli, [*base, "cancel", str(live), "--json"])
    assert json.loads(result.stdout)["previous_status"] == "cancelled"

    for command in (["status", "99"], ["report", "99"], ["cancel", "99"]):
        result = runner.invoke(cli, [*base, *command])
        assert result.exit_code == 1 and "no broadcast 99" in result.output


def test_a_bad_engine_configuration_is_a_setup_error(ctx: AppContext, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[routes]]\nname = "x"\ntype = "drill"\nrate = -1\n', encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--db", str(ctx.engine.url), "run", "--until-idle"]
    )
    assert result.exit_code == 3
    assert "routes[0].rate: expected a number >= 0, got -1" in result.output
