"""Build and send 10,000 personalised digests from the full shared corpus to a local SMTP sink
(aiosmtpd in its own process). Prints digests composed per second, messages delivered per
second and peak RSS. Baseline in the same run: composing the same number of messages with the
email package alone (no selection, no store)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage

from common import SHARED, describe_machine, free_port, peak_rss_mb, print_table

from papertrend.config import load_settings
from papertrend.digest.mailer import deliver
from papertrend.ingest.importer import import_paths
from papertrend.digest.build import build_digests
from papertrend.store import open_store

N = int(os.environ.get("BENCH_SUBSCRIBERS", "10000"))


def main() -> None:
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
                                 "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            settings = load_settings(database_url=f"sqlite:///{tmp}/d.db", smtp_host="127.0.0.1", smtp_port=port,
                                     mail_rate=0, embed_on_import=False)
            store = open_store(settings)
            import_paths(store, settings, [SHARED / "hf-daily"])
            papers = store.papers.in_range("2026-07-27", "2026-08-02")
            # Interests drawn from real Hugging Face keyword phrases, and from the week's titles.
            pool = store.papers.in_range("2026-06-01", "2026-08-02")
            keywords = sorted({k for p in pool for k in p.ai_keywords if len(k.split()) >= 2}
                              | {" ".join(p.title.split()[:2]) for p in papers})
            rng = random.Random(3)
            with store.write() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO subscribers (email, status, frequency, topics_json, authors_json, categories_json, "
                    "paused, hard_bounces, created_at) "
                    "VALUES (?, 'confirmed', 'weekly', ?, '[]', '[]', 0, 0, '2026-07-01')",
                    [(f"r{i}@example.org", "[]" if i % 3 == 0 else json.dumps(rng.sample(keywords, 3)))
                     for i in range(N)])
            t0 = time.perf_counter()
            built = build_digests(store, settings, "weekly", "2026-W31")
            t_build = time.perf_counter() - t0
            t0 = time.perf_counter()
            sent = deliver(store, settings, batch=500)
            t_send = time.perf_counter() - t0
            rss = peak_rss_mb()
        finally:
            sink.terminate()
            sink.wait(10)
    t0 = time.perf_counter()
    for i in range(N):
        m = EmailMessage()
        m["To"], m["Subject"] = f"r{i}@example.org", "x"
        m.set_content("hello " * 200)
        m.as_bytes()
    t_base = time.perf_counter() - t0
    print_table(f"digests: {N:,} weekly subscribers, {len(papers)} papers in 2026-W31",
                ["step", "count", "seconds", "per second"], [
        ["compose (select + render + store)", built["composed"], f"{t_build:.1f}",
         f"{built['composed'] / t_build:,.0f}"],
        ["deliver over SMTP (one connection)", sent["sent"], f"{t_send:.1f}", f"{sent['sent'] / t_send:,.0f}"],
        ["baseline: bare EmailMessage build", N, f"{t_base:.1f}", f"{N / t_base:,.0f}"],
    ])
    print(f"\nempty digests skipped: {built['empty']}; peak RSS {rss:.0f} MB; "
          "goals: compose >= 1,000/s, deliver >= 200/s, < 500 MB")


if __name__ == "__main__":
    main()
