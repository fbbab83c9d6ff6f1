"""`papertrend import`, `papers list` and `papers show`, as a user runs them, on the real shared data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papertrend.ids import local_id


def test_import_all_shared_data_then_reimport_changes_nothing(run_cli, shared: Path, store) -> None:
    first = run_cli("import", str(shared), "--json", ok=False)
    assert first.exit_code == 1  # the recorded HTTP 400 entry is rejected
    summary = json.loads(first.stdout)
    assert summary["new"] > 8000
    assert summary["rejected"] == 1
    assert "arxivpy__id_abc" in summary["errors"][0] and "incorrect id format for abc" in summary["errors"][0]
    count = store.papers.count()

    again = json.loads(run_cli("import", str(shared), "--json", ok=False).stdout)
    assert again["new"] == 0 and again["updated"] == 0
    assert store.papers.count() == count


def test_papers_list_and_show_json(run_cli, shared: Path) -> None:
    run_cli("import", str(shared / "hf-daily" / "2026-07-31.json"), str(shared / "hf-daily" / "2026-07-30.json"))
    listed = json.loads(run_cli("papers", "list", "--date", "2026-07-31", "--json").stdout)
    raw = json.loads((shared / "hf-daily" / "2026-07-31.json").read_text())
    assert {p["id"] for p in listed} == {e["paper"]["id"] for e in raw}
    upvotes = [p["upvotes"] for p in listed]
    assert upvotes == sorted(upvotes, reverse=True)
    for paper in listed:
        assert {"id", "title", "authors", "abstract", "published", "upvotes"} <= set(paper)

    top = listed[0]
    shown = json.loads(run_cli("papers", "show", top["id"], "--json").stdout)
    assert shown["id"] == top["id"] and shown["title"] == top["title"]
    source = next(e for e in raw if e["paper"]["id"] == top["id"])
    assert [a["name"] for a in shown["authors"]] == [a["name"] for a in source["paper"]["authors"]]
    assert shown["upvotes"] == source["paper"]["upvotes"]

    week = json.loads(run_cli("papers", "list", "--week", "2026-W31", "--json").stdout)
    assert len(week) == len(listed) + len(json.loads((shared / "hf-daily" / "2026-07-30.json").read_text()))
    month = json.loads(run_cli("papers", "list", "--month", "2026-07", "--sort", "published", "--json").stdout)
    assert len(month) == len(week)
    published = [p["published"] for p in month]
    assert published == sorted(published, reverse=True)


def test_text_output_and_missing_paper(run_cli, shared: Path) -> None:
    run_cli("import", str(shared / "hf-daily" / "2026-07-31.json"))
    text = run_cli("papers", "list").stdout
    assert "PhiZero" in text
    missing = run_cli("papers", "show", "2607.99999", ok=False)
    assert missing.exit_code == 1 and "no paper '2607.99999'" in missing.output


def test_hf_fields_kept(run_cli, shared: Path, store) -> None:
    run_cli("import", str(shared / "hf-daily" / "2025-09-01.json"))
    raw = json.loads((shared / "hf-daily" / "2025-09-01.json").read_text())
    entry = next(e for e in raw if e["paper"].get("ai_keywords") and e["paper"].get("githubRepo"))
    paper = store.papers.get(entry["paper"]["id"])
    assert paper.ai_keywords == entry["paper"]["ai_keywords"]
    assert paper.ai_summary == entry["paper"]["ai_summary"]
    assert paper.daily_date == "2025-09-01"
    assert paper.num_comments == entry["numComments"]
    assert paper.code_url.lower().rstrip("/") == entry["paper"]["githubRepo"].lower().rstrip("/").removesuffix(".git")
    # provenance keeps the whole source record, every field
    assert store.papers.sources_of(paper.id)[0]["source"] == "hf-daily"
    assert store.signals.observations(paper.id)[0].upvotes == entry["paper"]["upvotes"]


def test_atom_details(run_cli, shared: Path, store) -> None:
    run_cli("import", *[str(p) for p in sorted((shared / "arxiv-api").glob("*")) if "_abc_" not in p.name])
    old_style = store.papers.get("astro-ph/0601001")
    assert old_style is not None and old_style.version
    assert any(a.affiliation for a in old_style.authors)
    with_doi = [p for p in store.papers.in_range("0000-01-01", "9999-12-31") if p.doi and p.journal_ref]
    assert with_doi
    # rsxiv capture: links have no rel/title attributes, the PDF link is still found
    rs = store.papers.get("1309.4668")
    assert rs is not None and rs.pdf_url.startswith("https://arxiv.org/pdf/1309.4668")


def test_newer_version_updates(run_cli, tmp_path: Path, store) -> None:
    def atom(version: int, title: str) -> str:
        return f"""<feed xmlns="http://www.w3.org/2005/Atom"><entry>
        <id>http://arxiv.org/abs/2601.00001v{version}</id><title>{title}</title>
        <summary>An abstract.</summary><author><name>A. Author</name></author></entry></feed>"""
    (tmp_path / "v1.xml").write_text(atom(1, "First title"))
    (tmp_path / "v2.xml").write_text(atom(2, "Second title"))
    run_cli("import", str(tmp_path / "v1.xml"))
    run_cli("import", str(tmp_path / "v2.xml"))
    run_cli("import", str(tmp_path / "v1.xml"))  # an older version never wins back
    paper = store.papers.get("2601.00001")
    assert (paper.version, paper.title) == (2, "Second title")


def test_listing_text_merges_known_titles(run_cli, shared: Path, store, tmp_path: Path) -> None:
    # SOURCES.md says 86 papers; the page holds 87 distinct title + abstract pairs.
    listing = shared / "listing-text" / "hf-trending-page.txt"
    summary = json.loads(run_cli("import", str(listing), "--json").stdout)
    assert summary["new"] == 87 and summary["rejected"] == 0
    assert store.papers.count() == 87
    assert store.papers.latest_list_date() is None  # undated: on no daily list
    titles = {p.title for p in store.papers.get_many([local_id(t) for t in ["Subscribe", "Mar 18", "new"]]).values()}
    assert not titles & {"Subscribe", "Mar 18", "new", "Get trending papers in your email inbox!"}

    # A pasted listing whose title matches a known paper (case, spacing) merges with it.
    known = "Bag of Tricks for Inference-time Computation of LLM Reasoning"
    pasted = tmp_path / "pasted.txt"
    pasted.write_text("Subscribe\n\n" + known.upper().replace(" ", "  ") + "\n\n" + "word " * 40 + "\n")
    again = json.loads(run_cli("import", str(pasted), "--json").stdout)
    assert again["new"] == 0 and store.papers.count() == 87
    assert store.papers.count() == 87
    run_cli("import", str(listing))
    assert store.papers.count() == 87


@pytest.mark.parametrize("fmt", ["hf-daily", "arxiv-jsonl", "arxiv-atom", "oai-pmh", "listing"])
def test_forced_format_on_wrong_input_is_an_error_not_a_crash(run_cli, shared: Path, fmt: str) -> None:
    result = run_cli("import", "--format", fmt, str(shared / "arxiv-oaipmh" / "hepcrawl__arxiv-single.xml"), ok=False)
    if fmt == "oai-pmh":
        assert result.exit_code == 0
    else:
        assert result.exit_code == 1 and "hepcrawl__arxiv-single.xml" in result.output
