"""Shared fixtures: a real SQLite file per test, opened through the same path the product uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from alertcast.config import Config
from alertcast.services.context import AppContext
from alertcast.store.db import create_db_engine
from tests.pg import PostgresCluster, find_bindir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'alertcast.db'}"


@pytest.fixture
def ctx(db_url: str) -> Iterator[AppContext]:
    config = Config(db_url=db_url, operator="tester")
    app = AppContext(config=config, engine=create_db_engine(db_url))
    yield app
    app.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One throw-away PostgreSQL cluster for the whole run (each test takes a database of its own).

    A machine without the server binaries skips PostgreSQL tests with the reason; under CI that is a
    failure, since the scale-out store must be tested there.
    """
    bindir = find_bindir()
    if bindir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql package"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (required under CI)")
        pytest.skip(reason)
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()
