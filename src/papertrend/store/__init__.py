"""The store: the only code that speaks SQL. It returns dataclasses, never cursors.

One :class:`Store` per process, built from Settings. Its surface is narrow, as datasette's
``Database`` is: connections (``read``, ``write``), the schema, and one focused sub-store per
concept, each owning its transactions::

    store.papers        papers and the importer's write path      (papers.py)
    store.signals       upvote/comment observations, star snapshots (signals.py)
    store.trending      the stored ranking of each window           (trending.py)
    store.search        FTS5 and the text-change log                (search.py)
    store.vectors       stored embeddings                           (vectors.py)
    store.runs          ingest runs and job runs                    (runs.py)
    store.coordination  politeness slots, job leases, cursors, abuse limits (coordination.py)
    store.digests       subscribers, the outbox                     (digests.py)
    store.copy_to       a whole deployment into another database    (transfer.py)
    store.accounts      accounts and sign-in links                  (accounts.py)
    store.feed_secrets  personal feed addresses (their nonces)      (feed_secrets.py)
    store.api_tokens    personal API tokens (their hashes)          (api_tokens.py)
    store.community     upvotes, comments, library, moderation       (community.py)

Callers never hold a connection across calls. SQLite runs in WAL mode with a busy timeout;
every write takes the write lock up front (``BEGIN IMMEDIATE``) so two writers queue instead of
failing half-way.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..config import Settings
from ..errors import StoreError
from . import migrations, transfer
from .accounts import AccountStore
from .api_tokens import ApiTokenStore
from .community import CommunityStore
from .base import utcnow
from .coordination import CoordinationStore
from .digests import DigestStore
from .feed_secrets import FeedSecretStore
from .papers import PaperStore
from .runs import RunStore
from .search import SearchStore
from .signals import SignalStore
from .trending import TrendingStore
from .vectors import VectorStore

__all__ = ["Store", "open_store", "utcnow"]


def _make_engine(settings: Settings) -> Engine:
    url = str(settings.database_url)
    if settings.is_sqlite:
        path = settings.sqlite_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own is deferred only).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


class Store:
    """Connections, the schema, and the sub-stores. Built from Settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        try:
            self.engine = _make_engine(settings)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open database {settings.database_url}: {exc}") from exc
        # A store dropped without close() still closes its connections (a PostgreSQL server would
        # otherwise keep each one open until the garbage collector found it).
        self._closer = weakref.finalize(self, self.engine.dispose)
        self.papers = PaperStore(self)
        self.signals = SignalStore(self)
        self.trending = TrendingStore(self)
        self.search = SearchStore(self)
        self.vectors = VectorStore(self)
        self.runs = RunStore(self)
        self.coordination = CoordinationStore(self)
        self.digests = DigestStore(self)
        self.accounts = AccountStore(self)
        self.feed_secrets = FeedSecretStore(self)
        self.api_tokens = ApiTokenStore(self)
        self.community = CommunityStore(self)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    def pending_migrations(self) -> list[str]:
        with self.read() as conn:
            return migrations.pending(conn)

    def upgrade(self) -> list[str]:
        """Apply pending migrations in one transaction; returns their names."""
        try:
            with self.write() as conn:
                return migrations.upgrade(conn)
        except OperationalError as exc:
            raise StoreError(f"cannot migrate {self.settings.database_url}: {exc.orig}") from exc

    def ensure_schema(self) -> list[str]:
        """Create the schema on an empty database; refuse to run on an outdated one."""
        with self.read() as conn:
            empty = not inspect(conn).has_table("schema_migrations")
            pending = migrations.pending(conn)
        if empty:
            return self.upgrade()
        if pending:
            raise StoreError(f"database needs migrations {', '.join(pending)}: run `papertrend db upgrade`")
        return []

    def copy_to(self, target: "Store", progress: transfer.Progress | None = None) -> list[transfer.TableCount]:
        """Copy every table into ``target``, empty and at the same schema version, in one
        transaction there; returns the rows counted on both sides (they match, or it raises)."""
        if self.pending_migrations():
            raise StoreError("the source database needs migrations first: run `papertrend db upgrade` on it")
        target.ensure_schema()
        with self.read() as source, target.write() as conn:
            return transfer.copy_tables(source, conn, progress)

    def close(self) -> None:
        self._closer()


def open_store(settings: Settings) -> Store:
    """A store whose schema is ready: created on an empty database, refused when outdated."""
    store = Store(settings)
    store.ensure_schema()
    return store
