"""Thumbnails that a source links (Hugging Face's daily entries carry one), fetched into a local
folder so that pages show them from papertrend itself: the CSP stays ``img-src 'self'`` and a
reader's browser never tells a third party what they read.

Re-runnable: a paper is fetched once per address (``store.papers.thumbnails_to_fetch``); a
failure is recorded and not retried until the address changes. Every fetched body is checked
twice, by its declared content type and by its first bytes, and refused above a size cap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx

from ..config import Settings
from ..errors import RemoteError
from ..store import Store

# content type -> (file extension, how the bytes begin)
FORMATS: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "image/png": ("png", (b"\x89PNG\r\n\x1a\n",)),
    "image/jpeg": ("jpg", (b"\xff\xd8\xff",)),
    "image/webp": ("webp", (b"RIFF",)),
    "image/gif": ("gif", (b"GIF87a", b"GIF89a")),
}
MEDIA_TYPES = {ext: media for media, (ext, _) in FORMATS.items()}
# The only thumbnail addresses fetched, whatever a source (or another instance, through
# federation) gives: the worker must never be made to fetch an arbitrary address, such as one in
# the deployment's own network. ``settings.thumbnail_origin`` says where that host is reached.
HF_THUMBNAILS = "https://cdn-thumbnails.huggingface.co/"
# The names this module writes: the served route accepts nothing else.
FILE_NAME = re.compile(r"[A-Za-z0-9._-]{1,80}\.(png|jpg|webp|gif)")


class Getter(Protocol):
    def get(self, url: str) -> httpx.Response: ...


def file_name(paper_id: str, ext: str) -> str:
    """A file name for a paper's thumbnail (old-style ids have a slash)."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", paper_id)[:70] + "." + ext


def fetch_address(url: str, settings: Settings) -> str | None:
    """Where to fetch a stored thumbnail address from, or None when it is not Hugging Face's."""
    if not url.startswith(HF_THUMBNAILS) or ".." in url or "@" in url:
        return None
    return settings.thumbnail_origin.rstrip("/") + "/" + url[len(HF_THUMBNAILS):]


def _check(response: httpx.Response, max_bytes: int) -> str:
    """The file extension for a good image response; ValueError saying what is wrong."""
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in FORMATS:
        raise ValueError(f"not an image: content type {media[:60]!r}")
    declared = response.headers.get("content-length", "")
    if (declared.isdigit() and int(declared) > max_bytes) or len(response.content) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    ext, magic = FORMATS[media]
    if not response.content.startswith(magic):
        raise ValueError(f"the bytes are not {media}")
    return ext


def fetch_thumbnails(store: Store, settings: Settings, client: Getter, limit: int = 200,
                     now: Callable[[], datetime] = lambda: datetime.now(UTC),
                     progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Fetch up to ``limit`` thumbnails not yet tried into ``settings.thumbnail_dir``."""
    folder = Path(settings.thumbnail_dir)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"fetched": 0, "failed": 0}
    for paper_id, url in store.papers.thumbnails_to_fetch(limit):
        at = now().isoformat(timespec="seconds")
        try:
            address = fetch_address(url, settings)
            if address is None:
                raise ValueError("not a Hugging Face thumbnail address: not fetched")
            response = client.get(address)
            ext = _check(response, settings.thumbnail_max_bytes)
        except (RemoteError, ValueError) as exc:
            store.papers.record_thumbnail(paper_id, url, None, str(exc)[:300], at)
            counts["failed"] += 1
            continue
        name = file_name(paper_id, ext)
        partial = folder / (name + ".part")
        partial.write_bytes(response.content)
        os.replace(partial, folder / name)   # a reader never sees half a file
        store.papers.record_thumbnail(paper_id, url, name, None, at)
        counts["fetched"] += 1
        if progress:
            progress(1)
    return counts
