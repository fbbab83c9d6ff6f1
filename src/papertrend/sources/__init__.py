"""Inputs: one module per format, each a pure parser (bytes or text in, records out).

:func:`read_path` opens a file (plain or ``.gz``), detects its format when not forced and
yields :class:`~papertrend.models.PaperRecord` objects, or :class:`RecordError` for records
that are bad. A file that cannot be read at all raises :class:`SourceError`.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import RecordError, SourceError
from ..models import PaperRecord
from . import arxiv_atom, arxiv_jsonl, hf_daily, listing_text, oai_pmh

FORMATS = ("hf-daily", "arxiv-jsonl", "arxiv-atom", "oai-pmh", "listing")
_SUFFIXES = (".json", ".jsonl", ".xml", ".atom", ".txt")
# Refuse absurd inputs before reading them into memory.
MAX_FILE_BYTES = 512 * 1024 * 1024

Item = PaperRecord | RecordError


def input_files(paths: list[Path]) -> list[Path]:
    """Files named directly, and the recognisable files inside named folders, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                name = child.name[:-3] if child.name.endswith(".gz") else child.name
                if child.is_file() and name.endswith(_SUFFIXES) and not child.name.startswith("."):
                    found.append(child)
        elif path.exists():
            found.append(path)
        else:
            raise SourceError("no such file or folder", str(path))
    return found


def read_bytes(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SourceError(f"file is larger than {MAX_FILE_BYTES // 2**20} MB", str(path))
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror}", str(path)) from None
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceError(f"not a readable gzip file ({exc})", str(path)) from None
    return data


def detect_format(name: str, data: bytes) -> str:
    """Guess the format from the file name and the first bytes."""
    base = name[:-3] if name.endswith(".gz") else name
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if base.endswith(".jsonl"):
        return "arxiv-jsonl"
    if head.startswith(b"["):
        return "hf-daily"
    if head.startswith(b"{"):
        if b'"body"' in data[:65536] or b"<feed" in data[:65536]:
            return "arxiv-atom"
        return "arxiv-jsonl"
    if head.startswith(b"<"):
        if b"<OAI-PMH" in head:
            return "oai-pmh"
        if b"<feed" in head:
            return "arxiv-atom"
        raise SourceError("XML, but neither an Atom feed nor an OAI-PMH response", name)
    if base.endswith(".txt"):
        return "listing"
    raise SourceError(f"unknown format; name one with --format ({', '.join(FORMATS)})", name)


def decode_text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(f"not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})",
                          f"{name}:{line}") from None


def _decoded_lines(data: bytes, name: str) -> Iterator[tuple[int, str | RecordError]]:
    # JSON lines are decoded one at a time so that one badly encoded line costs only itself.
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        try:
            yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            yield lineno, RecordError(f"not UTF-8 text (column {exc.start + 1})", f"{name}:{lineno}")


def parse_bytes(data: bytes, name: str, fmt: str | None = None) -> Iterator[Item]:
    """Records of one input. ``name`` is how errors refer to it."""
    fmt = fmt or detect_format(name, data)
    if fmt == "hf-daily":
        return hf_daily.parse(decode_text(data, name), name)
    if fmt == "arxiv-jsonl":
        return arxiv_jsonl.parse(_decoded_lines(data, name), name)
    if fmt == "arxiv-atom":
        return arxiv_atom.parse(data, name)
    if fmt == "oai-pmh":
        return oai_pmh.parse(data, name)
    if fmt == "listing":
        return listing_text.parse(decode_text(data, name), name)
    raise SourceError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", name)


def read_path(path: Path, fmt: str | None = None) -> list[Item]:
    """All records of one file, parsed eagerly so that a file-level error comes before any write."""
    return list(parse_bytes(read_bytes(path), str(path), fmt))
