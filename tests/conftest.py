"""Shared fixtures: a fresh SQLite file per test, the real shared data, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from papertrend.cli import cli
from papertrend.config import Settings, load_settings
from papertrend.jobs import open_store
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
def store(settings: Settings) -> Store:
    s = open_store(settings)
    yield s
    s.close()


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
