"""Two ``papertrend import`` processes at once on one database (SQLite, and PostgreSQL at READ
COMMITTED), importing overlapping files in opposite orders: each finds papers the other is
writing (by arXiv id, and by title for a listing without ids), and rewrites their authors and
categories (delete, then insert) as a second source brings them. Both succeed, and what is stored
is exactly what one process importing the same files stores: no paper twice, no author or category
row twice or lost, no signal or provenance row lost.

Importers take turns per batch (``PaperStore.apply`` locks ``papers.apply``: an advisory lock on
PostgreSQL, SQLite's one writer): without it, two batches both find a paper new and both insert
it, or both delete a paper's authors and both insert them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from papertrend.config import Settings
from papertrend.ids import author_key
from papertrend.store import open_store, schema as t
from conftest import Cli

BATCH = "10"   # small batches: many transactions of each process interleave with the other's


def _files(shared: Path) -> list[Path]:
    days = ("2026-06-17", "2026-06-18", "2026-06-19")
    return ([shared / "hf-daily" / f"{d}.json" for d in ("2026-06-16", *days)]
            + [shared / "arxiv-listings" / f"{d}.jsonl" for d in days]
            + [shared / "listing-text" / "hf-trending-page.txt"])


def _env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "PAPERTREND_DATABASE_URL": str(settings.database_url), "PAPERTREND_EMBED_ON_IMPORT": "false",
           "PAPERTREND_IMPORT_BATCH_SIZE": BATCH}
    if settings.snapshot_dir:
        env["PAPERTREND_SNAPSHOT_DIR"] = settings.snapshot_dir
    return env


# Everything an import writes, without what differs between two runs of it (times, run ids).
TABLES: dict[str, tuple[str, ...]] = {
    "papers": ("first_seen", "last_changed"),
    "paper_authors": (),
    "paper_categories": (),
    "paper_signals": (),
    "paper_sources": ("first_run_id", "first_seen"),
    "repo_stars": (),
    "repos": (),
}


def _state(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    store = open_store(settings)
    out = {}
    with store.read() as conn:
        for name, skipped in TABLES.items():
            table = getattr(t, name)
            cols = [c for c in table.c if c.name not in skipped]
            out[name] = sorted(tuple(row) for row in conn.execute(select(*cols)))
    store.close()
    return out


def test_two_importers_at_once_store_what_one_would(settings: Settings, empty_database_url: str,
                                                    another_database_url: str, shared: Path, tmp_path: Path) -> None:
    files = _files(shared)
    env = _env(settings)
    subprocess.run([sys.executable, "-m", "papertrend.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    procs = [subprocess.Popen([sys.executable, "-m", "papertrend.cli", "import", "--json", *map(str, order)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for order in (files, files[::-1])]
    outs = [p.communicate(timeout=600) for p in procs]
    for proc, (_out, err) in zip(procs, outs, strict=True):
        # The error's own lines, not the megabytes of parameters SQLAlchemy prints after them.
        assert proc.returncode == 0, "\n".join(line[:300] for line in err.splitlines() if "Error" in line)[:3000]
    summaries = [json.loads(out) for out, _ in outs]

    store = open_store(settings)
    runs = store.runs.ingest_runs()
    store.close()
    assert [r.status for r in runs] == ["ok", "ok"], [(r.status, r.errors) for r in runs]
    # The two runs overlapped in time: each started before the other finished.
    first, second = sorted(runs, key=lambda r: r.started_at)
    assert second.started_at <= first.finished_at, "the importers ran one after the other: nothing was tested"

    # The same files imported once, by one process, into another database of the same store.
    alone = settings.replace(database_url=empty_database_url, snapshot_dir=str(tmp_path / "alone"))
    once = Cli(alone)
    once.env["PAPERTREND_IMPORT_BATCH_SIZE"] = BATCH
    once("db", "upgrade")
    single = json.loads(once("import", "--json", *map(str, files)).stdout)

    # A paper two sources describe keeps the first one's metadata where they rank alike (merge's
    # ties), so its row is the one of the order its records arrived in: either file order's.
    backwards = settings.replace(database_url=another_database_url, snapshot_dir=str(tmp_path / "backwards"))
    reverse = Cli(backwards)
    reverse.env["PAPERTREND_IMPORT_BATCH_SIZE"] = BATCH
    reverse("import", "--json", *map(str, files[::-1]))

    together, expected, other = _state(settings), _state(alone), _state(backwards)
    papers = {row[0] for row in expected["papers"]}
    assert len(papers) > 800 and sum(s["new"] for s in summaries) == single["new"] == len(papers)
    either = {row[0]: {row} for row in expected["papers"]}
    for row in other["papers"]:
        either[row[0]].add(row)
    assert len(together["papers"]) == len(papers)
    for row in together["papers"]:
        assert row in either[row[0]], f"paper {row[0]} is stored as neither file order stores it"
    for name in [n for n in TABLES if n != "papers"]:
        got, want = together[name], expected[name]
        assert len(got) == len(set(got)), f"{name}: a row stored twice"
        assert got == want, f"{name}: {len(got)} rows, {len(want)} imported alone; " \
                            f"extra {sorted(set(got) - set(want))[:3]}, missing {sorted(set(want) - set(got))[:3]}"
    # And each paper's author rows are its authors, in order (the search by author reads them).
    stored: dict[str, list[str]] = {}
    for paper_id, _position, key in together["paper_authors"]:   # sorted: by paper, then position
        stored.setdefault(paper_id, []).append(key)
    for row in together["papers"]:
        keys = [author_key(a["name"]) for a in json.loads(row[3])]
        assert stored.get(row[0], []) == [k for k in keys if k], row[0]


# Runs the CLI's own commands over and over in one process (no interpreter start between rounds),
# until the file named by the last argument exists; prints how many rounds failed and why.
LOOP = """
import sys
from pathlib import Path
from papertrend.cli import cli
stop, args, files = Path(sys.argv[1]), sys.argv[2:], []
if args[0] == "import":
    args, files = ["import"], args[1:]
