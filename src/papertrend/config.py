"""Settings: one object, built at the edge (CLI, app factory, tests) and passed in.

Every setting is declared once in ``SETTINGS`` with its default and help text. Values come,
lowest priority first, from the defaults, a TOML file, then environment variables named
``PAPERTREND_<NAME>``. Library code never reads ``os.environ``: the CLI hands the environment
to :func:`load_settings`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
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


def _setting(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class Settings:
    """The effective configuration: every setting, declared once with its default and help.
    Build it with :func:`load_settings` or ``Settings(**values)``."""

    database_url: str = _setting("sqlite:///var/papertrend.db",
                         "Where papers live: sqlite:///path/to/file.db or postgresql+psycopg://user@host/db")
    environment: str = _setting("development", "development or production; production refuses to start without "
                                "a secret_key")
    secret_key: Secret = _setting(Secret(DEV_SECRET), "Signs links in mail, sessions and forms; in development a "
                                  "random one is made and kept beside the database")
    host: str = _setting("127.0.0.1", "Address `papertrend serve` listens on")
    port: int = _setting(8000, "Port `papertrend serve` listens on")
    workers: int = _setting(1, "Web worker processes for `papertrend serve`")
    base_url: str = _setting("http://127.0.0.1:8000", "Public address of the site, used in links in mail and feeds")
    site_name: str = _setting("papertrend", "Name shown in page headers and mail")
    page_size: int = _setting(50, "Papers per list page")
    page_cache: bool = _setting(True, "Keep recently served list, paper and trending pages in memory until the "
                                      "data changes (off: every request renders; for measuring and debugging)")
    import_batch_size: int = _setting(2000, "Records written per transaction while importing")
    max_abstract_chars: int = _setting(100000, "Longer abstracts are rejected at import")
    embed_on_import: bool = _setting(True,
                         "Compute embeddings for new papers when importing (else run `papertrend embed`)")
    embedding_max_tokens: int = _setting(128, "Word pieces of title + abstract the embedding model reads")
    search_vector_weight: float = _setting(0.1, "Weight of meaning (vectors) against words (bm25) in hybrid search")
    vector_index: str = _setting("exact",
                         "exact (numpy, best up to ~100k papers), hnsw (faiss, approximate, for large corpora) or "
                         "pgvector (PostgreSQL's HNSW index, in the database; after `papertrend index pgvector`)")
    pgvector_ef_search: int = _setting(200, "With vector_index = pgvector: candidates pgvector's HNSW scan keeps "
                                       "(efSearch; at least the results asked for). 200: recall@10 0.99 at 100k")
    search_lexical_pivot: float = _setting(0.0,
        "Best bm25 score below which a query counts as weak in words and meaning takes over (0: off)")
    github_api_url: str = _setting("https://api.github.com",
                         "GitHub REST API base URL (tests and mirrors point it elsewhere)")
    github_token: Secret = _setting(Secret(""), "Optional GitHub token for star refreshes")
    arxiv_api_url: str = _setting("https://export.arxiv.org/api/query", "arXiv query API URL")
    oai_url: str = _setting("https://oaipmh.arxiv.org/oai", "arXiv OAI-PMH base URL")
    hf_endpoint: str = _setting("https://huggingface.co", "Hugging Face Hub endpoint for daily papers")
    arxiv_categories: str = _setting("cs.LG,cs.CL,cs.CV,cs.AI",
                         "arXiv categories the worker ingests (comma-separated)")
    arxiv_min_interval: float = _setting(3.0,
                         "Seconds between requests to arXiv, across all processes (arXiv's terms: 3)")
    hf_min_interval: float = _setting(1.0, "Seconds between requests to the Hugging Face endpoint")
    schedule_arxiv: str = _setting("0 1 * * 1-5", "Cron (UTC) for arXiv ingestion: after arXiv's daily announcement")
    schedule_hf: str = _setting("0 */4 * * *", "Cron (UTC) for Hugging Face daily papers")
    schedule_stars: str = _setting("0 3 * * *", "Cron (UTC) for the GitHub star refresh")
    schedule_trending: str = _setting("*/30 * * * *", "Cron (UTC) for the trending recompute")
    schedule_metadata: str = _setting("30 5 * * *", "Cron (UTC) for the arXiv metadata job: categories for papers "
                                      "without one, arXiv matches for listing-only papers")
    arxiv_metadata_batch: int = _setting(100, "arXiv ids asked for in one request by the metadata job")
    schedule_thumbnails: str = _setting("15 */4 * * *", "Cron (UTC) for fetching new papers' thumbnails")
    thumbnail_dir: str = _setting("var/thumbnails", "Folder of the local thumbnail cache (served at /thumbnails/)")
    thumbnail_max_bytes: int = _setting(500_000, "Largest thumbnail fetched, in bytes; larger ones are refused")
    thumbnail_origin: str = _setting("https://cdn-thumbnails.huggingface.co",
                                     "Where thumbnails are fetched from: only Hugging Face's thumbnail addresses are "
                                     "fetched, from this origin (a mirror, or a loopback server in tests)")
    contact_email: str = _setting("", "Contact address sent in the User-Agent to arXiv and GitHub")
    smtp_host: str = _setting("", "SMTP server; empty writes mail to the local outbox shown at /outbox")
    smtp_port: int = _setting(25, "SMTP port")
    smtp_security: str = _setting("none", "none, starttls or tls")
    smtp_user: str = _setting("", "SMTP user name")
    smtp_password: Secret = _setting(Secret(""), "SMTP password")
    mail_from: str = _setting("papertrend <papertrend@localhost>", "From address of digests")
    mail_rate: float = _setting(20.0, "Messages per second at most")
    mail_lease_seconds: float = _setting(300.0,
                         "How long a sender holds claimed outbox rows before another may take them")
    digest_max_papers: int = _setting(10, "Papers in one digest at most")
    bounce_limit: int = _setting(3, "Hard bounces (5xx) after which an address is suppressed")
    max_body_bytes: int = _setting(1_000_000, "Largest request body the web app reads (forms, API posts); larger "
                                   "ones get 413")
    web_sends_mail: bool = _setting(True, "The web process sends queued mail (confirmations, sign-in links) "
                                          "in a background thread; turn off when a worker sends it")
    smtp_timeout: float = _setting(30.0, "Seconds to wait for the SMTP server before giving up on it")
    snapshot_dir: str = _setting("", "Folder of the search indexes' snapshot files (written by the worker, mapped "
                                 "read-only by web processes); empty: `snapshots` beside the SQLite database "
                                 "(var/snapshots for other databases)")
    schedule_snapshots: str = _setting("20 * * * *", "Cron (UTC) for writing snapshots of the search indexes "
                                       "(only when they changed)")
    schedule_mail: str = _setting("* * * * *", "Cron (UTC) for the worker's sending of queued mail")
    schedule_digest: str = _setting("0 7 * * *",
                         "Cron (UTC) for building and sending digests (weekly ones on Mondays)")
    submission_max_age_days: int = _setting(14, "Papers readers submit must be at most this many days old "
                                            "(by their first arXiv version)")
    submission_daily_cap: int = _setting(5, "Papers one account may submit in 24 hours")
    comment_max_chars: int = _setting(10000, "Longest comment, in characters")
    comments_per_hour: int = _setting(30, "Comments (and edits) one account may post in an hour")
    votes_per_minute: int = _setting(60, "Upvotes, undos and saves one account may make in a minute")
    vote_fresh_account_hours: float = _setting(24.0, "Votes from accounts younger than this (hours) are damped "
                                               "in trending")
    vote_fresh_weight: float = _setting(0.25, "What a vote from a fresh account weighs in trending (1: a full vote)")
    trending_refresh_seconds: float = _setting(5.0, "After an upvote, the web process recomputes trending this many "
                                               "seconds later (votes in between share it; 0: leave it to the worker)")

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

    def as_display_dict(self) -> dict[str, Any]:
        """Every setting, secrets masked: what `papertrend config show` prints."""
        out: dict[str, Any] = {}
        for s in SETTINGS:
            value = getattr(self, s.name)
            out[s.name] = value.masked() if isinstance(value, Secret) else value
        # A PostgreSQL URL carries its password: shown as masked as any other secret.
        out["database_url"] = re.sub(r"^([^:/]+://[^:/@]*:)[^@]+@", r"\1********@", str(self.database_url))
        return out

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")

    @property
    def snapshot_path(self) -> Path:
        """Where the index snapshots are: ``snapshot_dir``, or beside the SQLite database."""
        if self.snapshot_dir:
            return Path(self.snapshot_dir)
        db = self.sqlite_path
        return db.parent / "snapshots" if db is not None else Path("var") / "snapshots"

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a sqlite:/// URL (None for in-memory or other engines)."""
        url = str(self.database_url)
        if not url.startswith("sqlite:///"):
            return None
        path = url[len("sqlite:///"):]
        return Path(path) if path and path != ":memory:" else None


