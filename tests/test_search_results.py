"""What a search page lists: the relevant set (never fillers), its total and pages, what it rests
on, the passage around the match, LaTeX rendered with the words marked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from markupsafe import Markup
from starlette.testclient import TestClient

from papertrend.search.query import highlighter, parse
from papertrend.search.snippets import best_passage
from papertrend.web.app import create_app
from papertrend.web.highlight import marked, render_marked
from search_papers import LATEX_PAPER, SPECULATIVE

pytest_plugins = ["search_corpus"]  # the corpus, client and embedder fixtures


@pytest.fixture
def warm(corpus, settings) -> Iterator[TestClient]:
    """A client of an app whose search indexes are loaded, as a served worker's are."""
    app = create_app(settings, corpus)
    with TestClient(app) as c:  # the lifespan starts loading the indexes
        assert app.state.searcher().warm().join(60) is None and app.state.searcher().ready
        yield c


def _holds(paper: dict, *words: str) -> bool:
    text = f"{paper['title']} {paper['abstract']}".lower()
    return all(w in text for w in words)


def test_sorting_by_upvotes_or_date_reorders_the_papers_found_never_fillers(client: TestClient) -> None:
    q = {"q": "speculative decoding"}
    relevance = client.get("/search.json", params=q).json()
    found = [p["id"] for p in relevance["papers"]]
    assert SPECULATIVE <= set(found[:len(SPECULATIVE) + 2])  # the papers about it come first
    about: set[str] | None = None
    for sort, key in (("upvotes", "upvotes"), ("date", "list_date")):
        data = client.get("/search.json", params={**q, "sort": sort}).json()
        papers = data["papers"]
        assert SPECULATIVE <= {p["id"] for p in papers} and data["total"] == len(papers)
        assert [p[key] for p in papers] == sorted((p[key] for p in papers), reverse=True)
        # papers that hold the words or are close in meaning; none that only hold "decoding"
        assert all(_holds(p, "speculative", "decod") or p["vector_score"] is not None for p in papers)
        assert _holds(papers[0], "speculative", "decod")
        assert about is None or about == {p["id"] for p in papers}  # both sorts order one set
        about = {p["id"] for p in papers}
    # a filter narrows the same set
    coded = client.get("/search.json", params={**q, "has_code": "1"}).json()["papers"]
    assert coded and {p["id"] for p in coded} <= (about or set()) and all(p["code_url"] for p in coded)


def test_total_and_pages_cover_every_result_once(warm: TestClient) -> None:
    client = warm
    q = {"q": "language model"}
    first = client.get("/search.json", params=q).json()
    total, pagination = first["total"], first["pagination"]
    assert total > 60 and first["total_exact"] and pagination["total"] == total
    assert pagination["per_page"] == 30 and pagination["next_page"] == 2
    seen: list[str] = []
    for page in range(1, pagination["pages"] + 1):
        data = client.get("/search.json", params={**q, "page": str(page)}).json()
        assert data["pagination"]["page"] == page
        seen += [p["id"] for p in data["papers"]]
    assert len(seen) == len(set(seen)) == total
    html = client.get("/search", params={**q, "page": "2"}).text
    assert f"{total:,} papers" in html and 'rel="next"' in html and 'rel="prev"' in html
    assert re.search(r'<ol class="papers" start="31">', html)
    assert client.get("/search.json", params={**q, "page": "0"}).status_code == 400
    assert client.get("/search.json", params={**q, "page": "x"}).status_code == 400


def test_nonsense_finds_nothing_instead_of_confident_strangers(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "qwzx vbnmkj plokijuh"}).json()
    assert data["papers"] == [] and data["total"] == 0 and data["basis"] == "none"
    assert "No papers match" in client.get("/search", params={"q": "qwzx vbnmkj plokijuh"}).text


def test_no_paper_with_the_words_says_the_results_are_related_in_meaning(client: TestClient) -> None:
    q = {"q": "speculatve decodng with a draftmodel"}  # misspelt: no paper holds these words
    data = client.get("/search.json", params=q).json()
    assert data["basis"] == "meaning" and data["total"] == len(data["papers"]) > 0
    assert SPECULATIVE & {p["id"] for p in data["papers"][:5]}
    assert data["found_by"] == "No paper contains these words — papers related in meaning."
    assert "No paper contains these words — papers related in meaning." in client.get("/search", params=q).text
    # words only: nothing, and the page says so
    assert client.get("/search.json", params={**q, "mode": "fulltext"}).json()["total"] == 0


def test_a_sentence_leans_on_meaning_a_name_on_words() -> None:
    assert parse("making language models cheaper to run").sentence
    assert parse("how do diffusion models work?").sentence
    assert parse("what is a mixture of experts").sentence
    for name in ("speculative decoding", "speculative decoding draft model", "mixture of experts",
                 "Qwen3 technical report", "SP$^3$: Spherical Priors for Plug-and-Play Restoration",
                 "Attention Is All You Need", '"mixture of experts" routing'):
        assert not parse(name).sentence, name


def test_snippet_is_the_passage_around_the_match_with_latex_rendered(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "half-quadratic splitting spherical"}).json()
    paper = next(p for p in data["papers"] if p["id"] == LATEX_PAPER)
    assert paper["snippet"].startswith("…") and "Half-Quadratic Splitting" in paper["snippet"]
    html = client.get("/search", params={"q": "half-quadratic splitting spherical"}).text
    entry = html[html.index(f'/papers/{LATEX_PAPER}"'):]
    entry = entry[:entry.index("</li>")]
    assert "SP<math" in entry and "<mn>3</mn>" in entry and "$^3$" not in entry  # as every page renders it
    assert "<mark>Spherical</mark>" in entry and "<mark>Splitting</mark>" in entry
    assert "In this paper, we introduce" not in entry  # not the abstract's opening


