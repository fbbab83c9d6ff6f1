"""Paper identifiers: arXiv ids (new and old style, with or without version) and our own ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata

# 2607.12345, 0808.0539 (4-digit numbers before 2015), with an optional version
_NEW = re.compile(r"(?P<id>\d{4}\.\d{4,5})(?:v(?P<v>\d+))?")
# astro-ph/0601001, math.AP/0601001, hep-th/9901001v2
_OLD = re.compile(r"(?P<id>[a-z][a-z\-]*(?:\.[A-Za-z]{2})?/\d{7})(?:v(?P<v>\d+))?")
_PREFIX = re.compile(r"^(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|api)/|arxiv:)", re.I)


def split_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """``'http://arxiv.org/abs/2202.12139v1'`` -> ``('2202.12139', 1)``; None if not an arXiv id."""
    value = _PREFIX.sub("", text.strip())
    if value.endswith(".pdf"):
        value = value[:-4]
    for pattern in (_NEW, _OLD):
        m = pattern.fullmatch(value)
        if m:
            return m.group("id"), int(m.group("v")) if m.group("v") else None
    return None


def is_arxiv_id(text: str) -> bool:
    return split_arxiv_id(text) is not None and ":" not in text


def normalize_title(title: str) -> str:
    """A key for matching the same title written differently (case, accents, punctuation, spaces)."""
    if title.isascii():
        text = title.lower()
    else:
        text = unicodedata.normalize("NFKD", title)
        text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def author_key(name: str) -> str:
    """A key for one author's name written differently (case, accents, punctuation): an
    author page lists the papers whose authors have this key."""
    return normalize_title(name)[:200]


def local_id(title: str) -> str:
    """A stable id for a paper that has no arXiv id: derived from its normalized title."""
    digest = hashlib.sha1(normalize_title(title).encode("utf-8")).hexdigest()[:12]
    return f"pt-{digest}"


def is_valid_paper_id(text: str) -> bool:
    """What the web and CLI accept as a paper id (anything else is a 404, not an error)."""
    return split_arxiv_id(text) is not None or re.fullmatch(r"pt-[0-9a-f]{12}", text) is not None


_GITHUB = re.compile(r"^(?:https?://)?(?:www\.)?github\.com/([A-Za-z0-9_.\-]+)/([A-Za-z0-9_.\-]+)", re.I)


def github_repo(url: str | None) -> str | None:
    """``owner/name`` of a GitHub repository URL, normalised: no ``.git``, ``/tree/main``, ``www.``.

    Case is kept for display; compare with ``.lower()`` (GitHub names are case-insensitive).
    """
    if not url:
        return None
    m = _GITHUB.match(url.strip())
    if not m:
        return None
    owner, name = m.group(1), m.group(2)
    if name.endswith(".git"):
        name = name[:-4]
    if not name or owner.lower() in {"orgs", "topics", "features", "sponsors"}:
        return None
    return f"{owner}/{name}"