rounds = failed = 0
while not stop.exists() and (not files or rounds < len(files)):
    try:
        cli.main(args + files[rounds:rounds + 1], standalone_mode=False)
    except Exception as exc:
        failed += 1
        print(type(exc).__name__, (str(exc).splitlines() or [""])[0][:300], file=sys.stderr)
    rounds += 1
print(rounds, failed)
"""


def _day(folder: Path, n: int) -> Path:
    """A day's list in Hugging Face's format: 40 papers sharing 4 repositories, upvotes and stars
    changed in every version ``n`` (so each import rewrites every paper's signals)."""
    entries = [{"paper": {"id": f"2607.{20000 + i}", "title": f"Paper {i} about a shared repository",
                          "summary": "An abstract.", "authors": [{"name": f"Author {i}"}, {"name": "Shared Author"}],
                          "upvotes": n * 100 + i, "githubRepo": f"https://github.com/lab/shared{i % 4}",
                          "githubStars": n, "publishedAt": "2026-07-31T00:00:00.000Z",
                          "submittedOnDailyAt": "2026-07-31T00:00:00.000Z"}, "numComments": n % 3}
               for i in range(40)]
    path = folder / f"round-{n:03d}" / "2026-07-31.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(entries[::1 if n % 2 else -1]))
    return path


def test_imports_and_star_refreshes_at_once_never_deadlock(settings: Settings, tmp_path: Path) -> None:
    """An import rewrites papers that share a repository while star refreshes (two of them, as two
    workers would) record new stars for that repository, whose UPDATE touches the same papers. On
    PostgreSQL the two lock those rows in different orders: without taking turns, one of them is
    killed by the deadlock detector."""
    from github_server import FakeGitHub

    files = [_day(tmp_path, n) for n in range(1, 26)]
    env = {**_env(settings), "PAPERTREND_CONTACT_EMAIL": "ops@example.org"}
    subprocess.run([sys.executable, "-m", "papertrend.cli", "import", str(files[0])], env=env, check=True,
                   capture_output=True)
    stop = tmp_path / "stop"
    with FakeGitHub() as gh:
        env["PAPERTREND_GITHUB_API_URL"] = gh.url
        importer = subprocess.Popen([sys.executable, "-c", LOOP, str(stop), "import", *map(str, files[1:])], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        refreshers = [subprocess.Popen([sys.executable, "-c", LOOP, str(stop), "stars", "refresh", "--min-age-hours",
                                        "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                      for _ in range(2)]
        while importer.poll() is None:   # new stars on every request, so every refresh writes them
            for i in range(4):
                gh.stars[f"lab/shared{i}"] = gh.stars.get(f"lab/shared{i}", 10) + 1
            time.sleep(0.02)
        stop.touch()
        results = [(p, *p.communicate(timeout=120)) for p in (importer, *refreshers)]
    for proc, out, err in results:
        rounds, failed = map(int, out.split()[-2:])
        assert proc.returncode == 0 and failed == 0 and rounds > 0, err[-2000:]
    store = open_store(settings)
    paper = store.papers.get("2607.20000")
    store.close()
    assert paper is not None and paper.upvotes == 2500   # the last file's


SAVER = r"""
import os, sys
from papertrend.config import load_settings
from papertrend.store import open_store
store = open_store(load_settings(environ=os.environ))
failed = 0
for i in range(int(sys.argv[1])):
    try:   # a re-embedding of the same paper, as two imports (embed on import) or import + embed job do
        store.vectors.save([{"paper_id": "2606.00001", "model": "m", "text_hash": f"{sys.argv[2]}{i:015d}",
                             "vector": bytes(16)}])
    except Exception as exc:
        failed += 1
        print(type(exc).__name__, str(exc).splitlines()[0], file=sys.stderr)
print(failed)
"""


def test_two_processes_saving_one_papers_vector_both_succeed(settings: Settings, tmp_path: Path) -> None:
    """Saving a vector replaces the paper's old one (delete, then insert). Two processes doing it
    for the same paper at once: on PostgreSQL, without taking turns, both delete nothing new and the
    second insert breaks the one-vector-per-paper key (183 of 600 saves failed so)."""
    day = tmp_path / "2026-06-01.jsonl"
    day.write_text(json.dumps({"id": "2606.00001", "title": "A paper", "summary": "Its abstract.",
                               "authors": ["A"], "categories": ["cs.LG"]}) + "\n")
    env = _env(settings)
    subprocess.run([sys.executable, "-m", "papertrend.cli", "import", str(day)], env=env, check=True,
                   capture_output=True)
    savers = [subprocess.Popen([sys.executable, "-c", SAVER, "300", tag], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for tag in "ab"]
    for proc in savers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out.split()[-1] == "0", err[-2000:]
    store = open_store(settings)
    with store.read() as conn:
        rows = conn.execute(select(t.paper_vectors.c.text_hash).where(t.paper_vectors.c.paper_id == "2606.00001")).all()
    store.close()
    assert len(rows) == 1 and rows[0][0].endswith("299")   # one vector: the last one saved
