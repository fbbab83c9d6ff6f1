"""The one pagination every list uses: slices, links that keep the filters, refused pages."""

import pytest
from starlette.requests import Request

from papertrend.errors import BadRequest
from papertrend.web.paging import MAX_PAGE, Pagination


def request(query: bytes) -> Request:
    return Request({"type": "http", "path": "/search", "query_string": query, "headers": []})


def test_a_middle_page_keeps_the_filters_and_leads_both_ways() -> None:
    p = Pagination.of(request(b"q=a+b&page=3&sort=date"), per_page=30, total=95)
    assert (p.offset, p.pages, p.first_item, p.last_item) == (60, 4, 61, 90)
    assert p.url(1) == "/search?q=a+b&sort=date" and p.url(4) == "/search?q=a+b&sort=date&page=4"
    assert p.to_json() == {"page": 3, "per_page": 30, "total": 95, "pages": 4, "next_page": 4, "previous_page": 2}


def test_past_the_end_is_an_empty_page_and_long_lists_show_gaps() -> None:
    past = Pagination.of(request(b"page=9"), per_page=50, total=120)
    assert past.first_item == 0 and past.next_page is None
    assert Pagination(page=10, per_page=10, total=1000).window() == [1, None, 8, 9, 10, 11, 12, None, 100]


@pytest.mark.parametrize("bad", [b"page=0", b"page=-1", b"page=x", b"page=%EF%BC%92",
                                 b"page=" + str(MAX_PAGE + 1).encode()])
def test_a_page_that_is_not_a_page_number_is_refused(bad: bytes) -> None:
    with pytest.raises(BadRequest):
        Pagination.of(request(bad), per_page=50, total=10)
