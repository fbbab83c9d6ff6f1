"""The command line: parses arguments, builds Settings, calls library functions. Nothing else.

The commands about people (accounts, moderation) are in ``people.py``; what every command
shares (settings, the store, the consoles) in ``context.py``."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import click
from sqlalchemy.engine import make_url
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..config import SETTINGS, Settings
from ..errors import PapertrendError
from ..jobs import EmbedProgress
from ..models import ImportSummary, Paper
from ..periods import parse_date, parse_month, parse_week
from ..sources import FORMATS
from ..store import Store
from ..store import transfer as store_transfer

from .context import Context, err, out, pass_ctx
from .people import moderation, users

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
DEMO_ADMIN = "demo-admin@example.com"




class PapertrendGroup(click.Group):
    """Turns the project's own errors into one clear line and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PapertrendError as exc:
            err.print(f"[bold red]Error:[/] {exc.message}", markup=True, highlight=False, soft_wrap=True)
            sys.exit(1)
        except KeyboardInterrupt:
            err.print("Interrupted: the batch in progress was rolled back; run the command again to resume.")
            sys.exit(130)


@click.group(cls=PapertrendGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="PAPERTREND_CONFIG",
              help="Settings file (TOML). Also PAPERTREND_CONFIG.")
@click.option("--database-url", help="Overrides the database_url setting.")
@click.version_option(package_name="papertrend")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, database_url: str | None) -> None:
    """papertrend: gather research papers, rank what is trending, search, and mail digests."""
    ctx.obj = Context(config_file, database_url)


# -- import -----------------------------------------------------------------------------------


@contextmanager
def _import_progress(enabled: bool) -> Iterator[tuple[Any, Any]]:
    if not enabled:
        yield None, None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("reading", total=None)

        def on_file(path: Path, count: int) -> None:
            bar.update(task, description=f"{path.name[-40:]}", total=count, completed=0)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield on_file, advance


