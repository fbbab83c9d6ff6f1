"""Nothing a visitor sends makes a 5xx: every route's path and query parameters, fuzzed with
hypothesis (dates at the calendar's edges, huge and Unicode numbers, long and hostile text)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from starlette.testclient import TestClient

from papertrend.ingest.importer import import_paths
from papertrend.rank.recompute import recompute_trending
from papertrend.store import Store, open_store
from papertrend.web.app import create_app
from conftest import settings_for

TRIED: dict[str, int] = {"requests": 0, "5xx": 0}

dates = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31", "0001-01-01", "1899-12-31", "1900-01-01", "2999-12-31", "3000-01-01",
                     "2026-02-29", "2024-02-29", "2026-13-01", "2026-00-10", "２０２６-07-31", "2026-7-1"]),
)
weeks = st.one_of(st.builds(lambda y, w: f"{y:04d}-W{w:02d}", st.integers(0, 9999), st.integers(0, 99)),
                  st.sampled_from(["0001-W01", "9999-W52", "2026-W53", "2020-W53", "2026-W٣١"]))
months = st.one_of(st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(0, 9999), st.integers(0, 99)),
                   st.sampled_from(["9999-12", "0000-01", "2026-１２"]))
numbers = st.one_of(st.integers().map(str), st.integers(min_value=2**63 - 5, max_value=2**70).map(str),
                    st.sampled_from(["-1", "1e309", "NaN", "٣", "0x10", " 7 ", "", "9" * 400]))
hostile = st.one_of(st.text(max_size=300), st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1000,
                                                   max_size=1500),
                    st.sampled_from(["<script>alert(1)</script>", "'; DROP TABLE papers; --", "\x00", "%00",
                                     "../../etc/passwd", '"unbalanced', "NEAR(a b)", "title:x", "\u202e",
                                     "a" * 3000]))


@pytest.fixture(scope="module")
def client(module_database_url: str, tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Iterator[TestClient]:
    """One app over two real days, on each store: a value SQLite takes and PostgreSQL refuses
    (a NUL, a number past 64 bits, a date before year 1) is a 5xx on one store only."""
    settings = settings_for(module_database_url, tmp_path_factory.mktemp("fuzz"),
                            secret_key="fuzz-secret-0123456789", embed_on_import=False)
    store: Store = open_store(settings)
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-30.json", shared / "hf-daily" / "2026-07-31.json"])
    recompute_trending(store)
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as c:
        yield c
    store.close()


def _get(client: TestClient, url: str) -> None:
    r = client.get(url)
    TRIED["requests"] += 1
    if r.status_code >= 500:
        TRIED["5xx"] += 1
    assert r.status_code < 500, f"{url[:200]} answered {r.status_code}"


FUZZ = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@FUZZ
@given(day=dates, week=weeks, month=months, fmt=st.sampled_from(["", ".json"]))
def test_period_pages(client: TestClient, day: str, week: str, month: str, fmt: str) -> None:
    _get(client, f"/papers/date/{quote(day)}{fmt}")
    _get(client, f"/papers/week/{quote(week)}{fmt}")
    _get(client, f"/papers/month/{quote(month)}{fmt}")
    _get(client, f"/papers/date?date={quote(day)}")


@FUZZ
@given(q=st.one_of(hostile, st.sampled_from(["model", "diffusion world model", "speculative decoding draft",
                                             '"video generation"', "agents"])),
       n=numbers, day=dates, mode=st.one_of(st.sampled_from(["hybrid", "fulltext", "vector"]), hostile),
       sort=st.one_of(st.sampled_from(["relevance", "date", "upvotes"]), hostile), category=hostile)
def test_search(client: TestClient, q: str, n: str, day: str, mode: str, sort: str, category: str) -> None:
    params = (f"q={quote(q)}&min_upvotes={quote(n)}&from={quote(day)}&to={quote(day)}&mode={quote(mode)}"
              f"&sort={quote(sort)}&category={quote(category)}&has_code={quote(n)}")
    _get(client, f"/search?{params}")
    _get(client, f"/search.json?{params}")


@FUZZ
@given(window=st.one_of(st.sampled_from(["today", "week", "month"]), hostile), category=hostile, n=numbers)
def test_trending(client: TestClient, window: str, category: str, n: str) -> None:
    _get(client, f"/trending?window={quote(window)}&category={quote(category)}&has_code={quote(n)}&page={quote(n)}")
    _get(client, f"/trending.json?window={quote(window)}")


@FUZZ
@given(paper=st.one_of(hostile, st.sampled_from(["2607.28624", "hep-th/9901001", "2607.28624v9", "pt-0123456789ab",
                                                 "2607.28624.json", "astro-ph/0601001.json"])))
def test_paper_pages_and_tokens(client: TestClient, paper: str) -> None:
    _get(client, f"/papers/{quote(paper, safe='/')}")
    for path in ("/subscribe/confirm", "/preferences", "/unsubscribe", "/signin/link"):
        _get(client, f"{path}?token={quote(paper)}")


@pytest.mark.parametrize("url", ["/trending?window=today&category=%00", "/trending.json?category=a%00b",
                                 "/search?q=model&category=%00", "/papers/2607.28624%00", "/papers/date/2026-07-31%00",
                                 "/papers/date/2026-07-31?category=%00", "/authors/%00", "/unsubscribe?token=%00"])
def test_a_nul_in_the_address_is_a_400_that_says_so(client: TestClient, url: str) -> None:
    """PostgreSQL refuses to compare text holding a NUL, where SQLite finds nothing (the fuzzer
    found /trending?category=%00 answering 500 on PostgreSQL only)."""
    r = client.get(url)
    assert r.status_code == 400 and "NUL" in r.text, (url, r.status_code)
    assert r.headers["content-security-policy"]   # the page's own headers, as on every answer
    assert (r.headers["content-type"] == "application/json") == url.startswith("/trending.json")


def test_fuzz_counts_are_reported() -> None:
    """Runs last in this module: the totals for the closing note (pytest -s shows them)."""
    print(f"\nfuzz: {TRIED['requests']} requests, {TRIED['5xx']} server errors")
    assert TRIED["5xx"] == 0
