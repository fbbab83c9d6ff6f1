"""Index snapshot files: numpy arrays and a JSON header in one file, read back memory-mapped.

An in-memory index at a million papers takes minutes and gigabytes to build from the store,
in every web process. A snapshot is that index written to a file once (by the worker); each
process maps it read-only, so a restart answers in seconds and N processes on one machine share
one copy in the page cache. Each index tops its snapshot up from the store's change log.

Layout (little-endian)::

    b"PTSNAP\\r\\n"  u32 format  u32 header crc32  u64 header length  header (JSON)  arrays

Each array starts at a multiple of 64 bytes; the header names its dtype, shape, offset and
crc32, the file's total size, the snapshot's kind and what it covers (``meta``). Reading checks
all of it before anything is used: a truncated, corrupt, foreign or older-format file raises
:class:`SnapshotError` (the caller then builds from the store), never a wrong answer.

Writing is atomic: a temporary file in the same folder, flushed to disk, then renamed over the
old snapshot. A process that mapped the old file keeps its (now unlinked) copy until it lets go.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from ..errors import PapertrendError

log = logging.getLogger("papertrend.snapshot")

MAGIC = b"PTSNAP\r\n"  # \r\n: a file mangled by a text-mode copy fails the magic check
FORMAT = 1             # bump when the layout or the meaning of any array changes
_PREFIX = struct.Struct("<8sIIQ")
_ALIGN = 64
_CRC_BLOCK = 1 << 24   # checksum in 16 MiB steps, so a check never copies a whole array


class SnapshotError(PapertrendError):
    """A snapshot file that cannot be used: missing, truncated, corrupt, foreign or stale."""


@dataclass
class Snapshot:
    """A snapshot read back: its meta (what it covers) and its arrays, views of one read-only map."""

    path: Path
    kind: str
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    size: int


def _crc(data: memoryview) -> int:
    crc = 0
    for i in range(0, len(data), _CRC_BLOCK):
        crc = zlib.crc32(data[i:i + _CRC_BLOCK], crc)
    return crc


def _padding(position: int) -> int:
    return -position % _ALIGN


def write(path: Path, kind: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
          progress: Callable[[int], None] | None = None) -> int:
    """Write a snapshot atomically; returns its size in bytes. ``progress`` gets bytes written."""
    try:
        return _write(path, kind, meta, arrays, progress)
    except OSError as e:
        raise SnapshotError(f"{path}: cannot write the snapshot ({e.strerror or e})") from None


def _write(path: Path, kind: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
           progress: Callable[[int], None] | None) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    entries: list[dict[str, Any]] = []
    offset = 0  # from the start of the data, which follows the header at the next 64 bytes
    for name, a in contiguous.items():
        offset += _padding(offset)
        entries.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset,
                        "nbytes": int(a.nbytes), "crc32": _crc(a.data.cast("B")) if a.nbytes else 0})
        offset += a.nbytes
    text = json.dumps({"kind": kind, "meta": dict(meta), "arrays": entries, "data": offset}, sort_keys=True).encode()
    start = _PREFIX.size + len(text)
    start += _padding(start)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_PREFIX.pack(MAGIC, FORMAT, zlib.crc32(text), len(text)))
            f.write(text)
            position = _PREFIX.size + len(text)
            for entry, a in zip(entries, contiguous.values(), strict=True):
                f.write(b"\0" * (start + entry["offset"] - position))
                data = a.data.cast("B") if a.nbytes else memoryview(b"")
                for i in range(0, len(data), _CRC_BLOCK):
                    f.write(data[i:i + _CRC_BLOCK])
                    if progress is not None:
                        progress(min(_CRC_BLOCK, len(data) - i))
                position = start + entry["offset"] + entry["nbytes"]
            f.write(b"\0" * (start + offset - position))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # atomic: a reader sees the old snapshot or the new, never half of one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return start + offset


def read(path: Path, kind: str, verify: bool = True) -> Snapshot:
    """Map a snapshot read-only and check it (``verify``: every array's crc32 too, which reads
    the file once: ~0.4 s a GB from the page cache, and it leaves the pages in the shared page cache)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise SnapshotError(f"{path}: no snapshot") from None
    except OSError as e:
        raise SnapshotError(f"{path}: cannot be read ({e.strerror})") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size < _PREFIX.size:
            raise SnapshotError(f"{path}: truncated ({size} bytes)")
        magic, fmt, header_crc, header_len = _PREFIX.unpack(f.read(_PREFIX.size))
        if magic != MAGIC:
            raise SnapshotError(f"{path}: not a papertrend snapshot")
        if fmt != FORMAT:
            raise SnapshotError(f"{path}: format {fmt}, this papertrend reads format {FORMAT}")
        if header_len > size - _PREFIX.size:
            raise SnapshotError(f"{path}: truncated (header of {header_len} bytes, file of {size})")
        text = f.read(header_len)
        if zlib.crc32(text) != header_crc:
            raise SnapshotError(f"{path}: header checksum does not match (corrupt)")
        try:
            header = json.loads(text)
        except ValueError:
            raise SnapshotError(f"{path}: header is not JSON (corrupt)") from None
        if header.get("kind") != kind:
            raise SnapshotError(f"{path}: a {header.get('kind')!r} snapshot, not {kind!r}")
        start = _PREFIX.size + header_len
        start += _padding(start)
        expected = start + int(header.get("data") or 0)
        if expected != size:
            raise SnapshotError(f"{path}: truncated or extended ({size} bytes, the header says {expected})")
        # ACCESS_READ: pages are shared with every other process mapping the file, and a stray
        # write raises instead of changing the snapshot under another process.
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mapped)
    arrays: dict[str, np.ndarray] = {}
    try:
        for entry in header["arrays"]:
            offset, nbytes = start + int(entry["offset"]), int(entry["nbytes"])
            if offset < 0 or offset + nbytes > size:
                raise SnapshotError(f"{path}: array {entry['name']} lies outside the file (corrupt)")
            data = view[offset:offset + nbytes]
            if verify and _crc(data) != entry["crc32"]:
                raise SnapshotError(f"{path}: array {entry['name']} checksum does not match (corrupt)")
            dtype = np.dtype(entry["dtype"])
            shape = tuple(int(x) for x in entry["shape"])
            if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != nbytes:
                raise SnapshotError(f"{path}: array {entry['name']} has the wrong size (corrupt)")
            arrays[entry["name"]] = np.frombuffer(data, dtype=dtype).reshape(shape)
    except (KeyError, TypeError, ValueError) as e:
        raise SnapshotError(f"{path}: header names a malformed array ({e})") from None
    return Snapshot(path, kind, dict(header.get("meta") or {}), arrays, size)


