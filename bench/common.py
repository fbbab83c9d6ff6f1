"""Helpers shared by the benchmarks: where the shared data is, the machine, peak memory, a table printer."""

from __future__ import annotations

import os
import platform
import resource
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "tests" / "fixtures" / "data"  # the real shared data, copied with its SOURCES.md
sys.path.insert(0, str(ROOT / "src"))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    widths = [max(len(str(x)) for x in [h, *(r[i] for r in rows)]) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe_machine() -> str:
    """The machine as this run finds it: CPUs, CPU model, memory, load average now (Linux /proc;
    "unknown" where a figure cannot be read). Print it with every benchmark's figures."""
    def first(path: str, key: str) -> str | None:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    name, _, value = line.partition(":")
                    if name.strip() == key:
                        return value.strip()
        except OSError:
            pass
        return None

    cpus = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    model = first("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"
    mem_kib = first("/proc/meminfo", "MemTotal")
    memory = f"{int(mem_kib.split()[0]) / 1024 ** 2:.1f} GiB RAM" if mem_kib else "unknown RAM"
    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average unknown"
    cores = f"{cpus} CPUs" + (f" ({usable} usable)" if usable != cpus else "")
    return (f"{cores}, {model}, {memory}, {load}; {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")
