"""Bad input gets a clear error naming file and line or entry; good records are kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from sqlalchemy import distinct, func, select

from papertrend.config import Settings
from papertrend.errors import SourceError
from papertrend.sources import parse_bytes, FORMATS
from papertrend.store import open_store, schema as t

GOOD = {"id": "2601.00001", "title": "A good paper", "summary": "Fine.", "authors": ["A"], "categories": ["cs.LG"]}


def _jsonl(*rows: object) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n"


def test_bad_lines_rejected_good_lines_kept(run_cli, tmp_path: Path, store) -> None:
    f = tmp_path / "mixed.jsonl"
    huge = dict(GOOD, id="2601.00003", summary="x" * 5_000_000)
    f.write_text(_jsonl(GOOD, '{"id": "2601.00002", "title": "trunc', dict(GOOD, id="2601.00004", title=""), huge,
                        dict(GOOD, id="2601.00005", title="Also good")))
    result = run_cli("import", str(f), ok=False)
    assert result.exit_code == 1
    assert f"{f}:2: not valid JSON" in result.output
    assert f"{f}:3: missing title" in result.output
    assert f"{f}:4: abstract is 5,000,000 characters" in result.output
    assert set(store.papers.get_many([f"2601.0000{i}" for i in range(1, 6)])) == {"2601.00001", "2601.00005"}


def test_wrong_encoding_names_the_line(run_cli, tmp_path: Path, store) -> None:
    f = tmp_path / "latin1.jsonl"
    latin1 = json.dumps(dict(GOOD, id="2601.00009", title="Café"), ensure_ascii=False).encode("latin-1")
    f.write_bytes(_jsonl(GOOD).encode() + latin1 + b"\n")
    result = run_cli("import", str(f), ok=False)
    assert result.exit_code == 1 and f"{f}:2: not UTF-8 text" in result.output
    assert store.papers.count() == 1

    g = tmp_path / "latin1.json"
    g.write_bytes(b'[{"paper": {"id": "2601.00010", "title": "Caf\xe9"}}]')
    result = run_cli("import", str(g), ok=False)
    assert f"{g}:1: not UTF-8 text" in result.output


def test_truncated_json_and_invalid_xml_and_entity_bomb(run_cli, shared: Path, tmp_path: Path, store) -> None:
    truncated = tmp_path / "2026-07-31.json"
    truncated.write_bytes((shared / "hf-daily" / "2026-07-31.json").read_bytes()[:5000])
    bad_xml = tmp_path / "bad.xml"
    bad_xml.write_text('<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</entry></feed>')
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                    + "".join(f'<!ENTITY lol{i} "{"&lol{};".format(i - 1 if i > 1 else "") * 10}">'
                              for i in range(1, 10))
                    + ']><feed xmlns="http://www.w3.org/2005/Atom"><title>&lol9;</title></feed>')
    unknown = tmp_path / "paper.pdf"
    unknown.write_bytes(b"%PDF-1.7 binary")
    good = shared / "arxiv-api" / "rsxiv__query.xml"
    result = run_cli("import", str(truncated), str(bad_xml), str(bomb), str(unknown), str(good), ok=False)
    assert result.exit_code == 1
    out = result.output
    assert f"{truncated}:" in out and "not valid JSON" in out
    assert f"{bad_xml}:1: not well-formed XML" in out
    assert f"{bomb}: refused unsafe XML" in out
    assert f"{unknown}: unknown format" in out
    assert store.papers.count() == 10  # the good file still imported


def test_missing_path(run_cli, tmp_path: Path) -> None:
    result = run_cli("import", str(tmp_path / "nope.json"), ok=False)
    assert result.exit_code == 1 and "nope.json: no such file or folder" in result.output


def test_sigkill_mid_import_leaves_whole_batches(settings: Settings, shared: Path) -> None:
    """Kill the importer at a random moment: every stored paper is complete, nothing half-written
    (on each store: a batch is one transaction on both)."""
    # Three months of real days (1,671 papers): long enough to be killed in the middle.
    days = [str(p) for p in sorted((shared / "hf-daily").glob("2026-0[5-7]-*.json"))]
    env = dict(os.environ, PAPERTREND_DATABASE_URL=str(settings.database_url), PAPERTREND_IMPORT_BATCH_SIZE="50",
               PAPERTREND_EMBED_ON_IMPORT="false")
    subprocess.run([sys.executable, "-m", "papertrend.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "papertrend.cli", "import", *days],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = open_store(settings)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and store.papers.count() < 100:
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with store.read() as conn:
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("pragma integrity_check").scalar() == "ok"
            papers = conn.execute(select(func.count()).select_from(t.papers)).scalar_one()
            with_source = conn.execute(select(func.count(distinct(t.paper_sources.c.paper_id)))).scalar_one()
            orphans = conn.execute(select(func.count()).select_from(t.paper_categories).where(
                t.paper_categories.c.paper_id.not_in(select(t.papers.c.id)))).scalar_one()
        status = store.runs.ingest_runs()[0].status
    finally:
        store.close()
    assert papers >= 100 and papers == with_source and orphans == 0
    assert status == "running"  # the run never finished; a re-run completes it
    result = subprocess.run([sys.executable, "-m", "papertrend.cli", "import", "--json", *days],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    store = open_store(settings)
    stored = store.papers.count()
    store.close()
    ids = {e["paper"]["id"] for f in days for e in json.loads(Path(f).read_text())}
    assert stored == len(ids) > 1000  # every paper once, though some appear on two days


# -- fuzzing: parsers raise nothing but the project's own SourceError ---------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "title", "summary", "paper", "authors", "categories", "name", "upvotes",
                         "githubRepo", "githubStars", "ai_keywords", "numComments", "submittedOnDailyAt",
                         "organization", "body", "status_code"]) | st.text(max_size=5), children, max_size=6),
    max_leaves=20)


def _drain(data: bytes, fmt: str | None) -> None:
    try:
        for _ in parse_bytes(data, "fuzz", fmt):
            pass
    except SourceError:
        pass


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, fmt=st.sampled_from([None, *FORMATS]))
def test_fuzz_structured_json(value: object, fmt: str | None) -> None:
    data = json.dumps(value).encode()
    _drain(data, fmt)
    _drain(json.dumps([{"paper": value}]).encode(), "hf-daily")
    _drain(json.dumps(value).encode() + b"\n" + json.dumps(value).encode(), "arxiv-jsonl")


@hsettings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), fmt=st.sampled_from([None, *FORMATS]))
def test_fuzz_bytes(data: bytes, fmt: str | None) -> None:
    _drain(data, fmt)


xml_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@hsettings(max_examples=200, deadline=None)
@given(title=xml_text, ident=xml_text, summary=xml_text)
def test_fuzz_xml_entries(title: str, ident: str, summary: str) -> None:
    from xml.sax.saxutils import escape

    atom = (f'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>{escape(ident)}</id>'
            f"<title>{escape(title)}</title><summary>{escape(summary)}</summary></entry></feed>")
    _drain(atom.encode(), "arxiv-atom")
    oai = (f'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><metadata>'
           f'<arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>{escape(ident)}</id><title>{escape(title)}</title>'
           f"<abstract>{escape(summary)}</abstract><doi>{escape(summary)}</doi></arXiv></metadata></record>"
           f"</ListRecords></OAI-PMH>")
    _drain(oai.encode(), "oai-pmh")
