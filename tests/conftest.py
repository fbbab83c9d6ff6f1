"""Shared fixtures: a fresh SQLite file per test, the real shared data, the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from papertrend.cli import cli
from papertrend.config import Settings, load_settings
from papertrend.store import open_store
from papertrend.store import Store

ROOT = Path(__file__).resolve().parent.parent
# A byte-for-byte copy of the shared real data set (see its SOURCES.md), so a fresh clone tests alone.
SHARED = ROOT / "tests" / "fixtures" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the shared data set is missing: expected it at {SHARED}")
    return SHARED


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(database_url=f"sqlite:///{tmp_path / 'papers.db'}")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings)
    yield s
    s.close()


class Templates:
    """Databases that are expensive to build (embeddings), built once per test session and
    copied into each test's own file, so every test still starts from the same state."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, Path] = {}

    def copy(self, key: str, settings: Settings, build: Callable[[Store, Settings, Path], None]) -> Store:
        """A store at ``settings``' own file, holding what ``build(store, settings, workdir)`` made."""
        if key not in self.built:
            workdir = self.root / key
            workdir.mkdir()
            template = settings.replace(database_url=f"sqlite:///{workdir / 'template.db'}")
            store = open_store(template)
            build(store, template, workdir)
            store.close()  # the last connection closing checkpoints the WAL into the file
            self.built[key] = workdir / "template.db"
        target = settings.sqlite_path
        assert target is not None and not target.exists(), "copy a template into a fresh database file only"
        shutil.copyfile(self.built[key], target)
        return open_store(settings)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return Templates(tmp_path_factory.mktemp("templates"))


class Cli:
    """Runs `papertrend ...` in-process against the test's database."""

    def __init__(self, settings: Settings) -> None:
        # Embedding thousands of papers takes minutes: tests that need vectors embed on purpose.
        self.env = {"PAPERTREND_DATABASE_URL": str(settings.database_url), "PAPERTREND_EMBED_ON_IMPORT": "false"}

    def __call__(self, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> Result:
        result = CliRunner(env={**self.env, **(env or {})}).invoke(cli, list(args), catch_exceptions=False)
        if ok and result.exit_code != 0:
            raise AssertionError(f"papertrend {' '.join(args)} exited {result.exit_code}:\n{result.output}")
        return result


@pytest.fixture
def run_cli(settings: Settings) -> Cli:
    return Cli(settings)
