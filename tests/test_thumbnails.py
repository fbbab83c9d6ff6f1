"""Thumbnails: parsed from Hugging Face's daily entries, fetched by the worker's job into the
local cache (checked, capped, once), and served by papertrend itself in the lists."""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from papertrend.enrich.thumbnails import fetch_thumbnails
from papertrend.ingest.importer import import_paths
from papertrend.sources import hf_daily
from papertrend.web.app import create_app


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x80\x20\x20" * 16 for _ in range(9))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 9, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PNG = _png()
SERVED = {"/ok.png": ("image/png", PNG), "/page.png": ("text/html", b"<html>not an image</html>"),
          "/liar.png": ("image/png", b"<svg onload=alert(1)>"), "/huge.png": ("image/png", PNG + b"\0" * 600_000)}


@pytest.fixture
def media_server() -> Iterator[tuple[str, list[str]]]:
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            asked.append(self.path)
            media, body = SERVED.get(self.path, ("text/plain", b"missing"))
            self.send_response(200 if self.path in SERVED else 404)
            self.send_header("content-type", media)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def test_hf_daily_entries_carry_their_thumbnail(shared: Path) -> None:
    path = shared / "hf-daily" / "2025-07-01.json"
    records = [r for r in hf_daily.parse(path.read_text(), path.name)]
    first = json.loads(path.read_text())[0]
    assert records[0].thumbnail_url == first["thumbnail"]
    assert records[0].thumbnail_url.startswith("https://cdn-thumbnails.huggingface.co/")


def test_job_fetches_checks_caps_and_does_not_repeat(store, settings, tmp_path: Path, media_server) -> None:
    base, asked = media_server
    lines = [{"id": f"2607.0000{i}", "title": f"Paper {i}", "authors": ["A"], "summary": "x", "categories": ["cs.LG"]}
             for i in range(4)]
    listing = tmp_path / "2026-07-31.jsonl"
    listing.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    import_paths(store, settings, [listing])
    day = [{"paper": {"id": f"2607.0000{i}", "title": f"Paper {i}", "upvotes": 10 - i,
                      "submittedOnDailyAt": "2026-07-31T08:00:00.000Z"},
            "thumbnail": f"https://cdn-thumbnails.huggingface.co{name}"}
           for i, name in enumerate(SERVED)]
    # and one address elsewhere, which is never fetched (a source cannot point the worker anywhere)
    day[-1]["thumbnail"] = "https://internal.example/admin.png"
    feed = tmp_path / "hf.json"
    feed.write_text(json.dumps(day))
    import_paths(store, settings, [feed], "hf-daily")
    settings = settings.replace(thumbnail_dir=str(tmp_path / "thumbs"), thumbnail_origin=base)

    class Local:
        """A plain client: the recorded CDN answers on loopback at ``thumbnail_origin``."""
        def __init__(self) -> None:
            self.http = httpx.Client()

        def get(self, url: str) -> httpx.Response:
            assert url.startswith(base), url
            return self.http.get(url)

    local = Local()
    counts = fetch_thumbnails(store, settings, local)
    assert counts == {"fetched": 1, "failed": 3}
    assert (tmp_path / "thumbs" / "2607.00000.png").read_bytes() == PNG
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == ["2607.00000.png"]
    assert fetch_thumbnails(store, settings, local) == {"fetched": 0, "failed": 0}  # re-run: nothing again
    local.http.close()
    assert len(asked) == 3   # the address that is not Hugging Face's was refused without a request

    client = TestClient(create_app(settings, store))
    page = client.get("/papers/date/2026-07-31").text
    assert 'src="/thumbnails/2607.00000.png"' in page and page.count('class="thumb"') == 1
    full_etag = client.get("/papers/date/2026-07-31").headers["etag"]
    assert 'class="thumb"' not in client.get("/papers/date/2026-07-31?view=compact").text
    # Titles only is remembered (a cookie), and the cached page is a different one (its ETag).
    remembered = client.get("/papers/date/2026-07-31")
    assert 'class="thumb"' not in remembered.text and remembered.headers["etag"] != full_etag
    assert 'class="thumb"' in client.get("/papers/date/2026-07-31?view=full").text
    assert 'class="thumb"' in client.get("/papers/date/2026-07-31").text
    listed = client.get("/papers/date/2026-07-31.json").json()["papers"]
    assert [p["thumbnail"] for p in listed if p["thumbnail"]] == ["/thumbnails/2607.00000.png"]
    served = client.get("/thumbnails/2607.00000.png")
    assert served.status_code == 200 and served.content == PNG and served.headers["content-type"] == "image/png"
    for bad in ("/thumbnails/..%2Fpapers.db", "/thumbnails/2607.00001.png", "/thumbnails/x.html"):
        assert client.get(bad).status_code == 404
