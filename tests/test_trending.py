"""Stars refresh against a local GitHub-like server, the trending score, page and explanation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from starlette.testclient import TestClient

from github_server import FakeGitHub
from papertrend.enrich.github import GitHubClient, RateLimited
from papertrend.ids import github_repo
from papertrend.ingest.importer import import_paths
from papertrend.enrich.stars import refresh_stars
from papertrend.rank.recompute import recompute_trending
from papertrend.rank.trending import Signals, score
from papertrend.web.app import create_app


def _papers_with_repos(tmp_path: Path, repos: list[str], day: str = "2026-07-31") -> Path:
    entries = []
    for i, repo in enumerate(repos):
        entries.append({"paper": {"id": f"2607.{10000 + i}", "title": f"Paper about {repo}", "summary": "An abstract.",
                                  "authors": [{"name": "A. Author"}], "upvotes": 10, "githubRepo": f"https://github.com/{repo}",
                                  "githubStars": 10, "publishedAt": f"{day}T00:00:00.000Z",
                                  "submittedOnDailyAt": f"{day}T00:00:00.000Z"}, "numComments": 0})
    f = tmp_path / f"{day}.json"
    f.write_text(json.dumps(entries))
    return f


def test_repo_url_normalisation() -> None:
    assert github_repo("https://github.com/Owner/Repo.git") == "Owner/Repo"
    assert github_repo("https://www.github.com/owner/repo/tree/main/src") == "owner/repo"
    assert github_repo("http://github.com/a/b/") == "a/b"
    assert github_repo("github.com/a/b#readme") == "a/b"
    assert github_repo("https://gitlab.com/a/b") is None
    assert github_repo("https://github.com/orgs/x") is None


def test_stars_refresh_cli_twice_makes_velocity_appear(run_cli, store, settings, tmp_path: Path) -> None:
    with FakeGitHub() as gh:
        run_cli("import", str(_papers_with_repos(tmp_path, ["lab/fast", "lab/steady"])))
        env = {"PAPERTREND_GITHUB_API_URL": gh.url, "PAPERTREND_GITHUB_TOKEN": "t0ken",
               "PAPERTREND_CONTACT_EMAIL": "ops@example.org"}
        gh.stars.update({"lab/fast": 100, "lab/steady": 50})
        out = run_cli("stars", "refresh", env=env).stdout
        assert "ok 2" in out
        assert gh.log[0]["auth"] == "Bearer t0ken" and "ops@example.org" in gh.log[0]["agent"]
        gh.stars["lab/fast"] = 600
        out = run_cli("stars", "refresh", "--min-age-hours", "0", env=env).stdout
        assert "ok 1" in out and "not modified 1" in out  # steady answered 304 to its ETag
        assert [r["if_none_match"] for r in gh.log[2:]] == ['W/"lab/fast-100"', 'W/"lab/steady-50"']
    fast = store.papers.get("2607.10000")
    assert fast.github_stars == 600
    assert [s.stars for s in store.signals.star_history("lab/fast")] == [10, 100, 600]
    page = TestClient(create_app(settings, store)).get("/trending.json?window=week").json()
    top = page["papers"][0]
    assert top["id"] == "2607.10000" and top["reason"].startswith("+500 stars in 1 day")
    explained = json.loads(run_cli("rank", "explain", "2607.10000", "--window", "week", "--json").stdout)
    assert explained["score"] == pytest.approx(sum(explained["parts"].values()))
    assert explained["parts"]["star velocity"] > 0
    assert [s["stars"] for s in explained["star_snapshots"]] == [10, 100, 600]


def test_faults_gone_retry_after_5xx_timeout(store, settings, tmp_path: Path) -> None:
    repos = ["x/gone1", "x/limited1", "x/flaky1", "x/slow1", "x/ok1"]
    import_paths(store, settings, [_papers_with_repos(tmp_path, repos)])
    slept: list[float] = []
    with FakeGitHub() as gh:
        client = GitHubClient(settings.replace(github_api_url=gh.url), sleep=slept.append, timeout=0.5)
        counts = refresh_stars(store, client)
    assert counts == {"ok": 4, "not_modified": 0, "gone": 1, "error": 0}
    assert 7.0 in slept  # Retry-After honoured
    assert store.papers.get("2607.10000").github_stars == 10  # the gone repo keeps its last known stars
    states = {s.repo: s.status for s in store.signals.repos_to_check("9999", None)}
    assert "x/gone1" not in states  # a gone repository is not asked again
    assert gh.seen["x/slow1"] == 2 and gh.seen["x/flaky1"] == 2


def test_rate_limit_stops_and_resumes(store, settings, tmp_path: Path) -> None:
    import_paths(store, settings, [_papers_with_repos(tmp_path, [f"r/ok{i}" for i in range(6)])])
    with FakeGitHub() as gh:
        gh.remaining = 3
        client = GitHubClient(settings.replace(github_api_url=gh.url), sleep=lambda s: None, max_wait=60)
        with pytest.raises(RateLimited, match="run again later"):
            refresh_stars(store, client)
        checked = {s.repo for s in store.signals.repos_to_check("9999", None) if s.last_checked}
        assert len(checked) == 3
        gh.remaining = 100
        client = GitHubClient(settings.replace(github_api_url=gh.url), sleep=lambda s: None)
        counts = refresh_stars(store, client)
    assert counts["ok"] == 3  # only the three not yet checked
    assert all(n == 1 for repo, n in gh.seen.items() if repo not in checked)


def test_trending_page_filters_and_front_page_link(store, settings, shared: Path) -> None:
    import_paths(store, settings, [shared / "hf-daily" / f"2026-07-{d}.json" for d in ("27", "28", "29", "30", "31")])
    recompute_trending(store, now=datetime(2026, 8, 1, tzinfo=UTC))
    client = TestClient(create_app(settings, store))
    assert "/trending" in client.get("/").text
    week = client.get("/trending.json?window=week").json()
    assert week["anchor"] == "2026-07-31" and len(week["papers"]) > 20
    scores = [p["score"] for p in week["papers"]]
    assert scores == sorted(scores, reverse=True)
    for p in week["papers"]:
        assert p["score"] == pytest.approx(sum(p["score_parts"].values()))
        assert p["reason"].endswith("old") or p["reason"].endswith("today")
    coded = client.get("/trending.json?window=week&has_code=1").json()["papers"]
    assert coded and all(p["code_url"] for p in coded)
    html = client.get("/trending?window=today")
    assert html.status_code == 200 and "<svg" in html.text and 'aria-current="page"' in html.text
    assert client.get("/trending?window=decade").status_code == 400
    paper = week["papers"][0]["id"]
    assert "Trending" in client.get(f"/papers/{paper}").text


def test_trending_is_deterministic(store, settings, shared: Path) -> None:
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    now = datetime(2026, 8, 1, tzinfo=UTC)
    recompute_trending(store, now=now)
    first = [(p.id, r.score) for p, r in store.trending.page("month", limit=500)]
    recompute_trending(store, now=now)
    assert [(p.id, r.score) for p, r in store.trending.page("month", limit=500)] == first


# -- properties of the score ---------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10**7)
maybe = st.one_of(st.none(), counts)
ages = st.floats(min_value=0, max_value=5000, allow_nan=False)


@hsettings(max_examples=300, deadline=None)
@given(up=counts, com=counts, stars=maybe, gained=maybe, days=st.one_of(st.none(), st.floats(0.01, 400)), age=ages,
       more=st.integers(1, 10**6))
def test_more_signal_never_lowers_the_score(up, com, stars, gained, days, age, more) -> None:
    base = Signals(up, com, stars, gained, days, age)
    s = score(base).score
    assert score(Signals(up + more, com, stars, gained, days, age)).score >= s
    assert score(Signals(up, com, stars, (gained or 0) + more, days, age)).score >= s
    assert score(Signals(up, com, (stars or 0) + more, gained, days, age)).score >= s
    parts = score(base)
    total = parts.velocity_part + parts.stars_part + parts.upvotes_part + parts.comments_part
    assert parts.score == pytest.approx(total)


@hsettings(max_examples=300, deadline=None)
@given(up=counts, com=counts, stars=maybe, gained=maybe, age=ages, older=st.floats(0.5, 1000))
def test_older_never_outranks_identical_newer(up, com, stars, gained, age, older) -> None:
    newer = score(Signals(up, com, stars, gained, 7.0, age)).score
    assert score(Signals(up, com, stars, gained, 7.0, age + older)).score <= newer


def test_missing_signals_are_handled() -> None:
    assert score(Signals()).score == 0.0
    assert score(Signals(stars=None, stars_gained=-50, gain_days=0.0)).score == 0.0


def test_etags_change_when_trending_or_stars_change(store, settings, shared: Path) -> None:
    """After a star refresh and a recompute, /trending and the paper page are new: a client
    holding the old ETag gets the new page, not 304."""
    from papertrend.web.app import create_app

    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    recompute_trending(store)
    paper = next(p for p in store.papers.in_range("2026-07-31", "2026-07-31") if p.code_repo)
    client = TestClient(create_app(settings, store))
    app = client.app
    pages = ["/trending", f"/papers/{paper.id}"]
    tags = {path: client.get(path).headers["etag"] for path in pages}
    for path in pages:
        assert client.get(path, headers={"if-none-match": tags[path]}).status_code == 304
    store.signals.record_repo(paper.code_repo.lower(), "ok", (paper.github_stars or 0) + 500, None, None)
    recompute_trending(store)
    app.state.data_version.ttl = 0  # read the store's version now, not up to a second later
    for path in pages:
        fresh = client.get(path, headers={"if-none-match": tags[path]})
        assert fresh.status_code == 200 and fresh.headers["etag"] != tags[path], path
