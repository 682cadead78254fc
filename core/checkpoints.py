"""Checkpointers: where threads are kept, chosen by a URL in the settings.

`memory` keeps threads in this process only (`MemorySaver`): they vanish when
it exits. `sqlite:///path` keeps them in a file that outlives the process.
`postgresql://user:password@host:port/dbname` keeps them in a Postgres
database that several app processes share; its tables are created (and
migrated) on first use. `make_checkpointer` gives the synchronous savers for
`invoke`/`stream`; `amake_checkpointer` the asynchronous ones for
`ainvoke`/`astream` (an async saver answers sync calls only from other threads).

Deserialisation is strict: only LangGraph's own safe types and the state types a
graph names are revived from a checkpoint, so a tampered checkpoint cannot
construct arbitrary objects.
"""

from __future__ import annotations

import inspect
import re
import sqlite3
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any, get_args

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import MemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from core.errors import MullError, RunErrorKind
from core.settings import get_settings

__all__ = [
    "SQLITE_BUSY_TIMEOUT_S",
    "CheckpointerUnavailable",
    "aclose_checkpointer",
    "allow_state_types",
    "amake_checkpointer",
    "close_checkpointer",
    "is_ephemeral",
    "make_checkpointer",
]

SQLITE_BUSY_TIMEOUT_S = 30.0
"""Seconds a SQLite connection waits for another's write to end before it fails with
"database is locked": every connection mull opens on the file waits as long, so runs
racing on one thread (replicas, the run store) queue rather than fail after their turn
is saved."""

_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")
# What langgraph-checkpoint-postgres requires of every connection it is given.
_PG_CONNECTION = {"autocommit": True, "prepare_threshold": 0}
# Seconds to wait for the server before saying it cannot be reached.
_PG_CONNECT_TIMEOUT = 10
# A session lock taken around `setup()`, so app processes starting together do not
# race to create the same tables (CREATE TABLE IF NOT EXISTS is not safe concurrently).
_PG_SETUP_LOCK = 0x6D756C6C  # "mull"
_PG_POOL = {"min_size": 1, "max_size": 4, "name": "mull-checkpoints"}
_PG_HINT = (
    "Check that the server is running and that the host, port, user, password and "
    "database in MULL_CHECKPOINTER are right (`createdb NAME` makes a missing database; "
    "the user needs the right to create tables in it), or keep threads in a file with "
    "MULL_CHECKPOINTER=sqlite:///.mull/threads.db."
)


class CheckpointerUnavailable(MullError, ValueError):
    """The checkpointer a URL names cannot be opened: bad URL, missing package, server down."""

    kind = RunErrorKind.CHECKPOINTER


def _strict_serde() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=None)


def _named(url: str | None) -> tuple[str, str]:
    """The URL (the `checkpointer` setting when None), and the kind of checkpointer it names."""
    url = (url or get_settings().checkpointer).strip()
    return url, _kind(url)


def _kind(url: str) -> str:
    if url == "memory":
        return "memory"
    if url.startswith(_SQLITE) and url != _SQLITE:
        return "sqlite"
    if url.startswith(_POSTGRES):
        return "postgres"
    raise CheckpointerUnavailable(
        f"MULL_CHECKPOINTER={url!r} is not a checkpointer mull knows.",
        hint="Use `memory` (threads last as long as the process), `sqlite:///path/to/threads.db` "
        "(threads outlive it) or `postgresql://user:password@host:5432/dbname` "
        "(several app processes share threads).",
    )


def _missing(backend: str, package: str) -> CheckpointerUnavailable:
    return CheckpointerUnavailable(
        f"MULL_CHECKPOINTER asks for {backend}, but {package} is not installed.",
        hint=f"pip install {package}",
    )


def _sqlite_path(url: str) -> Path:
    """The database file a SQLite URL names, its folder made and the file openable."""
    path = Path(url.removeprefix(_SQLITE)).expanduser()
    try:
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(path).close()  # opens (or creates) it now, not at the first run
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckpointerUnavailable(
            f"Cannot use the SQLite checkpointer at {path}: {reason}.",
            hint="Set MULL_CHECKPOINTER to a file in a folder you can write, "
            "e.g. sqlite:///.mull/threads.db.",
        ) from None
    return path


