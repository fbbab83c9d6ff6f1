"""A real HTTP server on loopback that replays recorded arXiv, OAI-PMH and Hugging Face answers
(from tests/fixtures/data) and injects faults on demand. It logs every request's start and end.

- ``/api/query``: the recorded 100-entry arXiv Atom page, sliced by ``start`` / ``max_results``
  with the opensearch totals set to match (real entries, real envelope); with ``id_list``, only
  the recorded entries among those ids (``Replay.entry_id`` names each); with
  ``search_query=ti:"..."``, the recorded entries whose title holds that phrase. For ids and
  titles, the recorded pool also holds the papers of the recorded arXiv listings
  (``arxiv-listings/*.jsonl``: arXiv's own metadata, CC0), each written as the API's Atom entry
  (dated by its listing file, as the importer dates them).
- ``/oai``: the recorded hep-th ListRecords page with a resumption token, then the hep-ex page.
- ``/api/daily_papers?date=``: the recorded Hugging Face response for that day (404 when none).

Faults, queued per path prefix with ``fault(path, kind)``: ``503`` (with Retry-After: 1),
``drop`` (close without answering), ``cut`` (the connection drops mid-body), ``truncate`` (a
complete answer whose document is cut in half), ``slow`` (sleep past a client's
timeout), ``html`` (an HTML error page), ``empty`` (an Atom page with no entries).
"""

from __future__ import annotations

import json
import re
from html import escape
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ATOM_HEAD = re.compile(r"^(.*?)(<entry>.*</entry>)(\s*</feed>\s*)$", re.S)


