"""Opening the store: the SQLAlchemy engine, SQLite tuning, and migrations applied on start.

SQLite is the embedded default and runs in WAL mode so the console can read while the engine writes;
``synchronous=NORMAL`` is durable across process crashes (the guarantee the outbox needs: a killed engine
loses nothing committed). Any other SQLAlchemy URL, PostgreSQL in particular, works the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlmodel import create_engine

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_HEAD = "0003"
"""The newest migration's revision. Checking it takes one query, so a command that finds the schema
current never imports Alembic; ``tests/test_store_migrations.py`` keeps this equal to Alembic's head."""


class StoreError(RuntimeError):
    """The database cannot be opened or migrated; the message names the URL (without password)."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def json_text(value: Any) -> str:
    """JSON for the store's JSON columns: the values ``json.dumps`` would write, read back the same.

    orjson writes floats about fifteen times faster than the standard library, and a national alert's
    polygon is thousands of them: encoding stored models with ``json.dumps`` was the largest single cost of
    storing an ingested alert. The text differs only in form (no spaces, non-ASCII kept as UTF-8, ``1e-7``
    for ``1e-07``); keys that are not strings are written as strings, as ``json.dumps`` does.
    """
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages and the console's title bar."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def create_db_engine(url: str, *, migrate: bool = True) -> Engine:
    """Open (and by default bring up to date) the store at ``url``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r} (expected e.g. sqlite:///path/alertcast.db)") from exc
    kwargs: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for {database}: {exc.strerror}") from exc
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    elif parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot use the database URL {safe_url(url)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if migrate:
        upgrade(engine)
    return engine


def _alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Apply pending migrations; one query and no Alembic import when the schema is current."""
    try:
        if schema_revision(engine) == SCHEMA_HEAD:
            return
        from alembic import command

        config = _alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except Exception as exc:
        raise StoreError(f"cannot open or migrate the store at {safe_url(str(engine.url))}: {exc}") from exc