def file_checksum(path: Path) -> tuple[int, int]:
    """(size, crc32) of a companion file (an HNSW graph), read through a map: its pages stay in
    the shared page cache for the process that maps it next."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if not size:
                return 0, 0
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    return size, _crc(view)
                finally:
                    view.release()
    except OSError as e:
        raise SnapshotError(f"{path}: cannot be read ({e.strerror or e})") from None


def expect(snapshot: Snapshot, **wanted: Any) -> None:
    """Raise :class:`SnapshotError` unless the snapshot's meta has each of ``wanted``."""
    for key, value in wanted.items():
        have = snapshot.meta.get(key)
        if have != value:
            raise SnapshotError(f"{snapshot.path}: made for {key} {have!r}, not {value!r}")


def pack_strings(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 blob and their end offsets (the blob is mapped, never unpacked)."""
    encoded = [v.encode() for v in values]
    ends = np.cumsum(np.fromiter((len(e) for e in encoded), np.int64, len(encoded))) if encoded else \
        np.zeros(0, np.int64)
    return np.frombuffer(b"".join(encoded), np.uint8) if encoded else np.zeros(0, np.uint8), ends


class Strings(Sequence[str]):
    """A read-only sequence of strings over a mapped blob and its end offsets."""

    def __init__(self, blob: np.ndarray, ends: np.ndarray) -> None:
        self._ends = ends
        self._bytes = blob.data.cast("B") if blob.nbytes else memoryview(b"")

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i >= len(self._ends):
            raise IndexError(i)
        if i < 0:
            i += len(self._ends)
        start = int(self._ends[i - 1]) if i else 0
        return bytes(self._bytes[start:int(self._ends[i])]).decode()

    def index_sorted(self, value: str) -> int:
        """Position of ``value`` in these strings, which must be sorted by their UTF-8 bytes; -1 if
        absent. A binary search: no per-string memory in the process."""
        key = value.encode()
        lo, hi = 0, len(self._ends)
        while lo < hi:
            mid = (lo + hi) // 2
            start = int(self._ends[mid - 1]) if mid else 0
            here = bytes(self._bytes[start:int(self._ends[mid])])
            if here < key:
                lo = mid + 1
            elif here > key:
                hi = mid
            else:
                return mid
        return -1


def database_identity(url: str) -> str:
    """What a snapshot records of the database it was made from: the URL without credentials
    (an SQLite file's absolute path), so a snapshot is never read against another database."""
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        return "sqlite:///" + str(Path(url[len("sqlite:///"):]).resolve())
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.rpartition("@")[2] if sep else url
