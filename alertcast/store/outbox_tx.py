"""Short write transactions that behave the same on SQLite and PostgreSQL, retried when contended.

SQLite: a deferred transaction that reads first and writes later can fail at once with SQLITE_BUSY when
another process wrote in between (WAL snapshots cannot be upgraded), and the busy timeout does not help.
``BEGIN IMMEDIATE`` takes the write lock up front, so the busy timeout queues writers instead. PostgreSQL:
two engines may still collide (a lease recovery and an owner's batch touching the same rows); a deadlock or
serialization failure is retried, since every outbox write is idempotent in effect.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, Table, insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from alertcast.store.models import Ack, AuditEntry, Broadcast, BroadcastMessage, Delivery

T = TypeVar("T")

DELIVERY: Table = Delivery.__table__  # type: ignore[attr-defined]
BROADCAST: Table = Broadcast.__table__  # type: ignore[attr-defined]
MESSAGE: Table = BroadcastMessage.__table__  # type: ignore[attr-defined]
AUDIT: Table = AuditEntry.__table__  # type: ignore[attr-defined]
ACK: Table = Ack.__table__  # type: ignore[attr-defined]

_RETRYABLE_SQLSTATES = {"40P01", "40001", "55P03"}
_ATTEMPTS = 6


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: ``BEGIN IMMEDIATE`` on SQLite, an ordinary transaction elsewhere."""
    if not is_sqlite(engine):
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        return True
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def run_write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a write transaction, retrying a few times when the database says it is contended."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with write_transaction(engine) as connection:
                return work(connection)
        except DBAPIError as exc:
            if attempt == _ATTEMPTS or not _retryable(exc):
                raise
            time.sleep(0.02 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def bulk_insert(
    connection: Connection,
    table: Table,
    variable: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    constants: dict[str, Any],
) -> None:
    """Insert many rows with one DBAPI executemany; ``constants`` are the same for every row.

    SQLAlchemy's own executemany converts every parameter of every row in Python, which costs more than
    SQLite's insert itself at 100,000 rows. Here the constants (broadcast id, times, flags) are converted
    once and appended to each row, and only the variable columns whose type has a converter (JSON, a
    boolean on SQLite) are converted per row, by the same converter SQLAlchemy would use.
    """
    dialect = connection.dialect
    converters = [(i, _memo(p)) for i, key in enumerate(variable) if (p := _processor(table, key, dialect))]
    if converters:
        rows = [_convert(row, converters) for row in rows]
    converted = []
    for key, value in constants.items():
        processor = _processor(table, key, dialect)
        converted.append(processor(value) if processor else value)
    marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    if marks is None:  # pragma: no cover - every dialect alertcast supports is listed above
        connection.execute(
            insert(table), [{**constants, **dict(zip(variable, r, strict=True))} for r in rows]
        )
        return
    quote = dialect.identifier_preparer.quote
    columns = [*variable, *constants]
    tail = tuple(converted)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        # COPY: one round trip for the whole batch, ten times faster than a pipelined executemany.
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            names = ", ".join(quote(c) for c in columns)
            with cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + tail)
        except dialect.loaded_dbapi.IntegrityError as exc:
            raise IntegrityError(f"COPY {table.name}", None, exc) from exc
        finally:
            cursor.close()
        return
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([marks] * len(columns))})"
    )
    connection.exec_driver_sql(sql, [row + tail for row in rows])


def _convert(row: tuple[Any, ...], converters: list[tuple[int, Callable[[Any], Any]]]) -> tuple[Any, ...]:
    values = list(row)
    for index, convert in converters:
        if values[index] is not None:
            values[index] = convert(values[index])
    return tuple(values)


_MEMO_SIZE = 1024


def _memo(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert``, remembering its answer for text and tuples of text, which repeat from row to row.

    A JSON list column holds ``[]`` in nearly every row of an address book; serialising it once instead
    of 100,000 times is most of the per-row conversion cost. Other values (numbers, booleans: ``1`` and
    ``True`` are equal keys but convert differently) are converted every time.
    """
    answers: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        kind = type(value)
        if kind is str or (kind is tuple and all(type(item) is str for item in value)):
            answer = answers.get(value)
            if answer is None:
                answer = convert(value)
                if len(answers) < _MEMO_SIZE:  # repeats show up early; unique values need no memory
                    answers[value] = answer
            return answer
        return convert(value)

    return converted


def _processor(table: Table, key: str, dialect: Any) -> Callable[[Any], Any] | None:
    """The converter SQLAlchemy itself would apply to a value bound to this column on this dialect."""
    return table.c[key].type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


class Prepared:
    """A Core statement compiled once per dialect, for statements run many times a second.

    Compiling an UPDATE costs more than SQLite's work on a batch of a few dozen rows; the engine's result
    writer runs the same handful of statements all day, with everything that varies passed as binds.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[str, tuple[Any, dict[str, Callable[[Any], Any] | None]]] = {}

    def compiled(self, dialect: Any) -> tuple[Any, dict[str, Callable[[Any], Any] | None]]:
        """The compiled statement and each bind's converter on ``dialect``."""
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            converters = {
                name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                for name, bind in compiled.binds.items()
            }
            found = self._by_dialect[dialect.name] = (compiled, converters)
        return found


def execute_many(
    connection: Connection,
    statement: Executable | Prepared,
    rows: Sequence[dict[str, Any]],
    constants: dict[str, Any] | None = None,
) -> int:
    """Run a Core statement once per row through the DBAPI's executemany; returns the rows changed.

    The statement is built with SQLAlchemy Core as usual, and every value is converted by its bind's type
    exactly as SQLAlchemy would; but ``constants`` (and the statement's own values) are converted once per
    batch and per-row values only where the type has a converter. SQLAlchemy's own executemany redoes all
    of it for every row, which costs more than SQLite's work on a batch of results. Pass a ``Prepared``
    statement to skip compiling it again.
    """
    if not rows:
        return 0
    dialect = connection.dialect
    prepared = statement if isinstance(statement, Prepared) else Prepared(statement)
    compiled, converters = prepared.compiled(dialect)
    fixed = constants or {}
    base = {}
    for name, value in compiled.construct_params({**rows[0], **fixed}).items():
        convert = converters.get(name)
        base[name] = convert(value) if convert is not None and value is not None else value
    varying = [(name, convert) for name in rows[0] if name not in fixed and (convert := converters.get(name))]
    if varying:
        rows = [{**row, **{n: c(row[n]) for n, c in varying}} for row in rows]
    if compiled.positional:
        names = list(compiled.positiontup or ())
        pick = itemgetter(*names) if len(names) > 1 else lambda merged: (merged[names[0]],)
        params: list[Any] = [pick({**base, **row}) for row in rows]
    else:
        params = [{**base, **row} for row in rows]
    result = connection.exec_driver_sql(compiled.string, params)
    return max(0, result.rowcount)
