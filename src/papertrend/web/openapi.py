"""``/openapi.json``: every JSON endpoint, described; ``/api/docs``: the same, as a page.

The description is written here, next to nothing else, and tests/test_openapi.py holds it to
the truth twice: every JSON route of the app is in it, and schemathesis sends generated requests
to each operation and checks every answer against it (no server error, no answer that breaks
the schema). The docs page is rendered on the server from the same dictionary: no script, no
CDN (the site's CSP allows only its own origin).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..rank.trending import WINDOWS
from ..search.hybrid import MODES, SORTS as SEARCH_SORTS
from .api import LIMIT_MAX, SORTS

REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


Z_TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
          "description": "UTC, milliseconds, ending in Z"}
PAPER_ID = _path("id", "An arXiv id (2607.01234, or hep-th/9901001 as two path segments) or a local pt- id")

_EXTRAS = {
    "ai_summary": _nullable({"type": "string"}),
    "ai_keywords": {"type": "array", "items": {"type": "string"}},
    "projectPage": _nullable({"type": "string"}),
    "githubRepo": _nullable({"type": "string"}),
    "githubStars": _nullable({"type": "integer"}),
}

_PAPER_FIELDS = {
    "id": {"type": "string"},
    "title": {"type": "string"},
    "authors": {"type": "array", "items": _ref("Author")},
    "publishedAt": _nullable(Z_TIME),
    "summary": {"type": "string"},
    "upvotes": {"type": "integer", "minimum": 0},
    "discussionId": {"type": "string"},
    "submittedOnDailyAt": _nullable(Z_TIME),
    "submittedOnDailyBy": _nullable(_ref("User")),
    "organization": _nullable(_ref("Organization")),
    **_EXTRAS,
}

_PAPERTREND_PAPER = {"type": "object", "required": ["id", "title", "authors", "upvotes", "num_comments"],
                     "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                    "authors": {"type": "array", "items": _ref("Author")},
                                    "upvotes": {"type": "integer"}, "num_comments": {"type": "integer"},
                                    "list_date": _nullable({"type": "string", "format": "date"})}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Author": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
    "User": {"type": "object", "required": ["user", "fullname", "avatarUrl"],
             "properties": {"user": {"type": "string"}, "fullname": {"type": "string"},
                            "avatarUrl": {"type": "string"}}},
    "Organization": {"type": "object", "required": ["name", "fullname", "avatarUrl"],
                     "properties": {"name": {"type": "string"}, "fullname": {"type": "string"},
                                    "avatarUrl": {"type": "string"}}},
    "NestedPaper": {"type": "object", "required": ["id", "title", "authors", "upvotes", "discussionId"],
                    "properties": _PAPER_FIELDS},
    "DailyPaper": {
        "type": "object",
        "description": "A listed paper, shaped like Hugging Face's: the paper nested, what the list says "
                       "about it at the top level (never authors, upvotes, summary or comments there).",
        "required": ["paper", "title", "publishedAt", "numComments", "submittedBy"],
        "properties": {"paper": _ref("NestedPaper"), "title": {"type": "string"},
                       "publishedAt": _nullable(Z_TIME), "numComments": {"type": "integer", "minimum": 0},
                       "submittedBy": _nullable(_ref("User")), "organization": _nullable(_ref("Organization")),
                       **_EXTRAS},
        "not": {"anyOf": [{"required": ["authors"]}, {"required": ["upvotes"]}, {"required": ["summary"]},
                          {"required": ["comments"]}]},
    },
    "Paper": {"type": "object", "required": ["id", "title", "authors", "upvotes", "numComments", "discussionId"],
              "properties": {**_PAPER_FIELDS, "numComments": {"type": "integer", "minimum": 0},
                             "comments": {"type": "array", "items": _ref("Comment")}}},
    "Comment": {"type": "object", "required": ["id", "author", "text", "createdAt"],
                "properties": {"id": {"type": "string"}, "author": _ref("User"), "text": {"type": "string"},
                               "createdAt": Z_TIME, "parentId": _nullable({"type": "string"}),
                               "editedAt": _nullable(Z_TIME)}},
    "Upvoted": {"type": "object", "required": ["id", "upvoted", "upvotes"],
                "properties": {"id": {"type": "string"}, "upvoted": {"type": "boolean"},
                               "upvotes": {"type": "integer", "minimum": 0,
                                           "description": "Imported upvotes and this instance's own"}}},
    "PapertrendPaper": _PAPERTREND_PAPER,
}

_LIMIT = {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX}
_WRITE_ERRORS = {"401": _error("No personal API token of an account here (any other token is refused)"),
                 "403": _error("The account is suspended"), "404": _error("No such paper (or a hidden one)"),
                 "413": _error("A body over the site's limit"), "429": _error("Too many from this account just now")}
# Public reads: a token may come (the client sends the user's own Hugging Face token); it is ignored.
_BEARER: list[dict[str, list[str]]] = [{}, {"bearer": []}]


def _operation(summary: str, description: str, parameters: list[dict[str, Any]], responses: dict[str, Any],
               tag: str, security: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "description": description, "tags": [tag],
                          "parameters": parameters, "responses": responses}
    if security is not None:
        op["security"] = security
    return op


def _feed(summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    fmt = _path("fmt", "rss (RSS 2.0) or atom", {"type": "string", "enum": ["rss", "atom"]})
    return {"get": _operation(summary, "ETag and Last-Modified; 304 when the reader has it.", parameters + [fmt], {
        "200": {"description": "The feed", "content": {"application/rss+xml": {"schema": {"type": "string"}},
                                                      "application/atom+xml": {"schema": {"type": "string"}}}},
        "304": {"description": "Not changed since the reader's copy"},
        "400": {"description": "A bad parameter, named", "content": {"text/plain": {"schema": {"type": "string"}}}},
        "404": {"description": "No such feed", "content": {"text/plain": {"schema": {"type": "string"}}}},
    }, "Feeds")}


PATHS: dict[str, Any] = {
    "/api/daily_papers": {"get": _operation(
        "Daily papers (Hugging Face compatible)",
        "A day's, week's or month's papers; with no period, the most recent day (sort=trending with no period: "
        "what is trending this week, in papertrend's explained order). A bare array; p past the end is [].",
        [_query("date", "A day, YYYY-MM-DD", {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}),
         _query("week", "An ISO week, YYYY-Www", {"type": "string", "pattern": r"^\d{4}-W\d{2}$"}),
         _query("month", "A month, YYYY-MM", {"type": "string", "pattern": r"^\d{4}-\d{2}$"}),
         _query("submitter", "Only papers this user put on a daily list", {"type": "string"}),
         _query("sort", "publishedAt (default) or trending", {"type": "string", "enum": list(SORTS)}),
         _query("p", "Page, from 0", {"type": "integer", "minimum": 0, "maximum": 10_000}),
         _query("limit", f"Papers a page (default 50, at most {LIMIT_MAX})", _LIMIT)],
        {"200": _json({"type": "array", "items": _ref("DailyPaper")}, "The papers"),
         "400": _error("A bad date, week, month, sort, p or limit, named")}, "Hugging Face compatible", _BEARER)},
    "/api/papers/search": {"get": _operation(
        "Search papers (Hugging Face compatible)", "Hybrid full-text and meaning search.",
        [_query("q", "The query", {"type": "string", "minLength": 1}, required=True),
         _query("limit", f"Papers (default 20, at most {LIMIT_MAX})", _LIMIT)],
        {"200": _json({"type": "array", "items": _ref("DailyPaper")}, "The best matches first"),
         "400": _error("No query, or a bad limit")}, "Hugging Face compatible", _BEARER)},
    "/api/papers/{id}": {"get": _operation(
        "A paper (Hugging Face compatible)", "With field=comments, its comments too (oldest first).",
        [PAPER_ID, _query("field", "comments", {"type": "string", "enum": ["comments"]})],
        {"200": _json(_ref("Paper"), "The paper"), "400": _error("A bad field"),
         "404": _error("No such paper")}, "Hugging Face compatible", _BEARER)},
    "/api/papers/{id}/comment": {"post": {**_operation(
        "Comment on a paper (Hugging Face's path and body)",
        "For the account whose personal API token (made on its account page) comes as a Bearer header; the "
        "site's comment rules and rate limit apply.",
        [PAPER_ID], {"201": _json(_ref("Comment"), "The comment, as ?field=comments lists it"),
                     "400": _error("No comment text, too long, or a bad parentId"),
                     **_WRITE_ERRORS}, "Hugging Face compatible", [{"bearer": []}]),
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["comment"],
            "properties": {"comment": {"type": "string", "minLength": 1},
                           "parentId": {"type": "string", "description": "Answer this comment"}}}}}}}},
    "/api/papers/{id}/upvote": {
        method: _operation("Upvote a paper" if method == "post" else "Take an upvote back",
                           "For the account whose personal API token comes as a Bearer header: one upvote per "
                           "account (upvoting twice is still one); the site's vote rate limit applies.",
                           [PAPER_ID], {"200": _json(_ref("Upvoted"), "Done"), **_WRITE_ERRORS},
                           "Hugging Face compatible", [{"bearer": []}])
        for method in ("post", "delete")},
    "/healthz": {"get": _operation("Liveness", "Whether the process answers, and its search indexes.", [], {
        "200": _json({"type": "object", "required": ["ok", "papers", "search", "worker"],
                      "properties": {"ok": {"type": "boolean"}, "papers": {"type": "integer"},
                                     "search": {"type": "object"}, "worker": {"type": "integer"}}}, "Alive")},
        "Site")},
    "/trending.json": {"get": _operation("Trending papers", "A window's ranking with each paper's score and reason.", [
        _query("window", "today, week or month", {"type": "string", "enum": list(WINDOWS)}),
        _query("category", "An arXiv category", {"type": "string"}),
        _query("has_code", "Only papers with code", {"type": "string"})],
        {"200": _json({"type": "object", "required": ["window", "papers"],
                       "properties": {"window": {"type": "string"},
                                      "papers": {"type": "array", "items": _ref("PapertrendPaper")}}}, "The ranking"),
         "400": _error("A bad window or page")}, "Site")},
    "/search.json": {"get": _operation("Search", "Full text, meaning, or both, with filters.", [
        _query("q", "The query", {"type": "string"}),
        _query("mode", "hybrid, fulltext or vector", {"type": "string", "enum": list(MODES)}),
        _query("sort", "relevance, date or upvotes", {"type": "string", "enum": list(SEARCH_SORTS)}),
        _query("from", "First list day, YYYY-MM-DD", {"type": "string"}),
        _query("to", "Last list day, YYYY-MM-DD", {"type": "string"}),
        _query("category", "An arXiv category", {"type": "string"}),
        _query("min_upvotes", "At least this many upvotes (empty or below 0: any)",
               {"type": "string", "pattern": r"^(-?[0-9]+)?$"})],
        {"200": _json({"type": "object", "required": ["query", "papers"],
                       "properties": {"query": {"type": "string"},
                                      "papers": {"type": "array", "items": _ref("PapertrendPaper")}}}, "The hits"),
         "400": _error("A bad filter, named")}, "Site")},
    "/jobs.json": {"get": _operation("Job and import runs", "For admins (a signed-in session).", [], {
        "200": _json({"type": "object", "required": ["job_runs", "ingest_runs"],
                      "properties": {"job_runs": {"type": "array"}, "ingest_runs": {"type": "array"}}}, "The runs"),
        "401": _error("Not signed in"), "403": _error("Not an admin")}, "Site")},
    "/library.json": {"get": _operation("Your library", "The papers you saved, newest first (a signed-in session).", [
        _query("page", "Page, from 1", {"type": "integer", "minimum": 1})], {
        "200": _json({"type": "object", "required": ["papers", "pagination"],
                      "properties": {"papers": {"type": "array", "items": _ref("PapertrendPaper")},
                                     "pagination": {"type": "object"}}}, "Your saved papers"),
        "400": _error("A bad page"), "401": _error("Not signed in"), "403": _error("A suspended account")},
        "Community")},
    "/moderation.json": {"get": _operation("Open reports", "For moderators (a signed-in session).", [], {
        "200": _json({"type": "object", "required": ["reports"], "properties": {"reports": {"type": "array"}}},
                     "The queue"),
        "401": _error("Not signed in"), "403": _error("Not a moderator")}, "Community")},
    "/admin/audit.json": {"get": _operation("The moderators' audit log", "For moderators (a signed-in session).", [
        _query("page", "Page, from 1", {"type": "integer", "minimum": 1})], {
        "200": _json({"type": "object", "required": ["entries", "pagination"],
                      "properties": {"entries": {"type": "array"}, "pagination": {"type": "object"}}}, "The log"),
        "400": _error("A bad page"), "401": _error("Not signed in"), "403": _error("Not a moderator")},
        "Community")},
    "/papers/{kind}/{key}.json": {"get": _operation("A day, week or month", "Its papers, most upvoted first.", [
        _path("kind", "date, week or month", {"type": "string", "enum": ["date", "week", "month"]}),
        _path("key", "YYYY-MM-DD, YYYY-Www or YYYY-MM")],
        {"200": _json({"type": "object", "required": ["period", "total", "papers"],
                       "properties": {"period": {"type": "object"}, "total": {"type": "integer"},
                                      "papers": {"type": "array", "items": _ref("PapertrendPaper")}}}, "The list"),
         "400": _error("A bad date, week or month"),
         "404": _error("Not a period: /papers/{kind}/{key} is then an old-style arXiv id, unknown here")}, "Site")},
    "/papers/{id}.json": {"get": _operation("A paper", "Every field, its BibTeX, star history, trending, similar.",
                                            [PAPER_ID], {"200": _json(_ref("PapertrendPaper"), "The paper"),
                                                         "404": _error("No such paper")}, "Site")},
    "/feeds/{kind}.{fmt}": _feed("The latest day, week or month", [
        _path("kind", "daily, weekly or monthly", {"type": "string", "enum": ["daily", "weekly", "monthly"]})]),
    "/feeds/trending.{fmt}": _feed("Trending", [
        _query("window", "today, week or month", {"type": "string", "enum": list(WINDOWS)}),
        _query("category", "An arXiv category", {"type": "string"})]),
    "/feeds/search.{fmt}": _feed("A search, newest first", [
        _query("q", "The query", {"type": "string", "minLength": 1}, required=True)]),
    "/feeds/category/{category}.{fmt}": _feed("A category's newest papers", [
        _path("category", "An arXiv category, e.g. cs.LG")]),
    "/feeds/digest/{secret}.{fmt}": _feed("A reader's own digest (the secret address their account page shows)", [
        _path("secret", "The account's secret, from its account page; a renewed or turned-off one is 404")]),
}


def document(base_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "papertrend", "version": "1",
                 "description": "Papers, trending and search as JSON, a Hugging Face–compatible papers API "
                                "(huggingface_hub's HfApi(endpoint=...) and `hf papers` work against it), and feeds."},
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def openapi_json(request: Request) -> Response:
    return JSONResponse(document(request.app.state.settings.base_url),
                        headers={"cache-control": "public, max-age=300", "access-control-allow-origin": "*"})


def api_docs(request: Request) -> Response:
    operations = [(path, method, op) for path, item in PATHS.items() for method, op in item.items()]
    tags: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, method, op in operations:
        tags.setdefault(op["tags"][0], []).append((path, method.upper(), op))
    return request.app.state.renderer.page(request, "api_docs.html", {"tags": tags, "schemas": SCHEMAS})


ROUTES = [
    Route("/openapi.json", openapi_json, name="openapi"),
    Route("/api/docs", api_docs, name="api_docs"),
]
