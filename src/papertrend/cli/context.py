"""What every command shares: the settings and store of this invocation, and the consoles."""

from __future__ import annotations

import os

import click
from rich.console import Console

from ..config import Settings, load_settings
from ..store import Store, open_store

err = Console(stderr=True)
out = Console()


class Context:
    def __init__(self, config_file: str | None, database_url: str | None) -> None:
        self.config_file = config_file
        self.database_url = database_url
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file, os.environ, database_url=self.database_url)
        return self._settings

    def store(self, ready: bool = True) -> Store:
        """The store, closed when the command ends (a PostgreSQL connection left to the garbage
        collector is a leak). ``ready``: the schema is created or checked first."""
        store = open_store(self.settings) if ready else Store(self.settings)
        click.get_current_context().call_on_close(store.close)
        return store


pass_ctx = click.make_pass_decorator(Context)
