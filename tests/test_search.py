"""Search by words and by meaning, from the CLI and the web, with filters and hostile queries."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from papertrend.enrich.embeddings import MODEL_ID
from papertrend.ingest.importer import import_paths
from papertrend.search.query import STOPWORDS, highlight, parse
from papertrend.web.app import create_app
from search_papers import SPECULATIVE

pytest_plugins = ["search_corpus"]  # the corpus, client and embedder fixtures


def test_query_parsing_is_safe() -> None:
    assert parse("C++").match() == '"c"'
    assert parse('"unbalanced').match() == '"unbalanced"'
    assert parse("AND OR NOT").match() == '"and" OR "or" OR "not"'  # only stopwords: kept
    assert parse("the art of decoding").match() == '"art" OR "decoding"'
    assert parse('"speculative decoding" draft').match() == '"speculative decoding" OR "draft"'
    long = parse("word " * 3000)
    assert long.truncated and "only its first" in long.notice
    assert parse("😀 🚀").empty


def test_finds_by_meaning_when_words_differ(client: TestClient) -> None:
    q = "making the small model guess tokens for the big one"
    def found(mode: str) -> int:
        papers = client.get("/search.json", params={"q": q, "mode": mode}).json()["papers"][:10]
        return len(SPECULATIVE & {p["id"] for p in papers})
    # Only common words match: full text alone finds one; meaning finds more, and the hybrid
    # hands this weak-in-words query to the vectors (see Fusion.lexical_pivot).
    assert found("vector") >= 3
    assert found("hybrid") >= max(1, found("fulltext"))


def test_finds_by_words_with_highlights(client: TestClient) -> None:
    r = client.get("/search", params={"q": "speculative decoding draft model"})
    assert r.status_code == 200 and "<mark>" in r.text
    data = client.get("/search.json", params={"q": "speculative decoding draft model"}).json()
    assert data["papers"][0]["id"] in SPECULATIVE


@pytest.mark.parametrize("q", ["C++", '"unbalanced', "AND OR NOT", "x" * 10_000, "word " * 2_000, "😀🚀 émoji",
                               "title:foo NEAR(a b) * ^ -", "'; DROP TABLE papers; --", ""])
def test_any_query_is_safe(client: TestClient, q: str) -> None:
    r = client.get("/search", params={"q": q})
    assert r.status_code == 200
    j = client.get("/search.json", params={"q": q})
    assert j.status_code == 200 and isinstance(j.json()["papers"], list)
    if len(q) > 300:
        assert "only its first" in j.json()["notice"] and "only its first" in r.text


def test_hostile_text_in_results_stays_escaped(client: TestClient) -> None:
    r = client.get("/search", params={"q": "decoding hostile payloads"})
    assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
    assert "&lt;script&gt;" in r.text and "<mark>" in r.text
    assert str(highlight("<b>decoding</b>", parse("decoding"))) == "&lt;b&gt;<mark>decoding</mark>&lt;/b&gt;"


def test_filters_and_sorts(client: TestClient, corpus) -> None:
    q = {"q": "language model"}
    coded = client.get("/search.json", params={**q, "has_code": "1"}).json()["papers"]
    assert coded and all(p["code_url"] for p in coded)
    popular = client.get("/search.json", params={**q, "min_upvotes": "20", "sort": "upvotes"}).json()["papers"]
    assert popular and all(p["upvotes"] >= 20 for p in popular)
    assert [p["upvotes"] for p in popular] == sorted((p["upvotes"] for p in popular), reverse=True)
    ranged = client.get("/search.json",
                        params={**q, "from": "2026-07-01", "to": "2026-07-08", "sort": "date"}).json()["papers"]
    assert ranged and all("2026-07-01" <= p["list_date"] <= "2026-07-08" for p in ranged)
    cats = client.get("/search.json", params={"q": "decoding", "category": "cs.CR"}).json()["papers"]
    assert [p["id"] for p in cats] == ["2607.00003"]
    assert client.get("/search.json", params={**q, "from": "2026-13-01"}).status_code == 400
    assert client.get("/search.json", params={**q, "sort": "random"}).status_code == 400


def test_similar_papers_on_paper_page(client: TestClient) -> None:
    data = client.get("/papers/2606.18394.json").json()
    assert len(data["similar"]) == 5 and "2606.18394" not in {s["id"] for s in data["similar"]}
    assert SPECULATIVE & {s["id"] for s in data["similar"]}
    assert "Similar papers" in client.get("/papers/2606.18394").text


def test_fulltext_follows_updates(run_cli, corpus, tmp_path: Path) -> None:
    f = tmp_path / "v9.xml"
    f.write_text("""<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2607.26627v9</id>
      <title>Zanzibar lossy verification</title><summary>New text.</summary>"""
                 """<author><name>A</name></author></entry></feed>""")
    run_cli("import", str(f), env={"PAPERTREND_EMBED_ON_IMPORT": "false"})
    found = json.loads(run_cli("search", "zanzibar", "--mode", "fulltext", "--json").stdout)
    assert [p["id"] for p in found] == ["2607.26627"]
    sql = run_cli("search", "zanzibar", "--sql").stdout
    if corpus.settings.is_sqlite:
        assert "papers_fts MATCH :match" in sql and 'zanzibar' in sql.splitlines()[1]
    else:  # the GIN-indexed terms, and FTS5's term for the word
        assert "papers_fts.terms @@ CAST(" in sql and "'zanzibar'" in sql


def test_hnsw_index_agrees_with_exact_and_follows_updates(corpus, settings) -> None:
    from papertrend.search.vectors import HnswIndex, VectorIndex

    exact, approx = VectorIndex(corpus, MODEL_ID), HnswIndex(corpus, MODEL_ID)
    assert exact.refresh() == approx.refresh() > 100
    overlap = []
    for pid in list(exact.ids)[:50]:
        q = exact.vector_of(pid)
        a = {p for p, _ in exact.search(q, 10)}
        b = {p for p, _ in approx.search(q, 10)}
        overlap.append(len(a & b) / 10)
    assert sum(overlap) / len(overlap) >= 0.9  # recall@10 of the approximate index
    # A re-embedded paper replaces its old vector in both indexes.
    pid = exact.ids[0]
    other = exact.vector_of(exact.ids[1]).astype("<f4").tobytes()
    corpus.vectors.save([{"paper_id": pid, "model": MODEL_ID, "text_hash": "changed", "vector": other}])
    exact.refresh(), approx.refresh()
    assert len(approx) == len(exact)
    assert pid in {p for p, _ in approx.search(exact.vector_of(exact.ids[1]), 3)}


def _ids(store, found):
    ids = store.search.ids_for_rowids([rowid for rowid, _ in found])
    return [ids[rowid] for rowid, _ in found]


@pytest.mark.parametrize("q", ["speculative decoding draft model", "language model", "the of and",
                               "Know what you don't know: knowing", "diffusion video generation benchmark"])
def test_memory_index_ranks_like_fts5(corpus, q: str) -> None:
    from papertrend.models import SearchFilters
    from papertrend.search.lexical import LexicalIndex

    index = LexicalIndex(corpus)
    assert not index.ready and index.refresh() > 100 and index.ready
    query = parse(q)
    for mode, top in (("any", index.top_any), ("all", index.top_all)):
        sql = corpus.search.fulltext(query.match(mode), SearchFilters(), 10)
        words = [t for t in query.terms if mode == "all" or t not in STOPWORDS] or query.terms
        mem = top(index.terms(words), 10)
        assert _ids(corpus, mem) == [pid for pid, _ in sql] or (  # equal scores may swap places
            {pid for pid, _ in sql} == set(_ids(corpus, mem)))
        # impacts are float16: a score is within about 1e-3 of FTS5's (rounding first doubles that)
        assert [s for _, s in mem] == pytest.approx([s for _, s in sql], rel=2e-3)


def test_phrase_matches_newest_first(corpus) -> None:
    """What the in-memory tiers read for a common phrase: the newest matches, unranked, each
    holding the words side by side (on PostgreSQL: a GIN query over FTS5's terms)."""
    rowids = corpus.search.fulltext_rowids('"language models"', 50)
    assert len(rowids) == 50 and rowids == sorted(set(rowids), reverse=True)
    texts = corpus.search.titles_and_abstracts(list(corpus.search.ids_for_rowids(rowids).values()))
    assert all(re.search(r"language\W+models?", f"{title} {abstract}", re.I) for title, abstract in texts.values())
    assert corpus.search.fulltext_rowids('"zzqx unheardof"', 5) == []


def test_memory_index_follows_edits_and_deletions(corpus, settings, tmp_path: Path) -> None:
    from papertrend.search.lexical import LexicalIndex
    from papertrend.store import schema

    index = LexicalIndex(corpus)
    index.refresh()
    before = len(index)
    assert _ids(corpus, index.top_any(index.terms(["speculative"]), 50))
    f = tmp_path / "v9.xml"
    f.write_text("""<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2607.26627v9</id>
      <title>Zanzibar lossy verification</title><summary>New text.</summary>"""
                 """<author><name>A</name></author></entry></feed>""")
    import_paths(corpus, settings, [f])
    assert index.refresh() == 1 and len(index) == before
    assert _ids(corpus, index.top_any(index.terms(["zanzibar"]), 5)) == ["2607.26627"]
    assert "2607.26627" not in _ids(corpus, index.top_all(index.terms(["speculative", "decoding"]), 100))
    with corpus.write() as conn:
        conn.execute(schema.papers.delete().where(schema.papers.c.id == "2607.26627"))
    assert index.refresh() == 1 and len(index) == before - 1
    assert index.top_any(index.terms(["zanzibar"]), 5) == []
    scored = index.score(list(range(1, 20_000)), index.terms(["zanzibar"]))  # every live paper, none stale
    assert len(scored) == len(index)
    assert "2607.26627" not in set(corpus.search.ids_for_rowids([r for r, _ in scored]).values())


def test_web_search_uses_the_warmed_memory_index(corpus, settings) -> None:
    app = create_app(settings, corpus)
    with TestClient(app) as client:  # the lifespan starts loading the indexes
        searcher = app.state.searcher()
        for _ in range(200):
            if searcher.lexical.ready:
                break
            time.sleep(0.05)
        assert searcher.lexical.ready
        queries = [{"q": "speculative decoding draft model", "mode": "fulltext"},
                   {"q": "language model", "has_code": "1", "mode": "fulltext"},  # filtered in memory
                   {"q": "decoding", "category": "cs.CR", "mode": "fulltext"}]    # too few: SQL again
        served = [[p["id"] for p in client.get("/search.json", params=q).json()["papers"]] for q in queries]
        index, searcher.lexical = searcher.lexical, None  # the same searches ranked by FTS5 in SQL
        in_sql = [[p["id"] for p in client.get("/search.json", params=q).json()["papers"]] for q in queries]
        assert served[0] == in_sql[0] and served[2] == in_sql[2] == ["2607.00003"] and served[0][0] in SPECULATIVE
        # The title tier orders by the phrase anywhere in memory, by the title phrase in SQL.
        assert set(served[1]) == set(in_sql[1]) and len(served[1]) >= 20
        assert index.ready and len(index) == corpus.papers.count()


def test_adjacent_words_outrank_scattered_ones_and_others_get_places(store, settings, tmp_path: Path) -> None:
    from papertrend.models import SearchFilters
    from papertrend.search.hybrid import Fusion, rank, tiered_fulltext

    rows = [{"id": "2601.00001", "title": "Experts, routing and sparse layers", "authors": ["A"],
             "categories": ["cs.LG"],
             "summary": "Layers route a mixture of data to experts; routing is sparse and learned, "
                        "experts are sparse."},
            {"id": "2601.00002", "title": "Conditional computation", "authors": ["B"], "categories": ["cs.LG"],
             "summary": "A sparse mixture of experts with learned routing layers, studied at length in this paper."}]
    f = tmp_path / "2026-01-02.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_paths(store, settings, [f])
    query = parse("sparse mixture of experts with learned routing layers")  # 8 words: no tiers
    assert [pid for pid, _ in store.search.fulltext(query.match(), SearchFilters(), 10)] == ["2601.00001", "2601.00002"]
    found = tiered_fulltext(store, query, SearchFilters())
    assert [pid for pid, _ in found.hits] == ["2601.00002", "2601.00001"]
    # After ten places, every third goes to the best paper lacking some word (here: found by meaning).
    fts = [(f"w{i:02d}", 10.0 - i / 10) for i in range(20)]
    vec = [("v1", 0.9), ("w00", 0.8)] + [(f"x{i}", 0.5 - i / 100) for i in range(30)]
    ranked = [pid for pid, _ in rank(fts, vec, Fusion(), every_word={pid for pid, _ in fts})]
    assert ranked[:10] == [f"w{i:02d}" for i in range(10)]
    assert ranked[10:16] == ["w10", "w11", "v1", "w12", "w13", "x0"]


def test_concurrent_searches_agree_with_searches_one_at_a_time(corpus, settings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from papertrend.search.hybrid import build_searcher

    searcher = build_searcher(settings, corpus)  # what a web worker shares between its threads
    searcher.warm().join()
    assert searcher.ready
    # words the analyzer has not seen yet are learnt while other threads look words up
    queries = ["speculative decoding", "draft model verification", "language model", "decoding attacks",
               "zyxwvut speculative", "retrieval augmented generation", "mixture of experts", "quokka decoding"]

    def ids(q: str) -> list[str]:
        return [h.paper.id for h in searcher.search(q, limit=30).hits]

    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(ids, queries * 4))
    alone = [ids(q) for q in queries * 4]
    assert together == alone and all(alone[:2])


def test_repeated_searches_are_remembered_until_the_index_changes(corpus, settings, tmp_path: Path) -> None:
    from papertrend.search.hybrid import build_searcher

    searcher = build_searcher(settings, corpus)
    searcher.warm().join()
    first = [h.paper.id for h in searcher.search("quokka decoding", limit=10).hits]
    assert searcher.search("quokka decoding", limit=10).hits[0].paper.id == first[0]  # from memory
    new = tmp_path / "2026-07-31.jsonl"
    new.write_text(json.dumps({"id": "2607.09999", "categories": ["cs.CL"], "authors": ["Q. Uokka"],
                               "title": "Quokka decoding", "summary": "Quokka decoding for everyone."}) + "\n")
    import_paths(corpus, settings, [new])
    searcher.lexical.refresh()  # what a search does by itself at most FRESHNESS seconds later
    assert searcher.search("quokka decoding", limit=10).hits[0].paper.id == "2607.09999"