def test_marking_rendered_html_never_splits_markup_or_escapes_twice() -> None:
    mark = highlighter(parse("amp decoding sup math"))
    # our own tags and entities stay whole; words in text between them are marked once
    out = marked(Markup("a &amp; b <sup>decoding</sup> &lt;script&gt; decoding"), mark)
    assert str(out) == "a &amp; b <sup><mark>decoding</mark></sup> &lt;script&gt; <mark>decoding</mark>"
    # nothing inside MathML is marked
    math = Markup('<math display="inline"><mi>decoding</mi><annotation encoding="application/x-tex">'
                  "decoding</annotation></math> decoding")
    assert str(marked(math, mark)).count("<mark>") == 1
    # hostile text stays text
    out = render_marked('<img src=x onerror="alert(1)"> $x^2$ decoding', mark)
    assert "<img" not in out and "&lt;img" in out and "<mn>2</mn>" in out and "<mark>decoding</mark>" in out
    assert "<mark>" not in out[out.index("<math"):out.index("</math>")]


def test_best_passage_keeps_formulas_whole() -> None:
    text = ("Opening words of no interest. " * 8 + "We bound the error by $\\mathcal{O}(n^{2} \\log n)$ for "
            "speculative decoding with a draft model. " + "Closing words. " * 20)
    passage = best_passage(text, parse("speculative decoding"), width=160)
    assert passage.startswith("… ") and passage.endswith(" …") and "speculative decoding" in passage
    assert passage.count("$") % 2 == 0
    assert best_passage(text, parse("nothing here"), width=160).startswith("Opening words")
    assert best_passage("Short.", parse("short")) == "Short."


def test_hidden_papers_are_neither_counted_nor_leave_holes_in_pages(warm: TestClient, corpus, run_cli) -> None:
    from papertrend.accounts.signin import add_user

    client = warm
    q = {"q": "language model"}
    before = client.get("/search.json", params=q).json()
    assert before["total"] > 60 and len(before["papers"]) == 30
    gone = [before["papers"][3]["id"], before["papers"][29]["id"]]
    last = client.get("/search.json", params={**q, "page": str(before["pagination"]["pages"])}).json()["papers"]
    gone.append(last[-1]["id"])  # past the first ranking's hundred: counted from the index, not ranked
    add_user(corpus, "mod@example.org", "moderator")
    for pid in gone:
        run_cli("moderation", "act", "hide", "paper", pid, "--by", "mod@example.org", "--reason", "spam")
    after = client.get("/search.json", params=q).json()
    assert after["total"] == before["total"] - len(gone) and after["pagination"]["total"] == after["total"]
    seen: list[str] = []
    for page in range(1, after["pagination"]["pages"] + 1):
        papers = client.get("/search.json", params={**q, "page": str(page)}).json()["papers"]
        assert len(papers) == (30 if page < after["pagination"]["pages"] else after["total"] - 30 * (page - 1))
        seen += [p["id"] for p in papers]
    assert len(seen) == len(set(seen)) == after["total"] and not set(gone) & set(seen)
    # sorted and filtered lists order the same set without them
    for params in ({"sort": "upvotes"}, {"has_code": "1"}):
        data = client.get("/search.json", params={**q, **params}).json()
        pages = data["pagination"]["pages"]
        listed = [p["id"] for page in range(1, pages + 1)
                  for p in client.get("/search.json", params={**q, **params, "page": str(page)}).json()["papers"]]
        assert listed and not set(gone) & set(listed) and len(listed) == len(set(listed)) >= data["total"]


def test_cli_search_says_how_many_it_found_and_what_they_rest_on(client: TestClient, run_cli) -> None:
    web = client.get("/search.json", params={"q": "speculative decoding"}).json()
    out = run_cli("search", "speculative decoding", "--limit", "5").stdout
    assert out.splitlines()[0] == f"{web['total']:,} papers found, showing 5"
    assert "Speculative" in out and web["found_by"] is None
    out = run_cli("search", "speculative decoding", "--sort", "upvotes", "--limit", "5").stdout
    assert out.splitlines()[0].endswith("showing 5, most upvoted first")
    # no paper holds the (misspelt) words: the papers shown are related in meaning, and it says so
    out = run_cli("search", "speculatve decodng with a draftmodel").stdout
    assert "No paper contains these words — papers related in meaning." in out
    assert re.match(r"\d+ papers? found, showing \d+", out)
    assert run_cli("search", "qwzx vbnmkj plokijuh").stdout.strip() == "No papers match."
    # --json keeps standard output for the papers; the count goes to standard error
    done = run_cli("search", "speculative decoding", "--json", "--limit", "3")
    assert len(json.loads(done.stdout)) == 3 and f"{web['total']:,} papers found, showing 3" in done.stderr



def test_a_sentence_gets_papers_found_by_meaning_on_its_first_page(client: TestClient) -> None:
    """A reader's own words share few words with the papers they mean: the nearest papers by
    meaning get places of their own on a sentence's first page, not only papers saying "cheaper"."""
    q = {"q": "making language models cheaper to run"}
    papers = [p["id"] for p in client.get("/search.json", params=q).json()["papers"][:10]]
    nearest = [p["id"] for p in client.get("/search.json", params={**q, "mode": "vector"}).json()["papers"]]
    expected = [pid for pid in nearest if pid not in papers[:4]][:3]
    assert [papers[4], papers[6], papers[8]] == expected  # places 5, 7 and 9 are meaning's
    assert SPECULATIVE & set(papers)  # speculative decoding: a way to run them cheaper
