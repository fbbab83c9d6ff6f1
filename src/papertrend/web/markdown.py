"""A paper as Markdown: ``/papers/{id}.md`` and ``Accept: text/markdown`` on a paper's page.

The text is for people and for tools that read papers as Markdown (``hf papers read``). Paper
text is untrusted: a title or an author's name is folded onto one line, so it cannot start a
heading, a list or a link block of its own; the abstract keeps its paragraphs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFound
from ..ids import is_valid_paper_id
from ..models import Paper
from ..periods import PARSERS
from .render import etag_for

MEDIA_TYPE = "text/markdown; charset=utf-8"


def _line(text: str) -> str:
    return " ".join((text or "").split())


def paper_markdown(paper: Paper, page_url: str) -> str:
    """Title, authors, links, abstract; then what the lists know (listed, upvotes, comments)."""
    out = [f"# {_line(paper.title)}", ""]
    if paper.authors:
        out += ["**Authors:** " + ", ".join(_line(a.name) for a in paper.authors), ""]
    links = [("Page", page_url)]
    if paper.abs_url:
        links.append(("Abstract", paper.abs_url))
    if paper.pdf_url:
        links.append(("PDF", paper.pdf_url))
    if paper.code_url:
        links.append(("Code", paper.code_url))
    if paper.project_page:
        links.append(("Project page", paper.project_page))
    if paper.doi:
        links.append(("DOI", f"https://doi.org/{_line(paper.doi)}"))
    out += [f"- {name}: <{_line(url)}>" for name, url in links] + [""]
    facts = []
    if paper.published:
        facts.append(f"Published {paper.published}")
    if paper.list_date:
        facts.append(f"listed {paper.list_date}")
    if paper.categories:
        facts.append(", ".join(_line(c) for c in paper.categories))
    facts.append(f"{paper.upvotes} upvotes, {paper.num_comments} comments")
    out += [" · ".join(facts), ""]
    if paper.abstract:
        out += ["## Abstract", "", paper.abstract.strip(), ""]
    if paper.ai_summary:
        out += ["## Summary", "", _line(paper.ai_summary), ""]
    return "\n".join(out)


def wants_markdown(request: Request) -> bool:
    return "text/markdown" in request.headers.get("accept", "")


def markdown_response(request: Request, paper_id: str) -> Response:
    """The paper's Markdown (404 when it is not known), with an ETag and 304."""
    store = request.app.state.store
    etag = etag_for(request, "md")
    headers = {"etag": etag, "cache-control": "public, max-age=60", "vary": "Accept"}
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    paper = store.papers.get(paper_id) if is_valid_paper_id(paper_id) else None
    if paper is None or store.community.is_hidden(paper.id):   # moderated away
        raise NotFound(f"No paper with id {paper_id[:80]!r} is known here.")
    base = request.app.state.settings.base_url.rstrip("/")
    return Response(paper_markdown(paper, f"{base}/papers/{paper.id}"), media_type=MEDIA_TYPE, headers=headers)


def markdown_page(request: Request) -> Response:
    """``/papers/{id}.md``."""
    return markdown_response(request, request.path_params["paper_id"])


def negotiated(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A paper page's endpoint that answers ``Accept: text/markdown`` with the Markdown.

    Wraps both paper routes: ``/papers/{id}`` and the two-segment ``/papers/{kind}/{key}``,
    which is an old-style arXiv id (``hep-th/9901001``) when ``kind`` is not a period."""
    async def endpoint(request: Request) -> Response:
        if wants_markdown(request):
            params = request.path_params
            paper_id = params.get("paper_id")
            if paper_id is None and params.get("kind") not in PARSERS:
                paper_id = f"{params['kind']}/{params['key']}"
            if paper_id is not None:
                return await run_in_threadpool(markdown_response, request, paper_id)
        return await handler(request)

    endpoint.__name__, endpoint.__doc__ = handler.__name__, handler.__doc__
    return endpoint
