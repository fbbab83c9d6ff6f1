"""A paper's fields are declared once (models.Paper); everything else agrees with that declaration."""

from __future__ import annotations

import dataclasses
import typing

from papertrend.models import PAPER_FIELDS, RECORD_ONLY_FIELDS, ROLES, Author, Paper, PaperRecord, paper_fields
from papertrend.store import schema as t
from papertrend.store.papers import paper_from_row, paper_to_row


def test_every_field_has_a_role_and_a_kind() -> None:
    for f in PAPER_FIELDS:
        assert f.metadata["role"] in ROLES, f.name
        assert f.metadata["kind"] in ("id", "text", "date", "int", "json"), f.name


def test_records_carry_exactly_the_fields_a_source_can_give() -> None:
    given = set(paper_fields("key", "version", "metadata", "daily", "signal"))
    record = {f.name for f in dataclasses.fields(PaperRecord)} - set(RECORD_ONLY_FIELDS)
    assert record == given
    paper_types = typing.get_type_hints(Paper)
    record_types = typing.get_type_hints(PaperRecord)
    for name in given - {"id", "abstract", "upvotes", "num_comments"}:
        # A record may lack what a paper always has (id before the importer names it, counts).
        assert record_types[name] == paper_types[name], name


def test_the_papers_table_is_derived_from_the_declaration() -> None:
    columns = set(t.papers.columns.keys())
    assert {t.paper_column_name(name) for name in paper_fields()} | set(t.BOOKKEEPING_COLUMNS) == columns
    assert "trending_score" not in columns  # dead columns are gone (migration 0007)


def test_json_and_rows_round_trip_every_field() -> None:
    paper = Paper(id="2607.00001", title="T", abstract="A", authors=[Author("Ada", "Lab"), Author("Bo")],
                  version=2, categories=["cs.CL", "cs.LG"], comment="c", doi="d", journal_ref="j",
                  published="2026-07-01", updated="2026-07-02", abs_url="a", pdf_url="p", project_page="pp",
                  code_url="https://github.com/o/r", daily_date="2026-07-03", list_date="2026-07-03",
                  submitter="s", organization="o", ai_summary="sum", ai_keywords=["k"], upvotes=3, num_comments=1,
                  github_stars=9)
    assert set(paper.to_json()) == set(paper_fields())
    assert paper.to_json()["authors"] == [{"name": "Ada", "affiliation": "Lab"}, {"name": "Bo"}]
    row = paper_to_row(paper, "arxiv-atom", "2026-07-03T00:00:00")
    assert set(row) == set(t.papers.columns.keys()) - {"first_seen", "last_changed"}

    class Row:
        _mapping = row

    assert paper_from_row(Row()) == paper
