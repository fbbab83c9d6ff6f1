"""Shared fixtures: a fresh store per test on each store (SQLite and PostgreSQL), the real shared
data, the CLI.

Every test that asks for ``settings`` (or ``store``, ``run_cli``, ``templates``: they build on it)
runs twice, as ``test_x[sqlite]`` and ``test_x[postgresql]``: on a fresh SQLite file, and on a
fresh database of the session's PostgreSQL server (tests/pg_server.py). ``--store sqlite`` or
``--store postgresql`` runs one of them. A test that needs a store in another way asks for
``store_kind`` and ``database_url``.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from papertrend.cli import cli
from papertrend.config import Settings, load_settings
from papertrend.store import open_store
from papertrend.store import Store
from pg_server import PgServer

ROOT = Path(__file__).resolve().parent.parent
# A byte-for-byte copy of the shared real data set (see its SOURCES.md), so a fresh clone tests alone.
SHARED = ROOT / "tests" / "fixtures" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared data set is missing: expected it at {SHARED}")
    return SHARED


STORES = ("sqlite", "postgresql")
# PostgreSQL has no secret made beside the database file: every process of a test signs with this.
PG_SECRET = "test-secret-for-postgresql-0123456789"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store", choices=("both", *STORES), default="both",
                     help="run store tests on SQLite, on PostgreSQL, or on both (the default)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--store")
        metafunc.parametrize("store_kind", [k for k in STORES if chosen in ("both", k)], scope="session")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server, started on first use and stopped at the end, failed or not."""
    server = PgServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_migrated(pg_server: PgServer) -> str:
    """A PostgreSQL database migrated to today's schema once per session: each test's database is
    a copy of it (CREATE DATABASE ... TEMPLATE), not migrated again from nothing."""
    name = pg_server.database()
    open_store(load_settings(database_url=pg_server.url_for(name), secret_key=PG_SECRET)).close()
    return name