def _print_summary(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
        return
    for message in summary.errors[:50]:
        err.print(f"[red]rejected[/] {message}", highlight=False, soft_wrap=True)
    if len(summary.errors) > 50:
        err.print(f"... and {len(summary.errors) - 50} more rejections")
    out.print(f"new {summary.new} · updated {summary.updated} · unchanged {summary.unchanged} · "
              f"rejected {summary.rejected}", highlight=False)


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Force the input format instead of detecting it.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_ctx
def import_cmd(ctx: Context, paths: tuple[Path, ...], fmt: str | None, as_json: bool) -> None:
    """Import paper files or folders (Hugging Face daily JSON, arXiv JSONL / Atom, OAI-PMH, text listings).

    Safe to re-run: what is already stored is found unchanged. Exits 1 when anything was rejected.
    """
    from ..jobs import import_files

    with _import_progress(not as_json) as (on_file, advance), _embed_progress(as_json) as embedding:
        summary = import_files(ctx.store(), ctx.settings, list(paths), fmt, on_file=on_file, progress=advance,
                               embed_progress=embedding)
    _print_summary(summary, as_json)
    if summary.rejected:
        sys.exit(1)


# -- papers -----------------------------------------------------------------------------------


@cli.group()
def papers() -> None:
    """List and show stored papers."""


def _period(date: str | None, week: str | None, month: str | None, store: Store) -> tuple[str, str]:
    chosen = [p for p in (date, week, month) if p]
    if len(chosen) > 1:
        raise click.UsageError("give one of --date, --week, --month")
    if week:
        period = parse_week(week)
    elif month:
        period = parse_month(month)
    else:
        period = parse_date(date or store.papers.latest_list_date() or "1970-01-01")
    return period.start.isoformat(), period.end.isoformat()


@papers.command("list")
@click.option("--date", help="A day, YYYY-MM-DD (default: the latest day with papers).")
@click.option("--week", help="An ISO week, YYYY-Www.")
@click.option("--month", help="A month, YYYY-MM.")
@click.option("--sort", type=click.Choice(["upvotes", "published"]), default="upvotes", show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many papers.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of paper objects.")
@pass_ctx
def papers_list(ctx: Context, date: str | None, week: str | None, month: str | None, sort: str,
                limit: int | None, as_json: bool) -> None:
    """Papers of a day, week or month, most upvoted first."""
    store = ctx.store()
    start, end = _period(date, week, month, store)
    found = store.papers.in_range(start, end, sort=sort, limit=limit)
    if as_json:
        click.echo(json.dumps([p.to_json() for p in found], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(found)} papers, {start}" + (f" to {end}" if end != start else ""))
    for column in ("id", "upvotes", "title", "authors"):
        table.add_column(column, overflow="fold")
    for p in found:
        names = ", ".join(a.name for a in p.authors[:3]) + (" et al." if len(p.authors) > 3 else "")
        table.add_row(p.id, str(p.upvotes), p.title, names)
    out.print(table)


@papers.command("show")
@click.argument("paper_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_ctx
def papers_show(ctx: Context, paper_id: str, as_json: bool) -> None:
    """One paper with all its fields."""
    from ..errors import NotFound

    paper = ctx.store().papers.get(paper_id)
    if paper is None:
        raise NotFound(f"no paper {paper_id!r}")
    if as_json:
        click.echo(json.dumps(paper.to_json(), indent=2, ensure_ascii=False))
        return
    _print_paper(paper)


def _print_paper(p: Paper) -> None:
    out.print(f"[bold]{p.id}[/]  {p.title}", highlight=False, markup=True)
    out.print(", ".join(a.name for a in p.authors), highlight=False, markup=False)
    rows = [("published", p.published), ("daily list", p.daily_date), ("categories", " ".join(p.categories)),
            ("upvotes", str(p.upvotes)), ("comments", str(p.num_comments)), ("code", p.code_url),
            ("stars", None if p.github_stars is None else str(p.github_stars)), ("abs", p.abs_url),
            ("pdf", p.pdf_url), ("project", p.project_page), ("doi", p.doi), ("journal", p.journal_ref),
            ("comment", p.comment)]
    for label, value in rows:
        if value:
            out.print(f"{label:>11}: {value}", highlight=False, markup=False)
    out.print()
    out.print(p.abstract, highlight=False, markup=False)


# -- config and db ------------------------------------------------------------------------------


@cli.group()
def config() -> None:
    """Inspect settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def config_show(ctx: Context, as_json: bool) -> None:
    """Print the effective settings, secrets masked."""
    values = ctx.settings.as_display_dict()
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    table = Table("setting", "value", "help")
    for s in SETTINGS:
        table.add_row(s.name, str(values[s.name]), s.help)
    out.print(table)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply pending migrations (safe to re-run)."""
    ran = ctx.store(ready=False).upgrade()
    out.print("applied: " + ", ".join(ran) if ran else "schema is up to date")


@db.command("status")
@pass_ctx
def db_status(ctx: Context) -> None:
    """Pending migrations and what is stored."""
    store = ctx.store(ready=False)
    pending = store.pending_migrations()
    out.print(f"database: {ctx.settings.database_url}")
    out.print("pending migrations: " + (", ".join(pending) if pending else "none"))
    if not pending:
        out.print(f"papers: {store.papers.count()}")


@db.command("copy")
@click.option("--to", "to_url", required=True, metavar="URL",
              help="The database to fill, new and empty: postgresql+psycopg://user:pass@host/db (or sqlite:///file).")
@pass_ctx
def db_copy(ctx: Context, to_url: str) -> None:
    """Copy this deployment (papers, signals, vectors, subscribers, outbox, accounts, runs: every
    table) into an empty database, then check the rows of each table on both sides."""
    source = ctx.store(ready=False)
    target = Store(ctx.settings.replace(database_url=to_url))
    click.get_current_context().call_on_close(target.close)
    with source.read() as conn:
        totals = {c.table: c.source for c in store_transfer.counts(conn, conn)}
    columns = (TextColumn("{task.description:<16}"), BarColumn(), TextColumn("{task.completed:>9,} / {task.total:,}"))
    with Progress(*columns, console=err, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(table: str, done: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=totals.get(table, 0))
            bar.update(tasks[table], completed=done)

        found = source.copy_to(target, progress)
    for c in found:
        out.print(f"{c.table:<16} {c.source:>9,} rows copied, {c.target:,} in the target")
    where = make_url(to_url).render_as_string(hide_password=True)
    out.print(f"copied {sum(c.target for c in found):,} rows in {len(found)} tables to {where}; every count matches")


@cli.command("runs")
@click.option("--limit", default=20, show_default=True)
@pass_ctx
def runs(ctx: Context, limit: int) -> None:
    """Recent import runs with their counts."""
    table = Table("id", "kind", "started", "status", "new", "updated", "unchanged", "rejected", "detail")
    for r in ctx.store().runs.ingest_runs(limit):
        table.add_row(str(r.id), r.kind, r.started_at, r.status, str(r.new), str(r.updated), str(r.unchanged),
                      str(r.rejected), r.detail[:60])
    out.print(table)


# -- search ------------------------------------------------------------------------------------


@contextmanager
def _embed_progress(quiet: bool = False) -> Iterator[EmbedProgress]:
    with Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=quiet) as bar:
        task = bar.add_task("embedding", total=None)
        yield EmbedProgress(on_total=lambda n: bar.update(task, total=n), advance=lambda n: bar.advance(task, n))


@cli.command()
@pass_ctx
def embed(ctx: Context) -> None:
    """Compute missing or stale embeddings (safe to re-run; keeps what an interrupted run finished)."""
    from ..jobs import embed as embed_papers

    with _embed_progress() as embedding:
        n = embed_papers(ctx.store(), ctx.settings, embedding)
    out.print(f"embedded {n} papers")


@cli.command()
@click.argument("query")
@click.option("--mode", type=click.Choice(["hybrid", "fulltext", "vector"]), default="hybrid", show_default=True)
@click.option("--sort", type=click.Choice(["relevance", "date", "upvotes"]), default="relevance", show_default=True)
@click.option("--from", "date_from", help="Listed on or after YYYY-MM-DD.")
@click.option("--to", "date_to", help="Listed on or before YYYY-MM-DD.")
@click.option("--category", help="arXiv category, e.g. cs.CL.")
@click.option("--has-code", is_flag=True, help="Only papers with a code repository.")
@click.option("--min-upvotes", type=click.IntRange(0), default=0)
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--sql", "show_sql", is_flag=True, help="Print the full-text SQL this search runs, then stop.")
@pass_ctx
def search(ctx: Context, query: str, mode: str, sort: str, date_from: str | None, date_to: str | None,
           category: str | None, has_code: bool, min_upvotes: int, limit: int, as_json: bool, show_sql: bool) -> None:
    """Find papers by words and by meaning."""
    from ..models import SearchFilters
    from ..search.hybrid import CANDIDATES
    from ..search.query import parse

    for value in (date_from, date_to):
        if value:
            parse_date(value)
    filters = SearchFilters(date_from, date_to, category, has_code, min_upvotes)
    store = ctx.store()
    if show_sql:
        sql, params = store.search.fulltext_sql(parse(query).match("any"), filters, CANDIDATES)
        click.echo(sql)
        click.echo(json.dumps(params, ensure_ascii=False))
        return
    from ..search.hybrid import build_searcher

    results = build_searcher(ctx.settings, store).search(query, filters, sort, mode, limit)
    if results.query.notice:
        err.print(results.query.notice)
    # What the web page says above its list: how many were found and what they rest on. With
    # --json the papers alone go to standard output (scripts read them), these lines to stderr.
    said = out if not as_json else err
    if results.hits:
        count = f"{results.total:,}" if results.total_exact else f"at least {results.total:,}"
        said.print(f"{count} {'paper' if results.total == 1 else 'papers'} found, showing {len(results.hits)}"
                   + {"date": ", newest first", "upvotes": ", most upvoted first"}.get(results.sort, ""), markup=False)
    else:
        said.print("No papers match.", markup=False)
    if results.found_by:
        said.print(results.found_by, markup=False)
    if as_json:
        click.echo(json.dumps([{**h.paper.to_json(), "score": h.score, "fulltext_score": h.fulltext,
                                "vector_score": h.vector} for h in results.hits], indent=2, ensure_ascii=False))
        return
    if not results.hits:
        return
    table = Table("id", "score", "title", "date")
    for h in results.hits:
        table.add_row(h.paper.id, f"{h.score:.3f}", h.paper.title, h.paper.list_date or "")
    out.print(table)


# -- trending and stars ----------------------------------------------------------------------------


@cli.group()
def rank() -> None:
    """The trending score."""


@rank.command("recompute")
@pass_ctx
def rank_recompute(ctx: Context) -> None:
    """Score papers for today / week / month and store the rankings (safe to re-run)."""
    from ..rank.recompute import recompute_trending

    sizes = recompute_trending(ctx.store())
    out.print(" · ".join(f"{w}: {n} papers ranked" for w, n in sizes.items()))


@rank.command("explain")
@click.argument("paper_id")
@click.option("--window", type=click.Choice(["today", "week", "month"]), default="month", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def rank_explain(ctx: Context, paper_id: str, window: str, as_json: bool) -> None:
    """The score's parts (they add up to the score) and the observations behind them."""
    from ..errors import NotFound
    from ..rank.recompute import damping

    store = ctx.store()
    paper = store.papers.get(paper_id)
    if paper is None:
        raise NotFound(f"no paper {paper_id!r}")
    row = store.trending.row(window, paper_id)
    if row is None:
        raise NotFound(f"{paper_id} is not ranked in the {window} window (run `papertrend rank recompute`)")
    stars = store.signals.star_history(paper.code_repo) if paper.code_repo else []
    signals = store.signals.observations(paper_id)
    rule = damping(store)
    if as_json:
        click.echo(json.dumps({"paper": paper_id, "window": window, "rank": row.rank, "score": row.score,
                               "parts": row.parts, "decay": row.decay, "age_days": row.age_days,
                               "stars_gained": row.stars_gained, "gain_days": row.gain_days, "anchor": row.anchor,
                               "reason": row.reason, "local_votes_damped": row.local_votes,
                               "local_votes": store.community.vote_count(paper_id), "damping": rule.describe(),
                               "star_snapshots": [{"observed_at": s.observed_at, "stars": s.stars, "source": s.source}
                                                  for s in stars],
                               "observations": [vars(o) for o in signals]}, indent=2))
        return
    out.print(f"[bold]{paper.id}[/] {paper.title}", markup=True, highlight=False)
    out.print(f"rank {row.rank} in {window} (anchor {row.anchor}): {row.reason}", highlight=False)
    table = Table("part", "points")
    for name, value in row.parts.items():
        table.add_row(name, f"{value:.4f}")
    table.add_row("[bold]score[/]", f"[bold]{row.score:.4f}[/]")
    out.print(table)
    out.print(f"age {row.age_days:.0f} days -> decay factor {row.decay:.4f} (already applied to each part)")
    out.print(f"upvotes: {paper.upvotes} imported from Hugging Face (part 'upvotes'); "
              f"{store.community.vote_count(paper_id)} cast here, {row.local_votes:.2f} after damping inside the "
              f"window (part 'upvotes here')", highlight=False)
    out.print(f"  {rule.describe()}", highlight=False)
    for s in stars:
        out.print(f"  stars {s.stars:>7} at {s.observed_at} ({s.source})", highlight=False)
    for o in signals:
        out.print(f"  upvotes {o.upvotes} comments {o.num_comments} at {o.observed_at} ({o.source})", highlight=False)


@cli.group()
def stars() -> None:
    """GitHub star snapshots."""


@stars.command("refresh")
@click.option("--limit", type=click.IntRange(1), help="Check at most this many repositories.")
@click.option("--min-age-hours", type=float, default=1.0, show_default=True,
              help="Skip repositories checked more recently (so an interrupted run resumes).")
@pass_ctx
def stars_refresh(ctx: Context, limit: int | None, min_age_hours: float) -> None:
    """Fetch current star counts of every linked repository; store a snapshot each."""
    from ..jobs import refresh_stars

    with Progress(TextColumn("stars"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task("stars", total=None)
        counts = refresh_stars(ctx.store(), ctx.settings, min_age_hours=min_age_hours, limit=limit,
                               progress=lambda n: bar.advance(task, n))
    out.print(" · ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))


@cli.group()
def index() -> None:
    """The search indexes: snapshots web processes start from, and pgvector's index in PostgreSQL."""


@index.command("snapshot")
@click.option("--force", is_flag=True, help="Write both snapshots even when nothing changed.")
@click.option("--rebuild", is_flag=True, help="Build the full-text index afresh from the store instead of topping up "
              "the last snapshot (as the job does by itself once a tenth of the papers changed).")
@pass_ctx
def index_snapshot(ctx: Context, force: bool, rebuild: bool) -> None:
    """Write the full-text and vector index snapshots now (re-runnable: each starts from the last
    snapshot and reads only the changes since; a missing or damaged one is rebuilt)."""
    from ..jobs import snapshot_indexes
    from ..search.persist import SnapshotProgress

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("snapshots", total=None)

        def stage(name: str, total: int | None) -> None:
            bar.reset(task, description=name, total=total)

        counts = snapshot_indexes(ctx.store(), ctx.settings, force,
                                  SnapshotProgress(stage, lambda n: bar.advance(task, n)), rebuild)
    out.print(f"{ctx.settings.snapshot_path}: " + " · ".join(f"{k} {v:,}" for k, v in counts.items()))


@index.command("pgvector")
@pass_ctx
def index_pgvector_cmd(ctx: Context) -> None:
    """Build PostgreSQL's pgvector HNSW index for `vector_index = "pgvector"`: creates the extension
    (CREATE EXTENSION vector), a table of the stored vectors and its HNSW index (cosine), and
    copies in every vector it lacks. Re-runnable and resumable; vectors embedded afterwards reach
    it as they are stored."""
    from ..jobs import index_pgvector

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("pgvector", total=None)

        def stage(name: str, total: int | None) -> None:
            bar.reset(task, description=name, total=total)

        counts = index_pgvector(ctx.store(), ctx.settings, stage, lambda n: bar.advance(task, n))
    out.print(" · ".join(f"{k} {v:,}" for k, v in counts.items()), soft_wrap=True)


# -- remote sources and the worker ----------------------------------------------------------------


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(parse_date(value).key)
    except PapertrendError as exc:
        raise click.BadParameter(exc.message, param_hint=name) from None


@cli.group()
def ingest() -> None:
    """Fetch papers from arXiv and Hugging Face (politely; resumable)."""


def _print_counts(counts: dict[str, Any]) -> None:
    out.print(" · ".join(f"{k} {v}" for k, v in counts.items()), highlight=False)
    if counts.get("rejected"):
        sys.exit(1)


@ingest.command("arxiv")
@click.option("--categories", help="Comma-separated, e.g. cs.LG,cs.CL (default: setting arxiv_categories).")
@click.option("--since", help="First submission day, YYYY-MM-DD (default: 3 days ago).")
@click.option("--until", help="Last submission day (default: today).")
@click.option("--ids", help="Fetch these arXiv ids instead (comma-separated).")
@pass_ctx
def ingest_arxiv_cmd(ctx: Context, categories: str | None, since: str | None, until: str | None,
                     ids: str | None) -> None:
    """arXiv query API: paged, sorted by submission date, one request every 3 s."""
    from ..jobs import ingest_arxiv, ingest_arxiv_ids

    store = ctx.store()
    if ids:
        summary = ingest_arxiv_ids(store, ctx.settings, [i.strip() for i in ids.split(",") if i.strip()])
        _print_summary(summary, False)
        sys.exit(1 if summary.rejected else 0)
    cats = [c.strip() for c in categories.split(",")] if categories else None
    with _import_progress(True) as (_, advance):
        counts = ingest_arxiv(store, ctx.settings, since=_day(since, "--since"), until=_day(until, "--until"),
                              categories=cats, progress=advance)
    _print_counts(counts)


@ingest.command("oai")
@click.option("--set", "set_spec", required=True, help="OAI set, e.g. cs or physics:hep-th.")
@click.option("--from", "since", required=True, help="First datestamp, YYYY-MM-DD.")
@click.option("--until", help="Last datestamp, YYYY-MM-DD.")
@pass_ctx
def ingest_oai_cmd(ctx: Context, set_spec: str, since: str, until: str | None) -> None:
    """OAI-PMH ListRecords with resumption tokens, for backfilling a category."""
    from ..jobs import ingest_oai

    first = _day(since, "--from")
    if first is None:
        raise click.BadParameter("give a day, YYYY-MM-DD", param_hint="--from")
    with _import_progress(True) as (_, advance):
        counts = ingest_oai(ctx.store(), ctx.settings, set_spec, first, _day(until, "--until"), progress=advance)
    _print_counts(counts)


@ingest.command("hf")
@click.option("--date", "day", help="One day, YYYY-MM-DD.")
@click.option("--since", help="First day; with --until (default today) fetches each day.")
@click.option("--until", help="Last day.")
@click.option("--endpoint", help="Read this server instead of the hf_endpoint setting: another papertrend "
                                 "(https://papers.example.org) or Hugging Face, through the same API.")
@pass_ctx
def ingest_hf_cmd(ctx: Context, day: str | None, since: str | None, until: str | None,
                  endpoint: str | None) -> None:
    """Daily papers from {hf_endpoint}/api/daily_papers?date= (Hugging Face, or another papertrend)."""
    from ..jobs import ingest_hf

    if day and (since or until):
        raise click.UsageError("give --date, or --since [--until]")
    first = _day(day or since, "--date/--since")
    last = _day(day or until, "--until") if (day or until) else None
    settings = ctx.settings
    if endpoint is not None:
        parts = urlsplit(endpoint.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.BadParameter(f"{endpoint[:80]!r} is not an http(s) address", param_hint="--endpoint")
        settings = settings.replace(hf_endpoint=endpoint.strip())
    store = ctx.store()
    with _import_progress(True) as (_, advance):
        counts = ingest_hf(store, settings, since=first, until=last, progress=advance)
    _print_counts(counts)


@ingest.command("metadata")
@pass_ctx
def ingest_metadata_cmd(ctx: Context) -> None:
    """arXiv metadata where a source gave none: categories for papers without one (id_list, in
    batches) and arXiv matches, by exact title, for papers from a pasted listing. One request
    every 3 s; resumable; re-run it to ask again about what is still missing."""
    from ..ingest.metadata import MetadataProgress
    from ..jobs import fill_metadata

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("arXiv metadata", total=None)

        def on_phase(name: str, total: int) -> None:
            bar.update(task, description=name, total=total, completed=0)

        counts = fill_metadata(ctx.store(), ctx.settings,
                               progress=MetadataProgress(on_phase, lambda n: bar.advance(task, n)))
    _print_counts(counts)


@cli.command()
@click.option("--once", is_flag=True, help="Run what is due now, then stop (for cron).")
@pass_ctx
def worker(ctx: Context, once: bool) -> None:
    """Run the schedule: arXiv, Hugging Face, stars, trending (cron expressions in settings)."""
    from ..worker import Worker, default_jobs

    store = ctx.store()
    w = Worker(store, default_jobs(store, ctx.settings), log=lambda m: err.print(m, highlight=False))
    if once:
        outcomes = w.tick()
        out.print(" · ".join(f"{k}: {v}" for k, v in outcomes.items()) or "nothing due")
        sys.exit(1 if "failed" in outcomes.values() else 0)
    err.print(f"worker {w.holder} running; jobs: " + ", ".join(f"{j.name} ({j.cron})" for j in w.jobs))
    w.run_forever()


@cli.group()
def jobs() -> None:
    """Job runs recorded by the worker."""


@jobs.command("list")
@click.option("--job", help="Only this job.")
@click.option("--limit", default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def jobs_list(ctx: Context, job: str | None, limit: int, as_json: bool) -> None:
    """Recent job runs: start, end, status, counts, error."""
    runs = ctx.store().runs.job_runs(job, limit)
    if as_json:
        click.echo(json.dumps([vars(r) for r in runs], indent=2))
        return
    table = Table("id", "job", "slot", "started", "finished", "status", "counts", "error")
    for r in runs:
        table.add_row(str(r.id), r.job, r.scheduled_for or "", r.started_at, r.finished_at or "", r.status,
                      json.dumps(r.counts), (r.error or "")[:80])
    out.print(table)


# -- digests ---------------------------------------------------------------------------------------


@cli.group()
def digest() -> None:
    """Trending papers in your subscribers' inboxes."""


@digest.command("build")
@click.option("--frequency", type=click.Choice(["daily", "weekly"]), default="daily", show_default=True)
@click.option("--period", required=True, help="A day YYYY-MM-DD (daily) or a week YYYY-Www (weekly).")
@pass_ctx
def digest_build(ctx: Context, frequency: str, period: str) -> None:
    """Compose the period's digests into the outbox (one per subscriber and period; re-runnable)."""
    from ..digest.build import build_digests

    counts = build_digests(ctx.store(), ctx.settings, frequency, period)
    out.print(" · ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))


@digest.command("send")
@pass_ctx
def digest_send(ctx: Context) -> None:
    """Deliver due outbox messages (SMTP, or the local outbox when smtp_host is empty)."""
    from ..digest.mailer import deliver

    counts = deliver(ctx.store(), ctx.settings)
    out.print(" · ".join(f"{k} {v}" for k, v in counts.items()))


@digest.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def digest_status(ctx: Context, as_json: bool) -> None:
    """Outbox messages by state, and subscribers by state."""
    store = ctx.store()
    outbox = {k: 0 for k in ("pending", "sending", "sent", "retrying", "failed", "bounced")}
    outbox.update(store.digests.outbox_counts())
    subs = store.digests.counts_by_status()
    if as_json:
        click.echo(json.dumps({"outbox": outbox, "subscribers": subs}))
        return
    out.print("outbox: " + " · ".join(f"{k} {v}" for k, v in outbox.items()))
    out.print("subscribers: " + (" · ".join(f"{k} {v}" for k, v in subs.items()) or "none"))


# -- accounts ---------------------------------------------------------------------------------


@cli.command()
@click.option("--host", help="Overrides the host setting.")
@click.option("--port", type=int, help="Overrides the port setting.")
@click.option("--workers", type=int, help="Web worker processes.")
@pass_ctx
def serve(ctx: Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the web pages and JSON API."""
    from ..web.server import run

    settings = ctx.settings.replace(**{k: v for k, v in (("host", host), ("port", port), ("workers", workers)) if v})
    ctx.store()  # creates the schema on an empty database, refuses an outdated one
    _warn_base_url(settings)
    run(settings)


def _served_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.port}"


def _warn_base_url(settings: Settings) -> None:
    """Links in mail use base_url: say so when it is not where this server answers."""
    from urllib.parse import urlsplit

    base = urlsplit(settings.base_url)
    local = settings.host in ("127.0.0.1", "localhost", "0.0.0.0", "::1")
    if local and base.hostname in ("127.0.0.1", "localhost") and base.port != settings.port:
        err.print(f"[yellow]warning:[/] base_url is {settings.base_url} but this server listens on "
                  f"{_served_url(settings)}: links in mail will point elsewhere (set base_url)", highlight=False,
                  soft_wrap=True)


@cli.command()
@click.option("--no-serve", is_flag=True, help="Prepare the demo database and stop.")
@click.option("--host", help="Overrides the host setting.")
@click.option("--port", type=int, help="Overrides the port setting.")
@pass_ctx
def demo(ctx: Context, no_serve: bool, host: str | None, port: int | None) -> None:
    """Load the bundled demo corpus (once) and serve it."""
    from ..jobs import prepare_demo

    store = ctx.store()
    with _import_progress(True) as (_, advance), _embed_progress() as embedding:
        summary = prepare_demo(store, ctx.settings, progress=advance, embed_progress=embedding)
    if summary is None:
        out.print(f"demo corpus already loaded in {ctx.settings.database_url}")
    else:
        _print_summary(summary, False)
    out.print(f"{store.papers.count()} papers, latest day {store.papers.latest_list_date()}")
    settings = ctx.settings.replace(**{k: v for k, v in (("host", host), ("port", port)) if v})
    if settings.base_url == SETTINGS_BY_NAME["base_url"].default:
        # The demo's links (sign-in, confirmations in the local outbox) point where it serves.
        settings = settings.replace(base_url=_served_url(settings))
    # The local outbox is for admins only: the demo makes one and prints a one-time sign-in link.
    from ..accounts.signin import add_user, new_link

    admin = add_user(store, DEMO_ADMIN, "admin")
    out.print(f"demo admin {admin.email}: sign in within 15 minutes at {new_link(store, settings, admin.email)}",
              highlight=False, soft_wrap=True)
    out.print("(a new link any time: papertrend users add demo-admin@example.com --role admin)", highlight=False)
    if no_serve:
        out.print("look at them with: papertrend papers list   or   papertrend serve")
        return
    from ..web.server import run

    _warn_base_url(settings)
    run(settings)


cli.add_command(users)
cli.add_command(moderation)


def main() -> None:
    cli(prog_name="papertrend")
