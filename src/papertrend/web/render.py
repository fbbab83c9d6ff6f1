"""Templates and the response helpers every view uses: HTML or JSON from one handler, ETags."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..config import Settings
from ..models import Author, Paper
from . import latex


def short_authors(authors: list[Author], limit: int = 4) -> str:
    names = [a.name for a in authors]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit - 1]) + f", … {names[-1]} (+{len(names) - limit + 1})"


def excerpt(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def compact_number(n: int | None) -> str:
    if n is None:
        return ""
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1_000:
        return f"{n / 1000:.1f}k"
    return str(n)


def bibtex(paper: Paper) -> str:
    """A BibTeX entry; braces and backslashes from the paper are neutralised."""
    def clean(value: str) -> str:
        return value.replace("\\", "").replace("{", "").replace("}", "")

    year = (paper.published or paper.list_date or "")[:4]
    first = clean(paper.authors[0].name.split()[-1]) if paper.authors else "anon"
    key = "".join(c for c in f"{first}{year}{paper.title.split()[0] if paper.title else ''}" if c.isalnum()).lower()
    fields = [("title", "{" + clean(paper.title) + "}"), ("author", " and ".join(clean(a.name) for a in paper.authors)),
              ("year", year)]
    if paper.is_arxiv:
        fields += [("eprint", paper.id), ("archivePrefix", "arXiv")]
        if paper.categories:
            fields.append(("primaryClass", paper.categories[0]))
    if paper.doi:
        fields.append(("doi", clean(paper.doi)))
    if paper.journal_ref:
        fields.append(("journal", clean(paper.journal_ref)))
    if paper.abs_url:
        fields.append(("url", paper.abs_url))
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
    kind = "article" if paper.journal_ref else "misc"
    return f"@{kind}{{{key},\n{body}\n}}"


def _path_for(request: Request) -> Any:
    # Site-relative links: correct behind any proxy or host name.
    def url_for(name: str, **params: Any) -> str:
        return str(request.app.url_path_for(name, **params))

    return url_for


class Renderer:
    def __init__(self, settings: Settings, templates: Path, cache_size: int = 512) -> None:
        self.settings = settings
        self.env = Environment(loader=FileSystemLoader(templates), autoescape=select_autoescape(["html"]),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(latex=latex.render, short_authors=short_authors, excerpt=excerpt,
                                compact=compact_number)
        self.env.globals.update(site_name=settings.site_name)
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self.cache_size = cache_size

    def page(self, request: Request, template: str, context: dict[str, Any], status_code: int = 200,
             headers: dict[str, str] | None = None) -> HTMLResponse:
        html = self.env.get_template(template).render(request=request, url_for=_path_for(request), **context)
        return HTMLResponse(html, status_code=status_code, headers=headers)

    def cached(self, request: Request, etag: str, as_json: bool) -> Response | None:
        """The response when it can be answered without the database: 304, or a cached body."""
        headers = self._headers(etag)
        if etag in (request.headers.get("if-none-match") or ""):
            return Response(status_code=304, headers=headers)
        body = self._cache.get(f"{etag}|{as_json}")
        if body is None:
            return None
        return Response(body, media_type=_media(as_json), headers=headers)

    def respond(self, request: Request, etag: str, template: str, context: dict[str, Any], data: Any,
                as_json: bool) -> Response:
        """Render the page as HTML or JSON, remember it under its ETag, and send it."""
        if as_json:
            body = json.dumps(data, ensure_ascii=False).encode()
        else:
            body = self.env.get_template(template).render(
                request=request, url_for=_path_for(request), **context).encode()
        self._cache[f"{etag}|{as_json}"] = body
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return Response(body, media_type=_media(as_json), headers=self._headers(etag))

    @staticmethod
    def _headers(etag: str) -> dict[str, str]:
        return {"etag": etag, "cache-control": "public, max-age=60", "vary": "Accept"}


def _media(as_json: bool) -> str:
    return "application/json" if as_json else "text/html; charset=utf-8"


def wants_json(request: Request) -> bool:
    if request.url.path.endswith(".json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def etag_for(request: Request, *parts: Any) -> str:
    version = request.app.state.data_version.get()
    raw = "|".join([version, str(request.url.path), str(request.url.query), *map(str, parts)])
    return '"' + hashlib.sha1(raw.encode()).hexdigest()[:20] + '"'
