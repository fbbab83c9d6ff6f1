"""Settings: one object, built at the edge (CLI, app factory, tests) and passed in.

Every setting is declared once in ``SETTINGS`` with its default and help text. Values come,
lowest priority first, from the defaults, a TOML file, then environment variables named
``PAPERTREND_<NAME>``. Library code never reads ``os.environ``: the CLI hands the environment
to :func:`load_settings`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "PAPERTREND_"
DEV_SECRET = "dev-secret-change-me"


class Secret(str):
    """A string that never shows itself in reprs, logs or ``config show``."""

    def __repr__(self) -> str:
        return "Secret('********')" if self else "Secret('')"

    def masked(self) -> str:
        return "********" if self else ""


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    type: type = str


SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", "sqlite:///var/papertrend.db",
            "Where papers live: sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"),
    Setting("environment", "development",
            "development or production; production refuses the default secret_key"),
    Setting("secret_key", Secret(DEV_SECRET), "Signs links in emails and forms", Secret),
    Setting("host", "127.0.0.1", "Address `papertrend serve` listens on"),
    Setting("port", 8000, "Port `papertrend serve` listens on", int),
    Setting("workers", 1, "Web worker processes for `papertrend serve`", int),
    Setting("base_url", "http://127.0.0.1:8000", "Public address of the site, used in links in mail and feeds"),
    Setting("site_name", "papertrend", "Name shown in page headers and mail"),
    Setting("page_size", 50, "Papers per list page", int),
    Setting("import_batch_size", 2000, "Records written per transaction while importing", int),
    Setting("max_abstract_chars", 100_000, "Longer abstracts are rejected at import", int),
    Setting("embed_on_import", True, "Compute embeddings for new papers when importing (else run `papertrend embed`)", bool),
    Setting("embedding_max_tokens", 128, "Word pieces of title + abstract the embedding model reads", int),
    Setting("search_vector_weight", 0.1, "Weight of meaning (vectors) against words (bm25) in hybrid search", float),
    Setting("vector_index", "exact", "exact (numpy, best up to ~100k papers) or hnsw (faiss, approximate, for large corpora)"),
    Setting("search_lexical_pivot", 0.0, "Best bm25 score below which a query counts as weak in words and meaning takes over (0: off)", float),
    Setting("github_api_url", "https://api.github.com", "GitHub REST API base URL (tests and mirrors point it elsewhere)"),
    Setting("github_token", Secret(""), "Optional GitHub token for star refreshes", Secret),
    Setting("arxiv_api_url", "https://export.arxiv.org/api/query", "arXiv query API URL"),
    Setting("oai_url", "https://oaipmh.arxiv.org/oai", "arXiv OAI-PMH base URL"),
    Setting("hf_endpoint", "https://huggingface.co", "Hugging Face Hub endpoint for daily papers"),
    Setting("arxiv_categories", "cs.LG,cs.CL,cs.CV,cs.AI", "arXiv categories the worker ingests (comma-separated)"),
    Setting("arxiv_min_interval", 3.0, "Seconds between requests to arXiv, across all processes (arXiv's terms: 3)", float),
    Setting("hf_min_interval", 1.0, "Seconds between requests to the Hugging Face endpoint", float),
    Setting("schedule_arxiv", "0 1 * * 1-5", "Cron (UTC) for arXiv ingestion: after arXiv's daily announcement"),
    Setting("schedule_hf", "0 */4 * * *", "Cron (UTC) for Hugging Face daily papers"),
    Setting("schedule_stars", "0 3 * * *", "Cron (UTC) for the GitHub star refresh"),
    Setting("schedule_trending", "*/30 * * * *", "Cron (UTC) for the trending recompute"),
    Setting("contact_email", "", "Contact address sent in the User-Agent to arXiv and GitHub"),
    Setting("smtp_host", "", "SMTP server; empty writes mail to the local outbox shown at /outbox"),
    Setting("smtp_port", 25, "SMTP port", int),
    Setting("smtp_security", "none", "none, starttls or tls"),
    Setting("smtp_user", "", "SMTP user name"),
    Setting("smtp_password", Secret(""), "SMTP password", Secret),
    Setting("mail_from", "papertrend <papertrend@localhost>", "From address of digests"),
    Setting("mail_rate", 20.0, "Messages per second at most", float),
    Setting("mail_lease_seconds", 300.0, "How long a sender holds claimed outbox rows before another may take them", float),
    Setting("digest_max_papers", 10, "Papers in one digest at most", int),
    Setting("bounce_limit", 3, "Hard bounces (5xx) after which an address is suppressed", int),
    Setting("schedule_digest", "0 7 * * *", "Cron (UTC) for building and sending digests (weekly ones on Mondays)"),
    Setting("page_cache", True, "Keep recently served list, paper and trending pages in memory until the data changes "
            "(off: every request renders; for measuring and debugging)", bool),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _frozen_settings_class() -> type:
    fields = [(s.name, s.type, dataclasses.field(default=s.default)) for s in SETTINGS]
    return dataclasses.make_dataclass("Settings", fields, frozen=True)


_SettingsBase: Any = _frozen_settings_class()


class Settings(_SettingsBase):  # type: ignore[misc]
    """The effective configuration. Build it with :func:`load_settings` or ``Settings(**values)``."""

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

    def as_display_dict(self) -> dict[str, Any]:
        """Every setting, secrets masked: what `papertrend config show` prints."""
        out: dict[str, Any] = {}
        for s in SETTINGS:
            value = getattr(self, s.name)
            out[s.name] = value.masked() if isinstance(value, Secret) else value
        return out

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a sqlite:/// URL (None for in-memory or other engines)."""
        url = str(self.database_url)
        if not url.startswith("sqlite:///"):
            return None
        path = url[len("sqlite:///"):]
        return Path(path) if path and path != ":memory:" else None


def _coerce(name: str, value: Any) -> Any:
    setting = _BY_NAME.get(name)
    if setting is None:
        raise ConfigError(f"unknown setting {name!r}")
    try:
        if setting.type is Secret:
            return Secret(value)
        if setting.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return text in ("1", "true", "yes", "on")
        if setting.type is int and not isinstance(value, bool):
            return int(value)
        if setting.type is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: expected {setting.type.__name__}, got {value!r}") from exc


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Defaults, then the TOML file, then ``PAPERTREND_*`` variables, then explicit overrides."""
    values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: settings file not found") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        section = data.get("papertrend", data)
        for key, value in section.items():
            if key not in _BY_NAME:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, value)
    for key, value in (environ or {}).items():
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG":
            name = key[len(ENV_PREFIX):].lower()
            if name not in _BY_NAME:
                raise ConfigError(f"environment variable {key}: unknown setting {name!r}")
            values[name] = _coerce(name, value)
    for key, value in overrides.items():
        if value is not None:
            values[key] = _coerce(key, value)
    settings = Settings(**values)
    if settings.environment == "production" and settings.secret_key == DEV_SECRET:
        raise ConfigError("secret_key is the development default: set PAPERTREND_SECRET_KEY in production")
    return settings
