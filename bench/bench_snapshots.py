"""Web-process start and memory with index snapshots, against building the indexes from the store.

The corpus is the real shared data grown with synthetic papers recombined from its sentences and
title words (as bench_search_scale.py does). For each size, in the same run:

- baseline: a fresh process builds the full-text and exact vector indexes from the store, as
  every web worker did before snapshots, then answers one hybrid search;
- `papertrend index snapshot` (the worker's job): time and file sizes;
- from snapshots: process A maps the snapshots, tops them up and answers one search; then 0.2%
  more papers arrive and process B starts alongside A (its top-up reads those changes).

Each process reports wall time from its spawn to its first search answered from the in-memory
indexes (interpreter start and imports included), and its memory from /proc/<pid>/smaps_rollup
while the other is alive: RSS, private (what one more worker really costs) and shared (pages of
the snapshot files mapped by both, held once in the page cache). The page cache is warm (the
snapshot was just written): a cold start after a reboot also reads the files from disk once.

Usage: python bench/bench_snapshots.py [100000 300000 1000000]
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time

from bench_search_scale import grow, shared_corpus
from common import ROOT, describe_machine, print_table

from papertrend.jobs import snapshot_indexes

PROBE = r"""
import json, sys, time
spawned = float(sys.argv[3])
from papertrend.config import load_settings
from papertrend.store import open_store
from papertrend.search.hybrid import Fusion, Searcher
from papertrend.search.lexical import LexicalIndex
from papertrend.search.persist import restore_indexes
from papertrend.search.snapshot import database_identity
from papertrend.search.vectors import make_index
from papertrend.enrich.embeddings import MODEL_ID
settings = load_settings(database_url=sys.argv[1])
store = open_store(settings)
lexical, index = LexicalIndex(store), make_index(store, MODEL_ID, "exact")
t0 = time.time()
if sys.argv[2] == "snapshot":
    restore_indexes(settings.snapshot_path, database_identity(sys.argv[1]), lexical, index)
t1 = time.time()
lexical_changes, vector_changes = lexical.refresh(), index.refresh()
t2 = time.time()
q = index.vector_of(index.ids[0])
hits = Searcher(store, lambda text: q, index, Fusion(), lexical).search("language model reasoning").hits
assert lexical.ready and hits
done = time.time()
def rollup():
    out = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return out
print(json.dumps({"first_search_s": done - spawned, "imports_s": t0 - spawned, "snapshot_s": t1 - t0,
                  "refresh_s": t2 - t1, "changes": [lexical_changes, vector_changes], "papers": len(lexical)}),
      flush=True)
sys.stdin.readline()  # measured now, while the other worker is alive
print(json.dumps(rollup()), flush=True)
sys.stdin.readline()
"""


class Worker:
    def __init__(self, url: str, mode: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        self.proc = subprocess.Popen([sys.executable, "-c", PROBE, url, mode, repr(time.time())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        assert self.proc.stdout is not None
        self.started = json.loads(self.proc.stdout.readline())

    def memory(self) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


def row(n: int, what: str, w: Worker, mem: dict[str, float]) -> list[object]:
    private = mem.get("Private_Clean", 0) + mem.get("Private_Dirty", 0)
    shared = mem.get("Shared_Clean", 0) + mem.get("Shared_Dirty", 0)
    s = w.started
    return [f"{n:,}", what, f"{s['first_search_s']:.1f}", f"{s['snapshot_s']:.2f}", f"{s['refresh_s']:.1f}",
            f"{s['changes'][0]:,}", f"{mem.get('Rss', 0):,.0f}", f"{private:,.0f}", f"{shared:,.0f}"]


def main() -> None:
    print(f"machine: {describe_machine()}")
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 300_000]
    rng = random.Random(11)
    rows: list[list[object]] = []
    header = ["papers", "web process", "start to first indexed search (s)", "of which snapshot map+check (s)",
              "build / top-up (s)", "text changes read", "RSS (MB)", "private (MB)", "shared (MB)"]
    with tempfile.TemporaryDirectory(dir=ROOT / "var") as tmp:
        url = f"sqlite:///{tmp}/snap.db"
        settings, store = shared_corpus(url)
        for n in sizes:
            grow(store, n, rng)
            baseline = Worker(url, "rebuild")
            base_mem = baseline.memory()
            baseline.stop()
            rows.append(row(n, "baseline: builds from the store", baseline, base_mem))

            t0 = time.perf_counter()
            counts = snapshot_indexes(store, settings, rebuild=True)
            write_s = time.perf_counter() - t0
            sizes_mb = {p.name: p.stat().st_size / 2 ** 20 for p in settings.snapshot_path.glob("*.snap")}

            a = Worker(url, "snapshot")
            grow(store, n + n // 500, rng)  # changes after the snapshot: B tops them up
            b = Worker(url, "snapshot")
            mem_a, mem_b = a.memory(), b.memory()
            a.stop()
            b.stop()
            rows.append(row(n, "from snapshot: first worker", a, mem_a))
            rows.append(row(n, f"from snapshot: second worker (+{n // 500:,} papers)", b, mem_b))
            print_table(f"{n:,} papers", header, rows[-3:])
            ratio = baseline.started["first_search_s"] / b.started["first_search_s"]
            base_private = base_mem.get("Private_Clean", 0) + base_mem.get("Private_Dirty", 0)
            b_private = mem_b.get("Private_Clean", 0) + mem_b.get("Private_Dirty", 0)
            print(f"{n:,}: snapshots built from the store (--rebuild) and written in {write_s:.1f} s ({counts}); files "
                  + ", ".join(f"{k} {v:,.0f} MB" for k, v in sizes_mb.items())
                  + f"; start {ratio:.0f}x faster than a rebuild; private memory per extra worker "
                    f"{b_private:,.0f} MB against {base_private:,.0f} MB "
                    f"({base_private / max(b_private, 1):.1f}x less)",
                  flush=True)
            # The next size grows from here: the extra papers above count towards it.
    print_table("web process start and memory: snapshots against building from the store", header, rows)


if __name__ == "__main__":
    main()
