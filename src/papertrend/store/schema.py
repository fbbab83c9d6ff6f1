"""Table definitions: the current shape of the database, used by queries.

Migrations (``migrations.py``) create and change these tables; nothing creates them on import.
Dates are ISO ``YYYY-MM-DD`` text and times ISO-8601 UTC text, so the schema reads the same
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (Boolean, Column, Float, LargeBinary, UniqueConstraint, ForeignKey, Index, Integer, MetaData, PrimaryKeyConstraint,
                        String, Table, Text)

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("name", String(200), primary_key=True),
    Column("applied_at", String(40), nullable=False),
)

papers = Table(
    "papers", metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer),
    Column("title", Text, nullable=False),
    Column("title_key", Text, nullable=False),
    Column("abstract", Text, nullable=False, default=""),
    Column("authors_json", Text, nullable=False, default="[]"),
    Column("categories_json", Text, nullable=False, default="[]"),
    Column("primary_category", String(40)),
    Column("comment", Text),
    Column("doi", Text),
    Column("journal_ref", Text),
    Column("published", String(10)),
    Column("updated", String(10)),
    Column("abs_url", Text),
    Column("pdf_url", Text),
    Column("project_page", Text),
    Column("code_url", Text),
    Column("daily_date", String(10)),
    Column("list_date", String(10)),
    Column("submitter", Text),
    Column("organization", Text),
    Column("ai_summary", Text),
    Column("ai_keywords_json", Text, nullable=False, default="[]"),
    Column("metadata_source", String(20)),
    Column("upvotes", Integer, nullable=False, default=0),
    Column("num_comments", Integer, nullable=False, default=0),
    Column("github_stars", Integer),
    Column("signals_observed_at", String(40)),
    Column("trending_score", Float),
    Column("trending_reason", Text),
    Column("first_seen", String(40), nullable=False),
    Column("last_changed", String(40), nullable=False),
    Index("ix_papers_list_date_upvotes", "list_date", "upvotes"),
    Index("ix_papers_title_key", "title_key"),
    Index("ix_papers_published", "published"),
)

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
    PrimaryKeyConstraint("window", "paper_id"),
    Index("ix_trending_window_rank", "window", "rank"),
)

# One embedding per paper and model: float32 little-endian bytes. The vector index is built
# from this table, so the database stays the single source of truth.
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
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),          # confirm, digest
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
    UniqueConstraint("subscriber_id", "kind", "period", name="uq_outbox_subscriber_kind_period"),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)

# Abuse limits on the subscribe form: one row per attempt, keyed by client address or email.
rate_events = Table(
    "rate_events", metadata,
    Column("key", String(400), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_rate_events_key_at", "key", "at"),
)
