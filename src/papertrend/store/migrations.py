"""Named, ordered schema migrations, recorded in ``schema_migrations``.

Run by ``papertrend db upgrade`` (and automatically on an empty database). Never on import.
A migration is a function of a connection inside the upgrade's transaction; add new ones at
the end, never edit one that has shipped.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData,
                        PrimaryKeyConstraint, String, Table, Text, UniqueConstraint, inspect, select)
from sqlalchemy.engine import Connection

from ..ids import author_key

# Migrations carry their own DDL, as Alembic's and sqlite-utils' do: each one declares the
# tables it creates as they were when it shipped, in a MetaData of its own. Nothing here imports
# schema.py, so changing today's table objects can never change what an old migration does.

Migration = tuple[str, Callable[[Connection], None]]


def _create(conn: Connection, *tables: Table) -> None:
    for table in tables:
        table.create(conn, checkfirst=True)


def _initial(conn: Connection) -> None:
    m = MetaData()
    papers = Table(
        "papers", m,
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
    categories = Table(
        "paper_categories", m,
        Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
        Column("category", String(40), nullable=False),
        Column("position", Integer, nullable=False),
        PrimaryKeyConstraint("paper_id", "category"),
        Index("ix_paper_categories_category", "category"),
    )
    signals = Table(
        "paper_signals", m,
        Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
        Column("source", String(40), nullable=False),
        Column("observed_at", String(40), nullable=False),
        Column("upvotes", Integer),
        Column("num_comments", Integer),
        PrimaryKeyConstraint("paper_id", "source", "observed_at"),
    )
    stars = Table(
        "repo_stars", m,
        Column("repo", String(300), nullable=False),
        Column("observed_at", String(40), nullable=False),
        Column("stars", Integer, nullable=False),
        Column("source", String(40), nullable=False),
        PrimaryKeyConstraint("repo", "observed_at", "source"),
    )
    sources = Table(
        "paper_sources", m,
        Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
        Column("source", String(40), nullable=False),
        Column("ref", Text, nullable=False),
        Column("first_run_id", Integer),
        Column("first_seen", String(40), nullable=False),
        Column("raw_json", Text),
        PrimaryKeyConstraint("paper_id", "source", "ref"),
    )
    runs = Table(
        "ingest_runs", m,
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
    _create(conn, papers, categories, signals, stars, sources, runs)


def _trending(conn: Connection) -> None:
    m = MetaData()
    repos = Table(
        "repos", m,
        Column("repo", String(300), primary_key=True),
        Column("etag", Text),
        Column("stars", Integer),
        Column("status", String(20), nullable=False, default="new"),
        Column("last_checked", String(40)),
        Column("error", Text),
    )
    Table("papers", m, Column("id", String(64), primary_key=True))  # for the foreign key only
    trending = Table(
        "trending", m,
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
    _create(conn, repos, trending)
    # Repositories already linked by papers start out as never checked. (%% is a literal % for
    # drivers that use the format paramstyle.)
    like = "'https://github.com/%%'" if conn.dialect.paramstyle in ("format", "pyformat") else "'https://github.com/%'"
    conn.exec_driver_sql(
        "INSERT INTO repos (repo, status) SELECT DISTINCT lower(substr(code_url, 20)), 'new' FROM papers "
        f"WHERE code_url LIKE {like}")


FTS_COLUMNS = "paper_id UNINDEXED, title, abstract, authors, keywords"
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"  # search/lexical.py tokenizes the same way
_FTS_VALUES = ("new.id, new.title, new.abstract, "
               "(SELECT group_concat(value->>'name', ', ') FROM json_each(new.authors_json)), "
               "(SELECT group_concat(value, ', ') FROM json_each(new.ai_keywords_json))")


def _search(conn: Connection) -> None:
    m = MetaData()
    Table("papers", m, Column("id", String(64), primary_key=True))  # for the foreign key only
    vectors = Table(
        "paper_vectors", m,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False, unique=True),
        Column("model", String(60), nullable=False),
        Column("text_hash", String(16), nullable=False),
        Column("vector", LargeBinary, nullable=False),
    )
    _create(conn, vectors)
    if conn.dialect.name != "sqlite":
        return  # PostgreSQL gets its own full-text index in a later migration
    # The FTS table keeps its own copy of the text; triggers keep it in step with papers.
    conn.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS papers_fts USING fts5({FTS_COLUMNS}, "
                         f"tokenize = '{FTS_TOKENIZE}')")
    conn.exec_driver_sql(f"""CREATE TRIGGER IF NOT EXISTS papers_fts_insert AFTER INSERT ON papers BEGIN
        INSERT INTO papers_fts (rowid, paper_id, title, abstract, authors, keywords) VALUES (new.rowid, {_FTS_VALUES});
        END""")
    conn.exec_driver_sql("""CREATE TRIGGER IF NOT EXISTS papers_fts_delete AFTER DELETE ON papers BEGIN
        DELETE FROM papers_fts WHERE rowid = old.rowid; END""")
    conn.exec_driver_sql(f"""CREATE TRIGGER IF NOT EXISTS papers_fts_update
        AFTER UPDATE OF title, abstract, authors_json, ai_keywords_json ON papers BEGIN
        DELETE FROM papers_fts WHERE rowid = old.rowid;
        INSERT INTO papers_fts (rowid, paper_id, title, abstract, authors, keywords) VALUES (new.rowid, {_FTS_VALUES});
        END""")
    conn.exec_driver_sql(f"""INSERT INTO papers_fts (rowid, paper_id, title, abstract, authors, keywords)
        SELECT new.rowid, {_FTS_VALUES} FROM papers AS new""")


def _worker(conn: Connection) -> None:
    m = MetaData()
    rate_limits = Table(
        "rate_limits", m,
        Column("name", String(60), primary_key=True),
        Column("next_at", Float, nullable=False),
        Column("holder", String(120)),
    )
    cursors = Table(
        "ingest_cursors", m,
        Column("name", String(300), primary_key=True),
        Column("value", Text, nullable=False),
        Column("updated_at", String(40), nullable=False),
    )
    job_runs = Table(
        "job_runs", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("job", String(60), nullable=False),
        Column("scheduled_for", String(40)),
        Column("started_at", String(40), nullable=False),
        Column("finished_at", String(40)),
        Column("status", String(20), nullable=False),
        Column("counts", Text, nullable=False, default="{}"),
        Column("error", Text),
        Column("worker", String(120)),
        Index("ix_job_runs_job_started", "job", "started_at"),
    )
    job_locks = Table(
        "job_locks", m,
        Column("job", String(60), primary_key=True),
        Column("holder", String(120), nullable=False),
        Column("until", Float, nullable=False),
    )
    _create(conn, rate_limits, cursors, job_runs, job_locks)


def _digests(conn: Connection) -> None:
    m = MetaData()
    subscribers = Table(
        "subscribers", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320), nullable=False, unique=True),
        Column("status", String(20), nullable=False),
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
    sent = Table(
        "sent_papers", m,
        Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
        Column("paper_id", String(64), nullable=False),
        Column("period", String(20), nullable=False),
        PrimaryKeyConstraint("subscriber_id", "paper_id"),
    )
    outbox = Table(
        "outbox", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
        Column("kind", String(20), nullable=False),
        Column("period", String(20), nullable=False),
        Column("message_id", String(200), nullable=False, unique=True),
        Column("to_addr", String(320), nullable=False),
        Column("raw", LargeBinary, nullable=False),
        Column("subject", Text, nullable=False),
        Column("status", String(20), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", Float, nullable=False, default=0.0),
        Column("lease_until", Float),
        Column("last_error", Text),
        Column("transport", String(20)),
        Column("created_at", String(40), nullable=False),
        Column("sent_at", String(40)),
        UniqueConstraint("subscriber_id", "kind", "period", name="uq_outbox_subscriber_kind_period"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
    )
    rate_events = Table(
        "rate_events", m,
        Column("key", String(400), nullable=False),
        Column("at", Float, nullable=False),
        Index("ix_rate_events_key_at", "key", "at"),
    )
    _create(conn, subscribers, sent, outbox, rate_events)


def _text_log(conn: Connection) -> None:
    log = Table(
        "paper_text_log", MetaData(),
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("paper_rowid", Integer, nullable=False),
    )
    _create(conn, log)
    if conn.dialect.name != "sqlite":
        return
    for event, ref in (("INSERT", "new"), ("UPDATE OF title, abstract, authors_json, ai_keywords_json", "new"),
                       ("DELETE", "old")):
        name = "papers_text_log_" + event.split()[0].lower()
        conn.exec_driver_sql(f"""CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON papers BEGIN
            INSERT INTO paper_text_log (paper_rowid) VALUES ({ref}.rowid); END""")
    conn.exec_driver_sql("INSERT INTO paper_text_log (paper_rowid) SELECT rowid FROM papers ORDER BY rowid")


def _drop_dead_trending_columns(conn: Connection) -> None:
    # papers.trending_score / trending_reason were never written: the trending table holds scores.
    for column in ("trending_score", "trending_reason"):
        conn.exec_driver_sql(f"ALTER TABLE papers DROP COLUMN {column}")


def _accounts(conn: Connection) -> None:
    """Accounts, sign-in links, per-subscriber link secrets, shared state, and mail to people who
    are not subscribers (sign-in links): outbox.subscriber_id becomes optional."""
    m = MetaData()
    users = Table(
        "users", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320), nullable=False, unique=True),      # lower-cased
        Column("name", String(40), nullable=False, unique=True),        # shown on pages: /u/<name>
        Column("role", String(20), nullable=False, default="reader"),   # reader, moderator, admin
        Column("status", String(20), nullable=False, default="active"), # active, suspended
        Column("session_epoch", Integer, nullable=False, default=0),    # bumped: every session ends
        Column("created_at", String(40), nullable=False),
        Column("last_signed_in", String(40)),
        sqlite_autoincrement=True,   # ids are never handed out twice
    )
    tokens = Table(
        "signin_tokens", m,
        Column("token_hash", String(64), primary_key=True),            # sha256 of the emailed secret
        Column("email", String(320), nullable=False),                  # the account is made on first use
        Column("created_at", String(40), nullable=False),
        Column("expires_at", Float, nullable=False),
        Column("used_at", String(40)),
    )
    state = Table(
        "app_state", m,
        Column("name", String(100), primary_key=True),
        Column("value", Text, nullable=False),
        Column("updated_at", String(40), nullable=False),
    )
    _create(conn, users, tokens, state)
    # Links in mail are bound to a random secret of the subscriber, renewed when they sign up
    # again or unsubscribe: a kept link can never act for someone else, or after it should not.
    conn.exec_driver_sql("ALTER TABLE subscribers ADD COLUMN link_secret VARCHAR(64)")
    for (sid,) in conn.exec_driver_sql("SELECT id FROM subscribers").fetchall():
        conn.exec_driver_sql(_param("UPDATE subscribers SET link_secret = ? WHERE id = ?", conn),
                             (secrets.token_urlsafe(24), sid))
    if conn.dialect.name == "sqlite":
        # SQLite cannot drop NOT NULL: the outbox is rebuilt (nothing refers to it).
        conn.exec_driver_sql("ALTER TABLE outbox RENAME TO outbox_0007")
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_outbox_status_next")
        m2 = MetaData()
        Table("subscribers", m2, Column("id", Integer, primary_key=True))
        outbox = Table(
            "outbox", m2,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE")),
            Column("kind", String(20), nullable=False),
            Column("period", String(20), nullable=False),
            Column("message_id", String(200), nullable=False, unique=True),
            Column("to_addr", String(320), nullable=False),
            Column("raw", LargeBinary, nullable=False),
            Column("subject", Text, nullable=False),
            Column("status", String(20), nullable=False),
            Column("attempts", Integer, nullable=False, default=0),
            Column("next_attempt_at", Float, nullable=False, default=0.0),
            Column("lease_until", Float),
            Column("last_error", Text),
            Column("transport", String(20)),
            Column("created_at", String(40), nullable=False),
            Column("sent_at", String(40)),
            Column("claimed_by", String(40)),
            UniqueConstraint("subscriber_id", "kind", "period", name="uq_outbox_subscriber_kind_period"),
            Index("ix_outbox_status_next", "status", "next_attempt_at"),
            sqlite_autoincrement=True,
        )
        outbox.create(conn)
        columns = ("id, subscriber_id, kind, period, message_id, to_addr, raw, subject, status, attempts, "
                   "next_attempt_at, lease_until, last_error, transport, created_at, sent_at")
        conn.exec_driver_sql(f"INSERT INTO outbox ({columns}) SELECT {columns} FROM outbox_0007")
        conn.exec_driver_sql("DROP TABLE outbox_0007")
    else:
        conn.exec_driver_sql("ALTER TABLE outbox ALTER COLUMN subscriber_id DROP NOT NULL")
        conn.exec_driver_sql("ALTER TABLE outbox ADD COLUMN claimed_by VARCHAR(40)")


def _community(conn: Connection) -> None:
    """The research community: local upvotes (one per account, by the primary key), comments
    with one level of replies, a personal library, submissions, reports, hidden papers, the
    moderators' audit log, and an event log whose newest number is part of the data version.
    Trending keeps the part local upvotes add to a score."""
    m = MetaData()
    Table("users", m, Column("id", Integer, primary_key=True))
    Table("papers", m, Column("id", String(64), primary_key=True))
    user = lambda: Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)  # noqa: E731
    paper = lambda: Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"),  # noqa: E731
                           nullable=False)
    votes = Table(
        "votes", m, user(), paper(),
        Column("at", Float, nullable=False),                 # epoch seconds
        Column("client", String(32), nullable=False),        # a keyed hash of the voter's address
        PrimaryKeyConstraint("user_id", "paper_id"),
        Index("ix_votes_paper_at", "paper_id", "at"),
    )
    events = Table(
        "community_events", m,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("at", Float, nullable=False),
        Column("kind", String(20), nullable=False),          # vote, unvote, comment, save, hide, ...
        Column("paper_id", String(64)),
        Column("user_id", Integer),
        sqlite_autoincrement=True,
    )
    comments = Table(
        "comments", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        paper(), user(),
        Column("parent_id", Integer, ForeignKey("comments.id", ondelete="CASCADE")),
        Column("body", Text, nullable=False),
        Column("status", String(20), nullable=False, default="visible"),   # visible, hidden, deleted
        Column("created_at", Float, nullable=False),
        Column("edited_at", Float),
        Index("ix_comments_paper", "paper_id", "created_at"),
        Index("ix_comments_user", "user_id", "created_at"),
        sqlite_autoincrement=True,
    )
    library = Table(
        "library", m, user(), paper(),
        Column("at", Float, nullable=False),
        PrimaryKeyConstraint("user_id", "paper_id"),
    )
    submissions = Table(
        "submissions", m,
        Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
        user(),
        Column("at", Float, nullable=False),
        Index("ix_submissions_user_at", "user_id", "at"),
    )
    reports = Table(
        "reports", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("kind", String(20), nullable=False),          # paper, comment
        Column("target", String(64), nullable=False),
        user(),
        Column("reason", Text, nullable=False),
        Column("at", Float, nullable=False),
        Column("resolved_at", Float),
        UniqueConstraint("kind", "target", "user_id", name="uq_reports_once"),
        Index("ix_reports_open", "resolved_at", "at"),
        sqlite_autoincrement=True,
    )
    hidden = Table(
        "hidden_papers", m,
        Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
        Column("at", Float, nullable=False),
    )
    audit = Table(
        "moderation_log", m,
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
        "profiles", m,
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        Column("votes_public", Boolean, nullable=False, default=False),
    )
    _create(conn, votes, events, comments, library, submissions, reports, hidden, audit, profiles)
    conn.exec_driver_sql("ALTER TABLE trending ADD COLUMN local_part FLOAT NOT NULL DEFAULT 0")
    conn.exec_driver_sql("ALTER TABLE trending ADD COLUMN local_votes FLOAT NOT NULL DEFAULT 0")


# PostgreSQL's full text, made to give the in-memory index (search/lexical.py) exactly what SQLite's
# FTS5 table gives it: a ``papers.rowid`` (SQLite's implicit one is a real identity column here),
# a ``papers_fts`` table holding the same texts by rowid (authors and keywords joined by ", " in
# their stored order, as group_concat does), and ``paper_text_log``, both written by a trigger.
# ``terms`` is FTS5's own terms of the row as a tsvector (GIN-indexed, with positions for phrases);
# PostgreSQL cannot run FTS5's tokenizer, so the trigger empties it and the store fills it
# (store/fts_terms.py) in the same transaction as the import, or before the next search.
_PG_FTS_TEXTS = """NEW.title, NEW.abstract,
    (SELECT string_agg(a.value ->> 'name', ', ' ORDER BY a.n)
       FROM json_array_elements(NEW.authors_json::json) WITH ORDINALITY AS a(value, n)),
    (SELECT string_agg(k.value, ', ' ORDER BY k.n)
       FROM json_array_elements_text(NEW.ai_keywords_json::json) WITH ORDINALITY AS k(value, n))"""


def _postgres_fulltext(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return  # SQLite has had FTS5 and the text log's triggers since 0003 and 0006
    conn.exec_driver_sql("ALTER TABLE papers ADD COLUMN rowid BIGINT GENERATED BY DEFAULT AS IDENTITY")
    conn.exec_driver_sql("CREATE UNIQUE INDEX ux_papers_rowid ON papers (rowid)")
    conn.exec_driver_sql("""CREATE TABLE papers_fts (
        rowid BIGINT PRIMARY KEY, paper_id VARCHAR(64) NOT NULL,
        title TEXT, abstract TEXT, authors TEXT, keywords TEXT, terms TSVECTOR, doclen INTEGER)""")
    conn.exec_driver_sql("CREATE INDEX ix_papers_fts_terms ON papers_fts USING GIN (terms)")
    conn.exec_driver_sql("CREATE INDEX ix_papers_fts_unindexed ON papers_fts (rowid) WHERE terms IS NULL")
    conn.exec_driver_sql(f"""CREATE FUNCTION papers_text_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            DELETE FROM papers_fts WHERE rowid = OLD.rowid;
            INSERT INTO paper_text_log (paper_rowid) VALUES (OLD.rowid);
            RETURN OLD;
          END IF;
          INSERT INTO papers_fts AS f (rowid, paper_id, title, abstract, authors, keywords, terms, doclen)
            SELECT NEW.rowid, NEW.id, x.title, x.abstract, x.authors, x.keywords, NULL, NULL
            FROM (SELECT {_PG_FTS_TEXTS}) AS x(title, abstract, authors, keywords)
          ON CONFLICT (rowid) DO UPDATE SET paper_id = EXCLUDED.paper_id, title = EXCLUDED.title,
            abstract = EXCLUDED.abstract, authors = EXCLUDED.authors, keywords = EXCLUDED.keywords,
            terms = NULL, doclen = NULL;
          INSERT INTO paper_text_log (paper_rowid) VALUES (NEW.rowid);
          RETURN NEW;
        END $$""")
    conn.exec_driver_sql("""CREATE TRIGGER papers_text_changed
        AFTER INSERT OR DELETE OR UPDATE OF title, abstract, authors_json, ai_keywords_json ON papers
        FOR EACH ROW EXECUTE FUNCTION papers_text_changed()""")
    conn.exec_driver_sql(f"""INSERT INTO papers_fts (rowid, paper_id, title, abstract, authors, keywords)
        SELECT p.rowid, p.id, {_PG_FTS_TEXTS.replace("NEW.", "p.")} FROM papers AS p""")
    conn.exec_driver_sql("INSERT INTO paper_text_log (paper_rowid) SELECT rowid FROM papers ORDER BY rowid")


def _param(sql: str, conn: Connection) -> str:
    """``?`` placeholders in the driver's own style."""
    return sql.replace("?", "%s") if conn.dialect.paramstyle in ("format", "pyformat") else sql