def _pg_params(url: str) -> dict[str, Any]:
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(url)
    except Error:
        return {}


def _without_secret(text: str, secret: str) -> str:
    # Only where a password can appear (a URL's user:password@, a password= field): replacing
    # every occurrence of a short password would mangle the words around it.
    text = re.sub(rf"(://[^:/@\s]*:){re.escape(secret)}@", r"\1***@", text)
    return re.sub(rf"(password\s*=\s*['\"]?){re.escape(secret)}(?=['\"\s]|$)", r"\1***", text)


def _pg_failed(url: str, exc: Exception) -> CheckpointerUnavailable:
    """The error for a Postgres URL that cannot be used: where it points and libpq's reason."""
    params = _pg_params(url)
    where = "the Postgres server"
    if params:
        host = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        where = f"database {params.get('dbname', params.get('user', ''))!r} at {host}"
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if password := params.get("password"):  # libpq does not echo it; be sure it never does
        reason = _without_secret(reason, str(password))
    return CheckpointerUnavailable(
        f"Cannot use the Postgres checkpointer ({where}): {reason}", hint=_PG_HINT
    )


def _pg_connect_args(url: str) -> dict[str, Any]:
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import dict_row

    try:
        given = conninfo_to_dict(url)
    except Error as exc:
        raise _pg_failed(url, exc) from None
    timeout = given.get("connect_timeout", _PG_CONNECT_TIMEOUT)
    return {**_PG_CONNECTION, "row_factory": dict_row, "connect_timeout": timeout}


def _pg_imports() -> None:
    try:
        import langgraph.checkpoint.postgres  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise _missing(
            "Postgres", "langgraph-checkpoint-postgres 'psycopg[binary]' psycopg-pool"
        ) from None


def _postgres(url: str) -> BaseCheckpointSaver:
    _pg_imports()
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg_pool import ConnectionPool

    args = _pg_connect_args(url)
    try:
        # One connection holds the setup lock; the pool then serves the saver's calls.
        with psycopg.connect(url, **args) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_PG_SETUP_LOCK,))
            PostgresSaver(conn).setup()  # the lock goes with the session
    except psycopg.Error as exc:
        raise _pg_failed(url, exc) from None
    pool = ConnectionPool(
        url,
        kwargs=args,
        open=False,
        check=ConnectionPool.check_connection,  # a server restart costs no failed call
        **_PG_POOL,
    )
    try:
        pool.open(wait=True, timeout=_PG_CONNECT_TIMEOUT)
    except psycopg.Error as exc:  # PoolTimeout is one
        pool.close()
        raise _pg_failed(url, exc) from None
    return PostgresSaver(pool, serde=_strict_serde())


def make_checkpointer(url: str | None = None) -> BaseCheckpointSaver:
    """Make the synchronous checkpointer a URL names, ready to use.

    Args:
        url: `memory`, `sqlite:///path/to/file.db` or `postgresql://user:password@host:port/dbname`;
            the `checkpointer` setting when omitted. Postgres tables are created or migrated here.

    Returns:
        A `MemorySaver`, `SqliteSaver` or `PostgresSaver` (on a connection pool).
        `close_checkpointer` releases its connections.

    Raises:
        CheckpointerUnavailable: A `ValueError`: the URL names no checkpointer mull
            knows, its package is missing, or the Postgres server cannot be used; the
            message says why and the hint how to fix it.
    """
    url, kind = _named(url)
    if kind == "sqlite":
        try:
            from langgraph.checkpoint.sqlite import SqliteSaver
        except ImportError:
            raise _missing("SQLite", "langgraph-checkpoint-sqlite") from None
        conn = sqlite3.connect(
            _sqlite_path(url), timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False
        )
        saver = SqliteSaver(conn, serde=_strict_serde())
        # Set up now: done lazily, the first statements of runs racing in threads would each
        # set up (WAL mode, the tables) at once and fail with "database is locked".
        saver.setup()
        return saver
    return MemorySaver(serde=_strict_serde()) if kind == "memory" else _postgres(url)


