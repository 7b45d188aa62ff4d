"""Shared fixtures: a real SQLite file per test, opened through the same path the product uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alertcast.config import Config
from alertcast.services.context import AppContext
from alertcast.store.db import create_db_engine

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