def _thumbnails_and_authors(conn: Connection) -> None:
    """Papers keep their source's thumbnail address; the local cache of fetched thumbnails; the
    index of authors by normalised name, filled from the papers stored."""
    conn.exec_driver_sql("ALTER TABLE papers ADD COLUMN thumbnail_url TEXT")
    m = MetaData()
    Table("papers", m, Column("id", String(64), primary_key=True))  # only what the foreign key names
    Table(
        "paper_thumbnails", m,
        Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
        Column("url", Text, nullable=False),
        Column("file", String(100)),
        Column("status", String(20), nullable=False),
        Column("error", Text),
        Column("fetched_at", String(40), nullable=False),
    )
    m.tables["paper_thumbnails"].create(conn)
    authors = Table(
        "paper_authors", m,
        Column("paper_id", String(64), ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
        Column("position", Integer, nullable=False),
        Column("name_key", String(200), nullable=False),
        PrimaryKeyConstraint("paper_id", "position"),
        Index("ix_paper_authors_name_key", "name_key"),
    )
    authors.create(conn)
    rows = []
    for paper_id, raw in conn.exec_driver_sql("SELECT id, authors_json FROM papers"):
        for position, author in enumerate(json.loads(raw or "[]")):
            key = author_key(str(author.get("name", "")))
            if key:
                rows.append({"paper_id": paper_id, "position": position, "name_key": key})
        if len(rows) >= 5000:
            conn.execute(authors.insert(), rows)
            rows = []
    if rows:
        conn.execute(authors.insert(), rows)


def _feed_secrets(conn: Connection) -> None:
    """Personal feed addresses: the nonce each account's secret feed URL is signed with."""
    m = MetaData()
    _create(conn, Table(
        "feed_secrets", m,
        Column("user_id", Integer, primary_key=True, autoincrement=False),   # users.id (never reused)
        Column("nonce", String(64), nullable=False),
        Column("created_at", String(40), nullable=False),
    ))


def _api_tokens(conn: Connection) -> None:
    """Personal API tokens: only a hash of each is stored; the account page shows it once."""
    m = MetaData()
    Table("users", m, Column("id", Integer, primary_key=True))  # referenced only
    _create(conn, Table(
        "api_tokens", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("name", String(100), nullable=False),
        Column("created_at", String(40), nullable=False),
        Column("last_used_at", String(40)),
        Index("ix_api_tokens_user", "user_id"),
        sqlite_autoincrement=True,
    ))


# PostgreSQL's full text, read where the rows are: a paper's ``terms`` (about 2 KB) and texts make
# a row of about 4 KB, which PostgreSQL by default moves out to its TOAST table, so every row a
# search ranks was a second, indexed read (measured: 3-4 times the cost of the search itself).
# Rows up to a page now stay in the table (toast_tuple_target); the rows stored before are copied
# into a new table, which is how they move (an UPDATE keeps them where they are), and the indexes
# are built after the copy. ``doclen`` gets an index so bm25's corpus totals (count and sum) are
# read from it alone, not from every row.
def _postgres_fulltext_inline(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return  # SQLite's FTS5 keeps its own index
    conn.exec_driver_sql("LOCK TABLE papers_fts IN EXCLUSIVE MODE")
    conn.exec_driver_sql("""CREATE TABLE papers_fts_inline (
        rowid BIGINT NOT NULL, paper_id VARCHAR(64) NOT NULL,
        title TEXT, abstract TEXT, authors TEXT, keywords TEXT, terms TSVECTOR, doclen INTEGER)
        WITH (toast_tuple_target = 8160)""")
    conn.exec_driver_sql("""INSERT INTO papers_fts_inline (rowid, paper_id, title, abstract, authors, keywords,
        terms, doclen) SELECT rowid, paper_id, title, abstract, authors, keywords, terms, doclen FROM papers_fts""")
    conn.exec_driver_sql("DROP TABLE papers_fts")
    conn.exec_driver_sql("ALTER TABLE papers_fts_inline RENAME TO papers_fts")
    conn.exec_driver_sql("ALTER TABLE papers_fts ADD CONSTRAINT papers_fts_pkey PRIMARY KEY (rowid)")
    conn.exec_driver_sql("CREATE INDEX ix_papers_fts_terms ON papers_fts USING GIN (terms)")
    conn.exec_driver_sql("CREATE INDEX ix_papers_fts_unindexed ON papers_fts (rowid) WHERE terms IS NULL")
    conn.exec_driver_sql("CREATE INDEX ix_papers_fts_doclen ON papers_fts (doclen)")


MIGRATIONS: list[Migration] = [
    ("0001_initial", _initial),
    ("0002_repos_and_trending", _trending),
    ("0003_search", _search),
    ("0004_worker", _worker),
    ("0005_digests", _digests),
    ("0006_text_log", _text_log),
    ("0007_drop_dead_trending_columns", _drop_dead_trending_columns),
    ("0008_accounts", _accounts),
    ("0009_community", _community),
    ("0010_thumbnails_and_authors", _thumbnails_and_authors),
    ("0011_feed_secrets", _feed_secrets),
    ("0012_postgres_fulltext", _postgres_fulltext),
    ("0013_api_tokens", _api_tokens),
    ("0015_postgres_fulltext_inline", _postgres_fulltext_inline),
]


_RECORD = Table(
    "schema_migrations", MetaData(),
    Column("name", String(200), primary_key=True),
    Column("applied_at", String(40), nullable=False),
)


def applied(conn: Connection) -> set[str]:
    if not inspect(conn).has_table("schema_migrations"):
        return set()
    return set(conn.execute(select(_RECORD.c.name)).scalars())


def pending(conn: Connection, migrations: list[Migration] | None = None) -> list[str]:
    done = applied(conn)
    return [name for name, _ in (migrations or MIGRATIONS) if name not in done]


def upgrade(conn: Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is pending, in order; returns the names applied."""
    _RECORD.create(conn, checkfirst=True)
    done = applied(conn)
    ran = []
    for name, step in migrations or MIGRATIONS:
        if name in done:
            continue
        step(conn)
        conn.execute(_RECORD.insert().values(
            name=name, applied_at=datetime.now(UTC).isoformat(timespec="seconds")))
        ran.append(name)
    return ran