_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "Secret": Secret}
# The registry `config show`, the README and tests/test_config.py read: derived from Settings.
SETTINGS: tuple[Setting, ...] = tuple(Setting(f.name, f.default, f.metadata["help"], _TYPES[str(f.type)])
                                      for f in dataclasses.fields(Settings))

_BY_NAME = {s.name: s for s in SETTINGS}


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
    if settings.secret_key in (DEV_SECRET, ""):
        if settings.environment == "production":
            raise ConfigError("secret_key is not set: set PAPERTREND_SECRET_KEY (a long random string) in production")
        settings = settings.replace(secret_key=_development_secret(settings))
    if len(settings.secret_key) < 16:
        raise ConfigError("secret_key is too short: use at least 16 random characters")
    if settings.vector_index == "pgvector" and settings.is_sqlite:
        raise ConfigError("setting vector_index: 'pgvector' needs PostgreSQL, and database_url is SQLite; "
                          "use exact or hnsw")
    return settings


def _development_secret(settings: Settings) -> str:
    """Development never signs with a public default: a random secret made on first run and kept
    beside the SQLite database (``secret_key`` in its folder, readable by its owner only), so links
    keep working across restarts. Other databases get one per process."""
    path = settings.sqlite_path
    if path is None:
        # Every process of a deployment must sign alike (the worker mails links the web checks).
        raise ConfigError("set secret_key (PAPERTREND_SECRET_KEY): only a SQLite file gets one made for it")
    keyfile = path.parent / "secret_key"
    keyfile.parent.mkdir(parents=True, exist_ok=True)
    if not keyfile.exists():
        # Written whole to a temporary file, then linked into place: another process starting at
        # the same moment sees the complete secret or none, never an empty or partial file.
        tmp = keyfile.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(tmp, keyfile)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            tmp.unlink()
    return keyfile.read_text(encoding="ascii").strip()