class Replay:
    def __init__(self, shared: Path, slow_seconds: float = 1.5) -> None:
        self.shared = shared
        self.slow_seconds = slow_seconds
        wrapper = json.loads((shared / "arxiv-api" / "arxivpy__q_testing_s0_m100_cfe7536492ca.json").read_text())
        m = ATOM_HEAD.match(wrapper["body"])
        assert m, "recorded Atom page has an unexpected shape"
        self.atom_head, self.atom_tail = m.group(1), m.group(3)
        self.entries = re.findall(r"<entry>.*?</entry>", m.group(2), re.S)
        self.listed = self._listing_entries(shared / "arxiv-listings")
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                replay.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Replay":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fault(self, path: str, *kinds: str) -> None:
        self.faults[path].extend(kinds)

    def _next_fault(self, path: str) -> str | None:
        with self._lock:
            queue = self.faults.get(path)
            return queue.popleft() if queue else None

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str,
              headers: dict[str, str] | None = None, truncate: bool = False, cut: bool = False) -> None:
        if truncate:  # a whole answer whose document is cut short
            body = body[: len(body) // 2]
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:  # the connection drops in the middle of the body
            h.close_connection = True

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        started = time.time()
        url = urlparse(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        entry = {"path": url.path, "query": query, "start": started, "end": None, "fault": None}
        with self._lock:
            self.log.append(entry)
        fault = self._next_fault(url.path)
        entry["fault"] = fault
        try:
            if fault == "drop":
                h.close_connection = True
                h.connection.shutdown(2)
                return
            if fault == "503":
                return self._send(h, 503, b"busy", "text/plain", {"Retry-After": "1"})
            if fault == "slow":
                time.sleep(self.slow_seconds)
            if fault == "html":
                return self._send(h, 200, b"<html><body><h1>Internal error</h1></body></html>", "text/html")
            status, body, ctype = self.answer(url.path, query, empty=fault == "empty")
            self._send(h, status, body, ctype, truncate=fault == "truncate", cut=fault == "cut")
        finally:
            entry["end"] = time.time()

    @staticmethod
    def _listing_entries(folder: Path) -> list[str]:
        """The recorded listings' papers as arXiv API Atom entries (first listing of an id wins)."""
        out: dict[str, str] = {}
        for f in sorted(folder.glob("*.jsonl")):
            day = f.stem
            for line in f.read_text(encoding="utf-8").splitlines():
                p = json.loads(line)
                if p["id"] in out:
                    continue
                cats = p.get("categories") or []
                authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in p.get("authors") or [])
                terms = "".join(f'<category term="{escape(c)}" scheme="http://arxiv.org/schemas/atom"/>' for c in cats)
                primary = f'<arxiv:primary_category term="{escape(cats[0])}"/>' if cats else ""
                out[p["id"]] = (
                    f"<entry><id>http://arxiv.org/abs/{escape(p['id'])}v1</id><updated>{day}T00:00:00Z</updated>"
                    f"<published>{day}T00:00:00Z</published><title>{escape(p['title'])}</title>"
                    f"<summary>{escape(p.get('summary') or '')}</summary>{authors}"
                    f'<link href="http://arxiv.org/abs/{escape(p["id"])}v1" rel="alternate" type="text/html"/>'
                    f'<link title="pdf" href="http://arxiv.org/pdf/{escape(p["id"])}v1" rel="related" '
                    f'type="application/pdf"/>{primary}{terms}</entry>')
        return list(out.values())

    @staticmethod
    def _words(text: str) -> str:
        return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())

    def _title_of(self, entry: str) -> str:
        m = re.search(r"<title>(.*?)</title>", entry, re.S)
        return self._words(m.group(1).replace("&amp;", "&")) if m else ""

    @staticmethod
    def entry_id(entry: str) -> str:
        """A recorded entry's arXiv id without its version (``2101.00001``, ``hep-th/9901001``)."""
        m = re.search(r"<id>https?://arxiv\.org/abs/(.+?)(v\d+)?</id>", entry)
        return m.group(1) if m else ""

    def answer(self, path: str, q: dict[str, str], empty: bool = False) -> tuple[int, bytes, str]:
        if path == "/api/query":
            start, size = int(q.get("start", 0)), int(q.get("max_results", 10))
            pool = self.entries
            if q.get("id_list"):  # arXiv answers only the recorded entries among the ids asked for
                wanted = {re.sub(r"v\d+$", "", i.strip()) for i in q["id_list"].split(",")}
                pool = [e for e in self.entries + self.listed if self.entry_id(e) in wanted]
            elif (m := re.fullmatch(r'ti:"(.*)"', q.get("search_query", ""), re.S)):
                phrase = f" {self._words(m.group(1))} "
                pool = [e for e in self.entries + self.listed if phrase in f" {self._title_of(e)} "]
            chosen = [] if empty else pool[start:start + size]
            head = re.sub(r"<opensearch:totalResults>\d+</opensearch:totalResults>",
                          f"<opensearch:totalResults>{len(pool)}</opensearch:totalResults>", self.atom_head)
            head = re.sub(r"<opensearch:startIndex>\d+</opensearch:startIndex>",
                          f"<opensearch:startIndex>{start}</opensearch:startIndex>", head)
            body = head + "\n".join(chosen) + self.atom_tail
            return 200, body.encode(), "application/atom+xml; charset=utf-8"
        if path == "/oai":
            folder = self.shared / "arxiv-oaipmh"
            if "resumptionToken" in q:
                if q["resumptionToken"] != "page2":
                    body = ('<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><error code="badResumptionToken">'
                            "expired</error></OAI-PMH>")
                    return 200, body.encode(), "text/xml"
                return 200, (folder / "hepcrawl__arxiv-physics-hep-ex.xml").read_bytes(), "text/xml"
            page = (folder / "hepcrawl__arxiv-physics-hep-th.xml").read_text()
            page = page.replace("</ListRecords>",
                                '<resumptionToken completeListSize="6" cursor="0">page2</resumptionToken>'
                                '</ListRecords>')
            return 200, page.encode(), "text/xml"
        if path == "/api/daily_papers":
            f = self.shared / "hf-daily" / f"{q.get('date', '')}.json"
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", q.get("date", "")) or not f.exists():
                return 200, b"[]", "application/json"
            return 200, f.read_bytes(), "application/json"
        return 404, b"not found", "text/plain"