async def _apostgres(url: str) -> BaseCheckpointSaver:
    _pg_imports()
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg_pool import AsyncConnectionPool

    args = _pg_connect_args(url)
    try:
        async with await psycopg.AsyncConnection.connect(url, **args) as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (_PG_SETUP_LOCK,))
            await AsyncPostgresSaver(conn).setup()
    except psycopg.Error as exc:
        raise _pg_failed(url, exc) from None
    pool = AsyncConnectionPool(
        url, kwargs=args, open=False, check=AsyncConnectionPool.check_connection, **_PG_POOL
    )
    try:
        await pool.open(wait=True, timeout=_PG_CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        await pool.close()
        raise _pg_failed(url, exc) from None
    return AsyncPostgresSaver(pool, serde=_strict_serde())


async def amake_checkpointer(url: str | None = None) -> BaseCheckpointSaver:
    """Make the asynchronous checkpointer a URL names, ready for `ainvoke` and `astream`.

    Call it inside the event loop that will use it: the async savers belong to it.

    Args:
        url: As for `make_checkpointer`; the `checkpointer` setting when omitted.

    Returns:
        A `MemorySaver` (it is both sync and async), `AsyncSqliteSaver` or
        `AsyncPostgresSaver` (on an async connection pool), set up.
        `aclose_checkpointer` releases its connections.

    Raises:
        CheckpointerUnavailable: As for `make_checkpointer`.
    """
    url, kind = _named(url)
    if kind == "memory":  # it is both sync and async
        return MemorySaver(serde=_strict_serde())
    if kind == "sqlite":
        try:
            import aiosqlite
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
        except ImportError:
            raise _missing("async SQLite", "langgraph-checkpoint-sqlite aiosqlite") from None
        saver = AsyncSqliteSaver(
            await aiosqlite.connect(_sqlite_path(url), timeout=SQLITE_BUSY_TIMEOUT_S),
            serde=_strict_serde(),
        )
        # Set up before `allow_state_types` copies it, so the copies do not each set up again.
        await saver.setup()
        return saver
    return await _apostgres(url)


def close_checkpointer(checkpointer: BaseCheckpointSaver) -> None:
    """Release what a checkpointer from `make_checkpointer` holds: its file or connections.

    Copies made by `allow_state_types` share it, so they are closed too.

    Raises:
        TypeError: An async saver, which `aclose_checkpointer` closes.
    """
    conn = getattr(checkpointer, "conn", None)
    if conn is not None and callable(getattr(conn, "close", None)):
        result = conn.close()
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # not awaited: say so instead of warning later
            raise TypeError(
                "An async checkpointer: close it with `await aclose_checkpointer(...)`."
            )


async def aclose_checkpointer(checkpointer: BaseCheckpointSaver) -> None:
    """Release what a checkpointer from `amake_checkpointer` holds."""
    conn = getattr(checkpointer, "conn", None)
    if conn is not None and callable(getattr(conn, "close", None)):
        result = conn.close()
        if inspect.isawaitable(result):
            await result


def allow_state_types(
    checkpointer: BaseCheckpointSaver, types: Iterable[type]
) -> BaseCheckpointSaver:
    """Let a checkpointer revive a graph's own state types (its pydantic models).

    The enums their fields hold (e.g. `RunErrorKind`) are allowed with them: a model
    is stored as its fields' Python values, and an enum member as its class. The
    result shares its storage with `checkpointer`, so graphs compiled with the
    results of several calls still see each other's threads.
    """
    allowed = {t for state_type in types for t in _stored_types(state_type)}
    return checkpointer.with_allowlist({(t.__module__, t.__qualname__) for t in allowed})


def _stored_types(annotation: Any) -> set[type]:
    """`annotation` itself when it is a class, and the enums its pydantic fields can hold."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return {annotation}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found: set[type] = {annotation}
        for field in annotation.model_fields.values():
            found |= {t for t in _stored_types(field.annotation) if issubclass(t, Enum)}
        return found
    if isinstance(annotation, type):
        return {annotation}
    # A generic alias or union (`list[X]`, `X | None`, `Annotated[...]`): look inside.
    return {t for arg in get_args(annotation) for t in _stored_types(arg)}


def is_ephemeral(checkpointer: BaseCheckpointSaver) -> bool:
    """Whether the checkpointer loses its threads when the process exits."""
    return isinstance(checkpointer, MemorySaver)
