"""Import 100,000 generated contacts into a fresh SQLite store; print time and peak memory.

Target (2 cores): under 10 s and under 300 MB peak RSS. Also times a re-import of the same file, which
must change nothing. Rows are validated in one worker process per core (phonenumbers is most of the
cost), so memory is reported for the import and its workers together (PSS: shared pages counted once). Run: ``uv run python bench/contacts_import.py [COUNT]``.
"""

from __future__ import annotations

import csv
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from alertcast.config import Config
from alertcast.services.contacts import import_contacts
from alertcast.services.context import AppContext
from alertcast.store.db import create_db_engine

GROUPS = ("fire", "ems", "public-works", "schools", "residents", "volunteers")
LANGUAGES = ("en", "en", "en", "es", "es", "vi", "zh-Hant", "fr", "ar")


def generate(path: Path, count: int, seed: int = 7) -> None:
    """US numbers in fictional-use exchanges, spread over many area codes so all are distinct and valid."""
    rng = random.Random(seed)
    area_codes = [201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "phone", "email", "language", "groups", "lat", "lon", "apprise"])
        for i in range(count):
            area = area_codes[i % len(area_codes)]
            line = i // len(area_codes)
            phone = f"+1{area}{200 + line // 10000}{line % 10000:04d}"
            groups = ";".join(rng.sample(GROUPS, rng.randint(1, 2)))
            email = f"person{i}@example.org" if rng.random() < 0.4 else ""
            writer.writerow(
                [
                    f"Person {i}",
                    phone,
                    email,
                    rng.choice(LANGUAGES),
                    groups,
                    f"{38.4 + rng.random() * 0.4:.5f}",
                    f"{-121.7 + rng.random() * 0.5:.5f}",
                    "",
                ]
            )


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory; for ``RUSAGE_CHILDREN``, that of the largest worker process."""
    return resource.getrusage(who).ru_maxrss / 1024


_WATCH = """
import os, signal, sys, time
pid, peak, stop = int(sys.argv[1]), 0, []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

def pss(p):
    try:
        with open(f"/proc/{p}/smaps_rollup") as f:
            return sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except OSError:
        return 0

def family(p):
    try:
        with open(f"/proc/{p}/task/{p}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        kids = []
    return [p] + [q for k in kids if k != os.getpid() for q in family(k)]

while not stop:
    peak = max(peak, sum(pss(p) for p in family(pid)))
    time.sleep(0.25)
print(peak)
"""


class MemoryWatch:
    """Peak proportional set size (PSS) of this process and its worker processes together.

    Shared pages are counted once, so the figure is the memory the import really took. A separate process
    samples it every 250 ms: a thread here would keep the import from forking its workers, and reading a
    process's PSS briefly stalls it, so more often would slow what is measured."""

    def __enter__(self) -> MemoryWatch:
        import os
        import subprocess

        self._watch = subprocess.Popen(
            [sys.executable, "-c", _WATCH, str(os.getpid())], stdout=subprocess.PIPE, text=True
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.terminate()
        out, _ = self._watch.communicate(timeout=10)
        self.peak_mb = int(out.strip() or 0) / 1024


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "contacts.csv"
        generate(book, count)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        ctx = AppContext(Config(db_url=url, operator="bench"), create_db_engine(url))
        with MemoryWatch() as memory:
            start = time.perf_counter()
            report = import_contacts(ctx, book)
            first = time.perf_counter() - start
        start = time.perf_counter()
        again = import_contacts(ctx, book)
        second = time.perf_counter() - start
        ctx.close()
    print(f"contacts generated:   {count:,}")
    print(
        f"first import:         {first:6.2f} s  ({count / first:,.0f} rows/s) "
        f"added={report.added:,} rejected={len(report.rejected)}"
    )
    print(f"re-import (no change): {second:5.2f} s  unchanged={again.unchanged:,} updated={again.updated}")
    print(
        f"peak memory:          {peak_rss_mb():6.0f} MB RSS of this process; first import with its "
        f"validation workers: {memory.peak_mb:.0f} MB PSS together (largest worker's RSS "
        f"{peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB, mostly pages shared with this process)"
    )
    print("targets: first import < 10 s, peak memory < 300 MB")


if __name__ == "__main__":
    main()