@pytest.fixture
def database_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database of this test's own, holding no rows: a new SQLite file (migrated when first
    opened), or a new PostgreSQL database already at today's schema."""
    if store_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'papers.db'}"
        return
    pg: PgServer = request.getfixturevalue("pg_server")
    template: str = request.getfixturevalue("pg_migrated")
    # Processes a test starts (CLI, web, worker) inherit the secret, as a deployment sets it.
    monkeypatch.setenv("PAPERTREND_SECRET_KEY", PG_SECRET)
    # Snapshots go beside a SQLite file; for PostgreSQL into the test's own folder, not ./var.
    monkeypatch.setenv("PAPERTREND_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    name = pg.database(template)
    yield pg.url_for(name)
    pg.drop(name)


@pytest.fixture
def empty_database_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this test's own with no schema at all (for tests of the migrations)."""
    if store_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    pg: PgServer = request.getfixturevalue("pg_server")
    name = pg.database()
    yield pg.url_for(name)
    pg.drop(name)


@pytest.fixture
def another_database_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second database of this test's own on the same store, at today's schema (another
    instance, a copy to compare with)."""
    yield from _new_database(store_kind, tmp_path / "another.db", request)


@pytest.fixture(scope="module")
def module_database_url(store_kind: str, tmp_path_factory: pytest.TempPathFactory,
                        request: pytest.FixtureRequest) -> Iterator[str]:
    """A database one test module shares, for data its tests build once and then only read or
    add to (a corpus behind a served app): a new SQLite file, or a new PostgreSQL database at
    today's schema. Tests that need a fresh state each ask for ``database_url`` instead."""
    yield from _new_database(store_kind, tmp_path_factory.mktemp("module-db") / "papers.db", request)


def _new_database(store_kind: str, sqlite_file: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new SQLite file, or a new PostgreSQL database at today's schema, dropped after use."""
    if store_kind == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    pg: PgServer = request.getfixturevalue("pg_server")
    name = pg.database(request.getfixturevalue("pg_migrated"))
    yield pg.url_for(name)
    _drop_when_read(pg, name)


def _drop_when_read(pg: PgServer, name: str) -> None:
    """Drop a database an app was served from. Its search indexes load in a background thread
    that outlives the app: it finishes reading first (a SQLite file stays until its folder goes)."""
    for thread in threading.enumerate():
        if thread.name == "papertrend-index":
            thread.join(120)
    pg.drop(name)


def settings_for(database_url: str, folder: Path, **overrides: Any) -> Settings:
    """Settings for a store at ``database_url`` that a test makes itself (a module's shared one,
    a second instance): on PostgreSQL with the test secret (SQLite keeps one beside its file),
    and the index snapshots in ``folder`` on both, never in ./var."""
    secret = None if database_url.startswith("sqlite") else PG_SECRET
    return load_settings(database_url=database_url, snapshot_dir=str(folder / "snapshots"),
                         **{"secret_key": secret, **overrides})


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    if database_url.startswith("sqlite"):
        return load_settings(database_url=database_url)
    return load_settings(database_url=database_url, secret_key=PG_SECRET, snapshot_dir=str(tmp_path / "snapshots"))


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings)
    yield s
    s.close()


class Templates:
    """Databases that are expensive to build (embeddings), built once per test session and
    copied into each test's own file, so every test still starts from the same state."""

    def __init__(self, root: Path, pg: Callable[[], PgServer]) -> None:
        self.root = root
        self.pg = pg
        self.built: dict[tuple[str, bool], Path | str] = {}

    def copy(self, key: str, settings: Settings, build: Callable[[Store, Settings, Path], None]) -> Store:
        """A store at ``settings``' own database, holding what ``build(store, settings, workdir)``
        made: a copy of a file on SQLite, a database made from a template database on PostgreSQL."""
        sqlite = settings.is_sqlite
        if (key, sqlite) not in self.built:
            workdir = self.root / f"{key}-{'sqlite' if sqlite else 'postgresql'}"
            workdir.mkdir()
            if sqlite:
                template = settings.replace(database_url=f"sqlite:///{workdir / 'template.db'}")
            else:
                template = settings.replace(database_url=self.pg().url_for(self.pg().database()))
            store = open_store(template)
            build(store, template, workdir)
            store.close()  # the last connection closing checkpoints the WAL into the file
            self.built[key, sqlite] = workdir / "template.db" if sqlite else str(template.database_url)
        built = self.built[key, sqlite]
        if isinstance(built, Path):
            target = settings.sqlite_path
            assert target is not None and not target.exists(), "copy a template into a fresh database file only"
            shutil.copyfile(built, target)
        else:
            pg, name = self.pg(), str(settings.database_url).rsplit("/", 1)[1].split("?")[0]
            template_name = built.rsplit("/", 1)[1].split("?")[0]
            pg.drop(name)  # the test's empty database is replaced by a copy of the template
            with pg.admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
        return open_store(settings)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Templates:
    return Templates(tmp_path_factory.mktemp("templates"), lambda: request.getfixturevalue("pg_server"))


class Cli:
    """Runs `papertrend ...` in-process against the test's database."""

    def __init__(self, settings: Settings) -> None:
        # Embedding thousands of papers takes minutes: tests that need vectors embed on purpose.
        self.env = {"PAPERTREND_DATABASE_URL": str(settings.database_url), "PAPERTREND_EMBED_ON_IMPORT": "false"}
        if not settings.is_sqlite:
            self.env["PAPERTREND_SECRET_KEY"] = PG_SECRET
        if settings.snapshot_dir:
            self.env["PAPERTREND_SNAPSHOT_DIR"] = settings.snapshot_dir

    def __call__(self, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> Result:
        result = CliRunner(env={**self.env, **(env or {})}).invoke(cli, list(args), catch_exceptions=False)
        if ok and result.exit_code != 0:
            raise AssertionError(f"papertrend {' '.join(args)} exited {result.exit_code}:\n{result.output}")
        return result


@pytest.fixture
def run_cli(settings: Settings) -> Cli:
    return Cli(settings)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to loopback only: a name lookup for any other host fails the test at once
    (instead of a real request to arXiv, GitHub or a CDN, or a hang where there is no network).
    It covers this process; servers the tests start are pointed at loopback by their settings."""
    import socket

    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "None") and not name.startswith("127."):
            raise AssertionError(f"a test tried to reach {name!r}: network traffic in tests goes to loopback only")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
