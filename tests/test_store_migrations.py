"""The schema comes from migrations, from an empty database up, on every start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select
from sqlmodel import Session, SQLModel

from alertcast.store.db import SCHEMA_HEAD, StoreError, _alembic_config, create_db_engine, schema_revision
from alertcast.store.models import AuditEntry


def test_empty_database_is_migrated_to_head_and_matches_the_models(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'new' / 'a.db'}")
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    assert schema_revision(engine) == head == SCHEMA_HEAD, "update SCHEMA_HEAD in alertcast/store/db.py"
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(SQLModel.metadata.tables)
    for name, table in SQLModel.metadata.tables.items():
        columns = {c["name"] for c in inspect(engine).get_columns(name)}
        assert columns == set(table.columns.keys()), name
    engine.dispose()
    # A second open is a no-op and keeps data.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'new' / 'a.db'}")
    assert schema_revision(engine) == head
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_times_round_trip_as_aware_utc_and_naive_times_are_refused(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 't.db'}")
    local = datetime(2026, 11, 26, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    with Session(engine) as session:
        session.add(AuditEntry(at=local, actor="a", action="x"))
        session.commit()
        at = session.execute(select(AuditEntry.at)).scalar_one()
        assert at == local and at.tzinfo is UTC
        session.add(AuditEntry(at=datetime(2026, 1, 1), actor="a", action="naive"))
        with pytest.raises(Exception, match="naive datetime"):
            session.commit()
    engine.dispose()


def test_a_store_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the folder"):
        create_db_engine(f"sqlite:///{blocker / 'sub' / 'a.db'}")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open or migrate"):
        create_db_engine(f"sqlite:///{garbage}")
