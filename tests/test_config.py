"""Settings from TOML and PAPERTREND_* variables; secrets masked; every setting documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrend.config import SETTINGS, load_settings
from papertrend.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_toml_then_env_then_override(tmp_path: Path) -> None:
    f = tmp_path / "papertrend.toml"
    f.write_text('port = 9000\nsite_name = "lab papers"\nsmtp_password = "hunter2"\n')
    s = load_settings(f, {"PAPERTREND_PORT": "9100", "PAPERTREND_DATABASE_URL": "sqlite:///x.db"})
    assert (s.port, s.site_name, s.database_url) == (9100, "lab papers", "sqlite:///x.db")
    assert s.as_display_dict()["smtp_password"] == "********"
    assert "hunter2" not in repr(s)


def test_bad_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(None, {"PAPERTREND_PROT": "1"})
    with pytest.raises(ConfigError, match="setting port: expected int"):
        load_settings(None, {"PAPERTREND_PORT": "eighty"})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 3")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="secret_key is the development default"):
        load_settings(None, {"PAPERTREND_ENVIRONMENT": "production"})


def test_config_show_masks_secrets(run_cli) -> None:
    shown = json.loads(run_cli("config", "show", "--json", env={"PAPERTREND_GITHUB_TOKEN": "ghp_secret"}).stdout)
    assert shown["github_token"] == "********" and shown["database_url"].startswith("sqlite:///")


def test_every_setting_is_documented_in_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]
    assert not missing, f"README.md does not document: {missing}"


def test_db_upgrade_is_idempotent(run_cli) -> None:
    assert "0001_initial" in run_cli("db", "upgrade").stdout
    assert "up to date" in run_cli("db", "upgrade").stdout
    assert "pending migrations: none" in run_cli("db", "status").stdout
