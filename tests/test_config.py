"""Settings from TOML and PAPERTREND_* variables; secrets masked; every setting documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrend.config import DEV_SECRET, SETTINGS, load_settings
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
    with pytest.raises(ConfigError, match="secret_key is not set"):
        load_settings(None, {"PAPERTREND_ENVIRONMENT": "production"})
    with pytest.raises(ConfigError, match="too short"):
        load_settings(None, {"PAPERTREND_ENVIRONMENT": "production", "PAPERTREND_SECRET_KEY": "abc"})


# SQLite only, on purpose: a secret made and kept beside the database file is SQLite's (a
# PostgreSQL deployment must set its own: load_settings refuses to start without one).
def test_development_makes_its_own_secret_and_keeps_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'papers.db'}"
    first = load_settings(database_url=url)
    keyfile = tmp_path / "db" / "secret_key"
    assert first.secret_key not in ("", DEV_SECRET) and len(first.secret_key) >= 32
    assert keyfile.stat().st_mode & 0o777 == 0o600
    assert load_settings(database_url=url).secret_key == first.secret_key  # kept across restarts
    assert load_settings(database_url=f"sqlite:///{tmp_path / 'other.db'}").secret_key != first.secret_key


# SQLite only, on purpose: the secret under test is the one made beside the SQLite file.
def test_a_link_forged_with_the_old_public_secret_acts_for_nobody(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from papertrend.digest.links import make_token
    from papertrend.store import open_store, utcnow
    from papertrend.web.app import create_app

    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'papers.db'}")
    store = open_store(settings)
    for i in range(8):
        store.digests.upsert_pending(f"s{i}@example.org", "daily", [], [], [], utcnow(), "2999-01-01")
    client = TestClient(create_app(settings, store))
    public = settings.replace(secret_key=DEV_SECRET)
    for sid in range(1, 9):
        subscriber = store.digests.get(sid)
        assert subscriber is not None
        forged = make_token(public, "prefs", subscriber)
        assert client.get("/preferences", params={"token": forged}).status_code == 400
        assert client.post("/unsubscribe", params={"token": make_token(public, "unsub", subscriber)}).status_code == 400
    genuine = make_token(settings, "prefs", store.digests.get(1))
    assert client.get("/preferences", params={"token": genuine}).status_code == 200


def test_config_show_masks_secrets(run_cli) -> None:
    shown = json.loads(run_cli("config", "show", "--json", env={"PAPERTREND_GITHUB_TOKEN": "ghp_secret"}).stdout)
    assert shown["github_token"] == "********"
    assert shown["database_url"] == run_cli.env["PAPERTREND_DATABASE_URL"]  # no password in it: shown whole


def test_config_show_masks_the_database_password(run_cli) -> None:
    url = "postgresql+psycopg://papertrend:s3cr%40t@db.example.org:5432/papertrend"
    shown = json.loads(run_cli("config", "show", "--json", env={"PAPERTREND_DATABASE_URL": url,
                                                                 "PAPERTREND_SECRET_KEY": "x" * 32}).stdout)
    assert shown["database_url"] == "postgresql+psycopg://papertrend:********@db.example.org:5432/papertrend"


def test_every_setting_is_documented_in_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]
    assert not missing, f"README.md does not document: {missing}"


def test_db_upgrade_is_idempotent(run_cli, empty_database_url: str) -> None:
    run_cli.env["PAPERTREND_DATABASE_URL"] = empty_database_url   # (the test's own is migrated on PostgreSQL)
    assert "0001_initial" in run_cli("db", "upgrade").stdout
    assert "up to date" in run_cli("db", "upgrade").stdout
    assert "pending migrations: none" in run_cli("db", "status").stdout
