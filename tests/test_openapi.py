"""``/openapi.json`` describes every JSON endpoint, and the app keeps to it: schemathesis sends
generated requests (valid and not) to every operation and checks each answer against the
description (no server error, status, content type and body as described)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from hypothesis import HealthCheck, settings as hypothesis_settings
from starlette.routing import Route
from starlette.testclient import TestClient

from papertrend.ingest.importer import import_paths
from papertrend.rank.recompute import recompute_trending
from papertrend.store import open_store
from papertrend.web.app import create_app
from papertrend.web.openapi import document

from conftest import settings_for
from web_helpers import served

SHARED = Path(__file__).resolve().parent / "fixtures" / "data"


@pytest.fixture(scope="module")
def app(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app over two real days and an old-style arXiv id, on each store."""
    settings = settings_for(module_database_url, tmp_path_factory.mktemp("openapi"))
    store = open_store(settings)
    import_paths(store, settings, [SHARED / "hf-daily" / f"2026-07-{d}.json" for d in ("30", "31")]
                 + [SHARED / "arxiv-api" / "arxivpy__id_astro-ph_0601001_s0_m100_3150dca9dc76.json"])
    recompute_trending(store, datetime(2026, 8, 1, tzinfo=UTC))
    yield create_app(settings, store)
    store.close()


@pytest.fixture(scope="module")
def url(app: Any) -> Iterator[str]:
    with served(app) as base:
        yield base


# The description is a pure function of the code (web/openapi.py), so it is loaded as the app
# would serve it; test_served_description_is_this_one checks that the served one is the same.
schema = schemathesis.openapi.from_dict(document("http://127.0.0.1"))


@schema.parametrize()
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_to_the_schema(case: Any, url: str) -> None:
    # Every check but "a schema-valid request is accepted": a well-formed date that is not a
    # day (2026-02-30), or a date and a week at once, is a 400 that names it, on purpose.
    case.call_and_validate(base_url=url, excluded_checks=[positive_data_acceptance])


def test_served_description_is_this_one(url: str) -> None:
    assert httpx.get(f"{url}/openapi.json").json()["paths"] == json.loads(json.dumps(document(url)))["paths"]


def test_every_json_route_is_described(app: Any) -> None:
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    described = set(document["paths"])
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "{" + m.group(1) + "}", route.path).replace("{paper_id}", "{id}")
        if (path.startswith("/api/") and path != "/api/docs") or path.endswith(".json"):
            if path == "/openapi.json":
                continue
            assert path in described, path
    # Paper pages answer JSON through their .json twin; the period route covers /papers/{kind}/{key}.json.
    assert {"/papers/{id}.json", "/papers/{kind}/{key}.json", "/api/daily_papers", "/api/papers/{id}"} <= described


def test_docs_page_is_served_here_and_lists_every_operation(app: Any) -> None:
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
        page = client.get("/api/docs")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert "<script" not in page.text and "https://" not in page.text.split("<main", 1)[1].split("</main>")[0]
    for path, item in document["paths"].items():
        for method in item:
            assert f"<code>{method.upper()} {path}</code>" in page.text, (method, path)
