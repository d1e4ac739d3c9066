"""Hot read statements run straight on the database driver's cursor, inside the session's transaction.

Every request checks a token and most read a profile: three small SELECTs that SQLite answers in about 7 µs
together, while SQLAlchemy's per-execution work (execution context, events, result object, the ORM session's
execute) took about 125 µs around them (docs/benchmarks.md, "Fourth round"). A `PreparedRead` is a Core SELECT
(or a UNION, or `text(...).columns(...)`) that SQLAlchemy compiles once per dialect, with SQLAlchemy's own bind
and result processors for its column types, run on the DB-API connection of the session's own transaction:
the same SQL, transaction and types, without the per-call work. For SELECTs with plain bound parameters only
(no expanding IN lists).

The engine's `before_cursor_execute` / `after_cursor_execute` listeners still see each statement, and a driver
error is raised as SQLAlchemy would raise it (wrapped in `sqlalchemy.exc.DBAPIError`'s subclasses, and a lost
connection invalidated), so outage and busy handling work as for any other statement.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Session

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # the parameter names in order, for a positional paramstyle
    # each parameter: its name in the SQL, then the caller's key and bind processor (None: passed as is),
    # or for a literal in the statement (`.limit(1)`), no key and its value, processed once
    binds: tuple[tuple[str, str | None, Processor, Any], ...]
    row: Any  # the namedtuple type of a result row
    results: tuple[Processor, ...] | None  # each column's result processor; None when no column needs one


class PreparedRead:
    def __init__(self, statement: sa.SelectBase) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}
        self._lock = threading.Lock()

    def first(self, session: Session, params: dict[str, Any]) -> Any | None:
        """The first row (attribute access by column name), or None."""
        rows = self._run(session, params, one=True)
        return rows[0] if rows else None

    def all(self, session: Session, params: dict[str, Any]) -> list[Any]:
        return self._run(session, params, one=False)

    def scalar(self, session: Session, params: dict[str, Any]) -> Any:
        """The first column of the one row the statement returns."""
        rows = self._run(session, params, one=True)
        if not rows:
            raise sa.exc.NoResultFound("No row was found when one was required")
        return rows[0][0]

    def _run(self, session: Session, params: dict[str, Any], *, one: bool) -> list[Any]:
        connection = _connection_of(session)
        dialect = connection.dialect
        compiled = self._for(dialect)
        bound = {
            name: value if key is None else params[key] if process is None else process(params[key])
            for name, key, process, value in compiled.binds
        }
        driver_params: Sequence[Any] | dict[str, Any] = (
            tuple(bound[name] for name in compiled.positional) if compiled.positional is not None else bound
        )
        raw = run_on_driver(connection, compiled.sql, driver_params, rows="one" if one else "all")
        make, results = compiled.row._make, compiled.results
        if results is None:
            return [make(values) for values in raw if values is not None]
        return [
            make(
                value if process is None else process(value)
                for process, value in zip(results, values, strict=True)
            )
            for values in raw
            if values is not None
        ]

    def _for(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(key, _compile(self.statement, dialect))
        return compiled


def _connection_of(session: Session) -> sa.Connection:
    # A read session's connection is in its read transaction already (core/db read_session), and used as is;
    # any other session's connection begins the session's transaction, as session.execute would.
    bind = session.bind
    if isinstance(bind, sa.Connection) and bind.in_transaction():
        return bind
    return session.connection()


def _compile(statement: sa.SelectBase, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    binds: list[tuple[str, str | None, Processor, Any]] = []
    for bind, name in compiled.bind_names.items():
        if bind.expanding:
            raise ValueError(f"PreparedRead takes plain parameters only, not the expanding {bind.key!r}")
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.required:
            binds.append((name, bind.key, process, None))
        else:
            value = bind.effective_value
            binds.append((name, None, None, value if process is None else process(value)))
    columns = list(statement.selected_columns)
    if any(not isinstance(column.key, str) or not column.key.isidentifier() for column in columns):
        raise ValueError("PreparedRead needs every column named: label the expressions")
    results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
    return _Compiled(
        sql=compiled.string,
        positional=tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None,
        binds=tuple(binds),
        row=namedtuple("Row", [column.key for column in columns]),  # type: ignore[misc]
        results=results if any(results) else None,
    )


def run_on_driver(
    connection: sa.Connection,
    sql: str,
    params: Sequence[Any] | dict[str, Any] = (),
    *,
    rows: Literal["none", "one", "all"] = "none",
) -> list[Any]:
    """`sql` on the DB-API cursor of `connection` (its current transaction), as SQLAlchemy would run it for the
    engine's cursor listeners and error handling, without its per-call execution work. The raw rows asked for."""
    dialect = connection.dialect
    dbapi_connection = connection.connection.driver_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        dispatch = connection.dispatch
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(connection, cursor, sql, params, None, False)
        try:
            cursor.execute(sql, params)
            raw = [] if rows == "none" else [cursor.fetchone()] if rows == "one" else cursor.fetchall()
        except dialect.loaded_dbapi.Error as exc:
            _raise_wrapped(connection, dialect, exc, sql, cursor)
        if dispatch.after_cursor_execute:
            dispatch.after_cursor_execute(connection, cursor, sql, params, None, False)
    finally:
        cursor.close()
    return raw


def _raise_wrapped(connection: sa.Connection, dialect: Dialect, exc: Any, sql: str, cursor: Any) -> NoReturn:
    # As SQLAlchemy raises a driver's error (hiding the parameters: a token's hash is one): its own
    # exception classes, and a connection the database dropped invalidated, so the pool does not hand it out.
    lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor)
    if lost:
        connection.invalidate(exc)
    raise sa.exc.DBAPIError.instance(
        sql,
        None,
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=dialect,
    ) from exc
