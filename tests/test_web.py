"""Every route, its status codes and JSON twins, in-process over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from papertrend.ingest.importer import import_paths
from papertrend.web.app import create_app

HOSTILE = '<script>alert("title")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def client(store, settings, shared: Path, tmp_path: Path) -> TestClient:
    files = [shared / "hf-daily" / f"2026-07-{d}.json" for d in ("27", "28", "29", "30", "31")]
    hostile = tmp_path / "2026-07-30.jsonl"
    hostile.write_text(json.dumps({"id": "2607.00001", "title": HOSTILE, "authors": ["<b>Mallory</b>"],
                                   "summary": "An abstract with $x^2$ and <iframe src=//evil>.",
                                   "categories": ["cs.CR"]}) + "\n")
    astro = shared / "arxiv-api" / "arxivpy__id_astro-ph_0601001_s0_m100_3150dca9dc76.json"
    import_paths(store, settings, files + [hostile, astro])
    return TestClient(create_app(settings, store))


def test_home_shows_latest_day_most_upvoted_first(client: TestClient, shared: Path) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    raw = json.loads((shared / "hf-daily" / "2026-07-31.json").read_text())
    top = max(raw, key=lambda e: e["paper"]["upvotes"])["paper"]
    assert top["title"] in r.text
    data = client.get("/", headers={"accept": "application/json"}).json()
    assert data["period"]["key"] == "2026-07-31"
    assert [p["upvotes"] for p in data["papers"]] == sorted((p["upvotes"] for p in data["papers"]), reverse=True)
    assert data["papers"][0]["id"] == top["id"]


def test_day_week_month_pages_and_json_twins(client: TestClient) -> None:
    day = client.get("/papers/date/2026-07-30.json").json()
    assert day["period"]["kind"] == "date" and day["total"] == len(day["papers"]) > 0
    assert day["previous"] == "2026-07-29" and day["next"] == "2026-07-31"
    week = client.get("/papers/week/2026-W31.json").json()
    assert week["period"]["start"] == "2026-07-27" and week["period"]["end"] == "2026-08-02"
    assert week["total"] >= day["total"]
    month = client.get("/papers/month/2026-07", headers={"accept": "application/json"}).json()
    assert month["total"] >= week["total"]
    html = client.get("/papers/week/2026-W31")
    assert html.status_code == 200 and "Weekly papers" in html.text and 'rel="prev"' in html.text


def test_empty_day_points_to_nearest(client: TestClient) -> None:
    r = client.get("/papers/date/2026-08-02")
    assert r.status_code == 200 and "No papers on this day" in r.text and "/papers/date/2026-07-31" in r.text
    assert client.get("/papers/date/2026-08-02.json").json()["nearest_with_papers"] == "2026-07-31"


def test_date_picker_redirects(client: TestClient) -> None:
    r = client.get("/papers/date?date=2026-07-29", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/papers/date/2026-07-29")
    assert client.get("/papers/date?date=yesterday").status_code == 400


@pytest.mark.parametrize("path, status, words", [
    ("/papers/date/2025-13-40", 400, "not a real date"),
    ("/papers/date/tomorrow", 400, "not a date"),
    ("/papers/week/2026-W60", 400, "2026 has no ISO week 60"),
    ("/papers/month/2026-13", 400, "month must be 01 to 12"),
    ("/papers/decade/2020", 404, "No paper with id"),
    ("/papers/2699.99999", 404, "No paper with id"),
    ("/papers/not-an-id", 404, "No paper with id"),
    ("/nowhere", 404, "Nothing lives at"),
])
def test_bad_input_gives_clear_4xx_in_both_forms(client: TestClient, path: str, status: int, words: str) -> None:
    html = client.get(path)
    assert html.status_code == status and words in html.text and "<html" in html.text
    js = client.get(path, headers={"accept": "application/json"})
    assert js.status_code == status and words in js.json()["error"]


def test_paper_page(client: TestClient, shared: Path) -> None:
    raw = json.loads((shared / "hf-daily" / "2026-07-31.json").read_text())
    entry = raw[0]["paper"]
    r = client.get(f"/papers/{entry['id']}")
    assert r.status_code == 200
    for author in entry["authors"]:
        assert author["name"] in r.text
    assert f"https://arxiv.org/pdf/{entry['id']}" in r.text and "@misc{" in r.text
    data = client.get(f"/papers/{entry['id']}.json").json()
    assert data["title"] == entry["title"] and data["bibtex"].startswith("@")
    old = client.get("/papers/astro-ph/0601001.json")
    assert old.status_code == 200 and old.json()["id"] == "astro-ph/0601001"


def test_hostile_text_is_escaped_and_csp_forbids_inline_script(client: TestClient) -> None:
    for path in ("/papers/2607.00001", "/papers/date/" + client.get("/papers/2607.00001.json").json()["list_date"]):
        r = client.get(path)
        assert "<script>alert" not in r.text and "<img src=x" not in r.text and "<b>Mallory" not in r.text
        assert "&lt;script&gt;" in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "<msup><mi>x</mi><mn>2</mn></msup>" in client.get("/papers/2607.00001").text  # inline LaTeX as MathML


def test_etag_and_304(client: TestClient) -> None:
    first = client.get("/papers/date/2026-07-31")
    etag = first.headers["etag"]
    again = client.get("/papers/date/2026-07-31", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/papers/date/2026-07-31.json").headers["etag"] != etag


def test_static_assets_are_local(client: TestClient) -> None:
    html = client.get("/").text
    assert "http://" not in html.split("<main")[0].replace("http://www.w3.org", "")
    assert "https://" not in html.split("<main")[0]
    assert client.get("/static/style.css").status_code == 200


def test_page_cache_setting_keeps_pages_or_renders_each_time(store, settings, shared: Path) -> None:
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    for on in (True, False):
        app = create_app(settings.replace(page_cache=on), store)
        client = TestClient(app)
        first, again = client.get("/papers/date/2026-07-31"), client.get("/papers/date/2026-07-31")
        assert first.status_code == again.status_code == 200
        assert first.text == again.text and first.headers["etag"] == again.headers["etag"]
        assert (len(app.state.renderer) > 0) is on
        # 304 needs no cached body: the ETag comes from the data version
        revalidated = client.get("/papers/date/2026-07-31", headers={"if-none-match": first.headers["etag"]})
        assert revalidated.status_code == 304


def test_author_page_lists_their_papers_and_refuses_unknown_names(client: TestClient, shared: Path) -> None:
    raw = json.loads((shared / "hf-daily" / "2026-07-31.json").read_text())
    name = raw[0]["paper"]["authors"][0]["name"]
    mine = {e["paper"]["id"] for d in ("27", "28", "29", "30", "31")
            for e in json.loads((shared / "hf-daily" / f"2026-07-{d}.json").read_text())
            if any(a["name"] == name for a in e["paper"]["authors"])}
    data = client.get(f"/authors/{name.upper()}.json").json()
    assert data["total"] == len(mine) and {p["id"] for p in data["papers"]} == mine
    assert data["author"] == name and data["pagination"]["total"] == len(mine)
    page = client.get(f"/papers/{raw[0]['paper']['id']}").text
    assert f'href="/authors/{name.replace(" ", "%20")}"' in page
    hostile = client.get("/authors/%3Cb%3EMallory%3C%2Fb%3E")  # the hostile fixture's author, escaped
    assert hostile.status_code == 200 and "&lt;b&gt;Mallory" in hostile.text and "<b>Mallory" not in hostile.text
    for missing in ("/authors/Nobody%20At%20All", "/authors/%20", "/authors/" + "x" * 5000):
        assert client.get(missing).status_code == 404


def test_the_list_view_takes_only_its_two_values(client: TestClient) -> None:
    """A stranger's ?view= or view cookie can only pick titles only or full: anything else is the
    full list, no cookie is set from it, and it reaches the page only escaped."""
    for asked in ("<script>alert(1)</script>", "x" * 5000, "COMPACT"):
        r = client.get("/papers/date/2026-07-31", params={"view": asked})
        assert r.status_code == 200 and 'class="papers compact"' not in r.text and "<script>alert" not in r.text
        assert "papertrend_view" not in r.headers.get("set-cookie", "")
    client.cookies.set("papertrend_view", "<script>alert(1)</script>")
    r = client.get("/papers/date/2026-07-31")
    assert r.status_code == 200 and 'class="papers compact"' not in r.text and "<script>alert(1)" not in r.text
    client.cookies.set("papertrend_view", "compact")
    assert 'class="papers compact"' in client.get("/papers/date/2026-07-31").text
