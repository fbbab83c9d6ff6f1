"""Table definitions: the current shape of the database, used by queries.

Migrations (``migrations.py``) create and change the tables with their own DDL and never use
these objects, so changing a definition here means adding a migration; tests/test_migrations.py
checks that a migrated database has exactly these columns. The papers table is derived from the
one declaration of a paper's fields (``models.Paper``).
Dates are ISO ``YYYY-MM-DD`` text and times ISO-8601 UTC text, so the schema reads the same
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData,
                        PrimaryKeyConstraint, String, Table, Text, UniqueConstraint)

from ..models import PAPER_FIELDS, field_kind

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("name", String(200), primary_key=True),
    Column("applied_at", String(40), nullable=False),
)

def paper_column_name(name: str) -> str:
    """The column a Paper field is stored in: list fields as JSON text in ``<name>_json``."""
    return f"{name}_json" if field_kind(name) == "json" else name


def _paper_columns() -> list[Column[Any]]:
    """One column per Paper field (models.PAPER_FIELDS), typed by its kind."""
    types: dict[str, Any] = {"id": String(64), "text": Text, "date": String(10), "int": Integer, "json": Text}
    out = []
    for f in PAPER_FIELDS:
        kind = f.metadata["kind"]
        name = paper_column_name(f.name)
        if f.name == "id":
            out.append(Column(name, types[kind], primary_key=True))
        elif kind == "json":
            out.append(Column(name, Text, nullable=False, default="[]"))
        elif f.name == "title":
            out.append(Column(name, Text, nullable=False))
        elif f.default not in (None, dataclasses.MISSING):
            out.append(Column(name, types[kind], nullable=False, default=f.default))
        else:
            out.append(Column(name, types[kind]))
    return out


# The paper's own fields, then the store's bookkeeping about it.
papers = Table(
    "papers", metadata,
    *_paper_columns(),
    Column("title_key", Text, nullable=False),              # normalised title: matches listings to papers
    Column("primary_category", String(40)),
    Column("metadata_source", String(20)),                  # the source whose metadata is kept
    Column("signals_observed_at", String(40)),              # when the stored signals were observed
    Column("first_seen", String(40), nullable=False),
    Column("last_changed", String(40), nullable=False),
    Index("ix_papers_list_date_upvotes", "list_date", "upvotes"),
    Index("ix_papers_title_key", "title_key"),
    Index("ix_papers_published", "published"),
)
BOOKKEEPING_COLUMNS = ("title_key", "primary_category", "metadata_source", "signals_observed_at", "first_seen",
                       "last_changed")

paper_categories = Table(
    "paper_categories", metadata,
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("category", String(40), nullable=False),
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("paper_id", "category"),
    Index("ix_paper_categories_category", "category"),
)

# Signals are time series: each observation is a row, never an overwritten number.
paper_signals = Table(
    "paper_signals", metadata,
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(40), nullable=False),
    Column("observed_at", String(40), nullable=False),
    Column("upvotes", Integer),
    Column("num_comments", Integer),
    PrimaryKeyConstraint("paper_id", "source", "observed_at"),
)

repo_stars = Table(
    "repo_stars", metadata,
    Column("repo", String(300), nullable=False),       # owner/name, lower case
    Column("observed_at", String(40), nullable=False),
    Column("stars", Integer, nullable=False),
    Column("source", String(40), nullable=False),
    PrimaryKeyConstraint("repo", "observed_at", "source"),
)

# Provenance: which source said what about a paper, and since when.
paper_sources = Table(
    "paper_sources", metadata,
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(40), nullable=False),
    Column("ref", Text, nullable=False),
    Column("first_run_id", Integer),
    Column("first_seen", String(40), nullable=False),
    Column("raw_json", Text),
    PrimaryKeyConstraint("paper_id", "source", "ref"),
)

ingest_runs = Table(
    "ingest_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("status", String(20), nullable=False, default="running"),
    Column("new", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("errors", Text, nullable=False, default=""),
)

# What we last learned from GitHub about a repository: conditional requests and resuming.
repos = Table(
    "repos", metadata,
    Column("repo", String(300), primary_key=True),    # owner/name, lower case
    Column("etag", Text),
    Column("stars", Integer),
    Column("status", String(20), nullable=False, default="new"),   # new, ok, gone, error
    Column("last_checked", String(40)),
    Column("error", Text),
)

# Trending, computed by `papertrend rank recompute` and read by pages: one row per window and paper.
trending = Table(
    "trending", metadata,
    Column("window", String(10), nullable=False),
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("velocity_part", Float, nullable=False),
    Column("stars_part", Float, nullable=False),
    Column("upvotes_part", Float, nullable=False),
    Column("comments_part", Float, nullable=False),
    Column("decay", Float, nullable=False),
    Column("stars_gained", Integer),
    Column("gain_days", Float),
    Column("age_days", Float, nullable=False),
    Column("anchor", String(40), nullable=False),
    Column("computed_at", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("local_part", Float, nullable=False, default=0.0),   # what upvotes on this site add
    Column("local_votes", Float, nullable=False, default=0.0),  # those upvotes, damped (rank/trending.py)
    PrimaryKeyConstraint("window", "paper_id"),
    Index("ix_trending_window_rank", "window", "rank"),
)

# One embedding per paper and model: float32 little-endian bytes. The vector index is built
# from this table, so the database stays the single source of truth.
# Who wrote what, by normalised name (ids.author_key): the author pages' index. Kept by the
# papers store's write path beside paper_categories.
paper_authors = Table(
    "paper_authors", metadata,
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name_key", String(200), nullable=False),
    PrimaryKeyConstraint("paper_id", "position"),
    Index("ix_paper_authors_name_key", "name_key"),
)

# Thumbnails fetched into the local cache (enrich/thumbnails.py): one row per paper whose
# thumbnail_url was tried, with the file served from papertrend itself, or why there is none.
paper_thumbnails = Table(
    "paper_thumbnails", metadata,
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("url", Text, nullable=False),               # the address fetched (a new one is fetched again)
    Column("file", String(100)),                       # name in the thumbnail folder; None when it failed
    Column("status", String(20), nullable=False),      # ok, error
    Column("error", Text),
    Column("fetched_at", String(40), nullable=False),
)

paper_vectors = Table(
    "paper_vectors", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # lets an index load only what is new
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("model", String(60), nullable=False),
    Column("text_hash", String(16), nullable=False),
    Column("vector", LargeBinary, nullable=False),
)

# One row per change to a paper's searchable text (insert, edit, delete), written by triggers:
# the in-memory full-text index (search/lexical.py) reads only the rows after the last it saw.
paper_text_log = Table(
    "paper_text_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("paper_rowid", Integer, nullable=False),
)

# Politeness shared by every process of a deployment: the next moment a request to a remote
# service may start. Taking a slot writes this row inside a write transaction.
rate_limits = Table(
    "rate_limits", metadata,
    Column("name", String(60), primary_key=True),
    Column("next_at", Float, nullable=False),
    Column("holder", String(120)),
)

# Where an interrupted harvest resumes: a window and offset, or an OAI resumption token.
ingest_cursors = Table(
    "ingest_cursors", metadata,
    Column("name", String(300), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

job_runs = Table(
    "job_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(60), nullable=False),
    Column("scheduled_for", String(40)),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("status", String(20), nullable=False),       # running, ok, failed
    Column("counts", Text, nullable=False, default="{}"),
    Column("error", Text),
    Column("worker", String(120)),
    Index("ix_job_runs_job_started", "job", "started_at"),
)

# One run of a job at a time across workers: a lease that expires if its holder dies.
job_locks = Table(
    "job_locks", metadata,
    Column("job", String(60), primary_key=True),
    Column("holder", String(120), nullable=False),
    Column("until", Float, nullable=False),
)

subscribers = Table(
    "subscribers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),     # lower-cased
    Column("status", String(20), nullable=False),                   # pending, confirmed, unsubscribed, suppressed
    Column("frequency", String(10), nullable=False, default="daily"),
    Column("topics_json", Text, nullable=False, default="[]"),
    Column("authors_json", Text, nullable=False, default="[]"),
    Column("categories_json", Text, nullable=False, default="[]"),
    Column("paused", Boolean, nullable=False, default=False),
    Column("hard_bounces", Integer, nullable=False, default=0),
    Column("created_at", String(40), nullable=False),
    Column("confirmed_at", String(40)),
    Column("expires_at", String(40)),
    Column("unsubscribed_at", String(40)),
    Column("link_secret", String(64)),          # binds links in mail to this sign-up; renewed to revoke them
)

# Scholar Inbox's rule: a paper reaches a subscriber at most once, across all digests.
sent_papers = Table(
    "sent_papers", metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("paper_id", String(64), nullable=False),
    Column("period", String(20), nullable=False),
    PrimaryKeyConstraint("subscriber_id", "paper_id"),
)

# Every message is a row before it is mail: composed once per (subscriber, kind, period).
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE")),
    Column("kind", String(20), nullable=False),          # confirm, digest, signin
    Column("period", String(20), nullable=False),        # 2026-07-31, 2026-W31, or a confirm nonce
    Column("message_id", String(200), nullable=False, unique=True),
    Column("to_addr", String(320), nullable=False),
    Column("raw", LargeBinary, nullable=False),          # the complete RFC 5322 message
    Column("subject", Text, nullable=False),
    Column("status", String(20), nullable=False),        # pending, sending, sent, retrying, failed, bounced
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("lease_until", Float),
    Column("last_error", Text),
    Column("transport", String(20)),                     # smtp, or local when no SMTP server is set
    Column("created_at", String(40), nullable=False),
    Column("sent_at", String(40)),
    Column("claimed_by", String(40)),    # the claim's random token: only its sender may mark or release it
    UniqueConstraint("subscriber_id", "kind", "period", name="uq_outbox_subscriber_kind_period"),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
    sqlite_autoincrement=True,
)

# Accounts: sign-in by emailed link, no password. Ids are never handed out twice.
users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("role", String(20), nullable=False, default="reader"),     # reader, moderator, admin
    Column("status", String(20), nullable=False, default="active"),   # active, suspended
    Column("session_epoch", Integer, nullable=False, default=0),      # bumped: every session ends
    Column("created_at", String(40), nullable=False),
    Column("last_signed_in", String(40)),
    sqlite_autoincrement=True,
)

# One row per emailed sign-in link: only its hash is kept; single use, short-lived.
signin_tokens = Table(
    "signin_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("email", String(320), nullable=False),     # proving this address makes or opens its account
    Column("created_at", String(40), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", String(40)),
)

# Abuse limits on the subscribe form: one row per attempt, keyed by client address or email.
rate_events = Table(
    "rate_events", metadata,
    Column("key", String(400), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_rate_events_key_at", "key", "at"),
)

# What one process learned that others need: e.g. whether the SMTP server takes SMTPUTF8.
app_state = Table(
    "app_state", metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

# A reader's personal feed address carries an HMAC of this nonce (web/feeds.py): a new nonce, or
# none, and the old address stops working. One address per account.
feed_secrets = Table(
    "feed_secrets", metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=False),
    Column("nonce", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)

# Personal API tokens (migration 0012): the Bearer token of an account's API writes (comment,
# upvote). Only its SHA-256 is kept; a revoked token's row is deleted.
api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("last_used_at", String(40)),
    Index("ix_api_tokens_user", "user_id"),
    sqlite_autoincrement=True,
)

# -- the research community (migration 0009) ----------------------------------------------------
# One upvote per account and paper: the primary key decides, never a read before the write.
votes = Table(
    "votes", metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("at", Float, nullable=False),                 # epoch seconds
    Column("client", String(32), nullable=False),        # a keyed hash of the voter's address
    PrimaryKeyConstraint("user_id", "paper_id"),
    Index("ix_votes_paper_at", "paper_id", "at"),
)

# Every community change, numbered: the newest number is part of the data version (pages show
# fresh counts at once), and the votes and unvotes are the local upvotes' time series.
community_events = Table(
    "community_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("paper_id", String(64)),
    Column("user_id", Integer),
    sqlite_autoincrement=True,
)

comments = Table(
    "comments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Integer, ForeignKey("comments.id", ondelete="CASCADE")),
    Column("body", Text, nullable=False),                # Markdown as written; rendered when shown
    Column("status", String(20), nullable=False, default="visible"),   # visible, hidden, deleted
    Column("created_at", Float, nullable=False),
    Column("edited_at", Float),
    Index("ix_comments_paper", "paper_id", "created_at"),
    Index("ix_comments_user", "user_id", "created_at"),
    sqlite_autoincrement=True,
)

library = Table(
    "library", metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    Column("at", Float, nullable=False),
    PrimaryKeyConstraint("user_id", "paper_id"),
)

submissions = Table(
    "submissions", metadata,
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_submissions_user_at", "user_id", "at"),
)

reports = Table(
    "reports", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),          # paper, comment
    Column("target", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("resolved_at", Float),
    UniqueConstraint("kind", "target", "user_id", name="uq_reports_once"),
    Index("ix_reports_open", "resolved_at", "at"),
    sqlite_autoincrement=True,
)

hidden_papers = Table(
    "hidden_papers", metadata,
    Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    Column("at", Float, nullable=False),
)

moderation_log = Table(
    "moderation_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("action", String(20), nullable=False),
    Column("kind", String(20), nullable=False),          # paper, comment, user
    Column("target", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    sqlite_autoincrement=True,
)

profiles = Table(
    "profiles", metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("votes_public", Boolean, nullable=False, default=False),
)
