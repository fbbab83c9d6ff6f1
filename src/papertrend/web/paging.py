"""Pages of a long list: which slice ``?page=N`` asks for, and the links and JSON that lead on.

Every list (a day, a week, a month, trending, search) shows its total and pages through all of
it with one ``Pagination``; the HTML pager is ``_pager.html`` and the JSON twin carries
``Pagination.to_json()`` under ``"pagination"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from ..errors import BadRequest

# A page number past this is refused rather than turned into a huge OFFSET scan.
MAX_PAGE = 10_000


def requested_page(request: Request) -> int:
    """The 1-based page a request asks for (``?page=``; missing or empty means 1)."""
    raw = request.query_params.get("page", "").strip()
    if not raw:
        return 1
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"page must be a whole number from 1 to {MAX_PAGE}, not {raw[:20]!r}")
    return int(raw)


@dataclass(frozen=True)
class Pagination:
    """Page ``page`` (1-based) of ``total`` items, ``per_page`` a page."""

    page: int
    per_page: int
    total: int
    path: str = ""
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, request: Request, per_page: int, total: int) -> Pagination:
        """The page the request asks for; links keep its other query parameters."""
        params = tuple((k, v) for k, v in request.query_params.multi_items() if k != "page")
        return cls(requested_page(request), per_page, total, request.url.path, params)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first_item(self) -> int:
        """The 1-based position of the page's first item (0 when the page is empty)."""
        return self.offset + 1 if self.offset < self.total else 0

    @property
    def last_item(self) -> int:
        return min(self.total, self.offset + self.per_page)

    @property
    def next_page(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None

    @property
    def previous_page(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    def url(self, page: int) -> str:
        """The same list's path and filters at ``page`` (page 1 has no ``page`` parameter)."""
        params = list(self.params) + ([("page", str(page))] if page > 1 else [])
        return self.path + (f"?{urlencode(params)}" if params else "")

    def window(self, around: int = 2) -> list[int | None]:
        """Page numbers for the pager: first, last and ``around`` either side of this one;
        ``None`` marks a gap."""
        keep = {1, self.pages} | set(range(self.page - around, self.page + around + 1))
        shown: list[int | None] = []
        for n in range(1, self.pages + 1):
            if n in keep:
                shown.append(n)
            elif shown and shown[-1] is not None:
                shown.append(None)
        return shown

    def to_json(self) -> dict[str, Any]:
        return {"page": self.page, "per_page": self.per_page, "total": self.total, "pages": self.pages,
                "next_page": self.next_page, "previous_page": self.previous_page}
