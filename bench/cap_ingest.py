"""CAP ingest throughput: guard + parse + validate + build over the real-world corpus and the samples.

Every corpus file (valid, invalid and hostile alike, feeds included) and every sample is read from memory
``ROUNDS`` times; figures are alerts read per second, entries (alerts + index links) per second, documents
and MB per second, each by wall clock and by CPU time (the CPU figure is steadier on a shared machine),
plus the slowest single document. Storage is not part of the bench yet: pass a ``store`` step to :func:`run` to
time it too (it receives every :class:`CapReadResult`).

Run: ``uv run python bench/cap_ingest.py [ROUNDS]`` (corpus from ``$ALERTCAST_CAP_CORPUS`` or
``../shared/cap-corpus``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alertcast.cap import CapReadResult, read_cap

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("ALERTCAST_CAP_CORPUS") or REPO.parent / "shared" / "cap-corpus")

StoreStep = Callable[[CapReadResult], None]


def discard(result: CapReadResult) -> None:
    """The default store step: nothing, so the figures are ingest alone."""


@dataclass(frozen=True)
class Figures:
    rounds: int
    documents: int
    alerts: int
    links: int
    megabytes: float
    seconds: float
    cpu_seconds: float
    slowest_ms: float
    slowest_source: str


def load_documents() -> list[tuple[str, bytes]]:
    paths = sorted(path for path in CORPUS.rglob("*") if path.is_file() and path.suffix != ".md")
    paths += sorted(path for path in (REPO / "sample_alerts").iterdir() if path.suffix in (".xml", ".atom"))
    return [(str(path), path.read_bytes()) for path in paths]


def run(documents: list[tuple[str, bytes]], rounds: int, store: StoreStep = discard) -> Figures:
    alerts = links = 0
    slowest = (0.0, "")
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        for source, data in documents:
            begun = time.perf_counter()
            result = read_cap(data, source=source)
            store(result)
            elapsed = time.perf_counter() - begun
            slowest = max(slowest, (elapsed, source))
            alerts += len(result.alerts)
            links += sum(1 for entry in result.entries if entry.link is not None)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    size = sum(len(data) for _, data in documents) * rounds / 1e6
    return Figures(
        rounds,
        len(documents) * rounds,
        alerts,
        links,
        size,
        seconds,
        cpu_seconds,
        slowest[0] * 1000,
        slowest[1],
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if not CORPUS.is_dir():
        sys.exit(f"CAP corpus not found at {CORPUS}; set ALERTCAST_CAP_CORPUS")
    documents = load_documents()
    run(documents, 1)  # warm-up: schema compilation and imports are not part of the figure
    figures = run(documents, rounds)
    wall, cpu = figures.seconds, figures.cpu_seconds
    entries = figures.alerts + figures.links
    print(f"documents: {len(documents)} per round x {figures.rounds} rounds, {figures.megabytes:.1f} MB")
    print(
        f"read {figures.alerts} alerts and {figures.links} index links in {wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    print(f"alerts/s:    {figures.alerts / wall:8,.0f} wall  {figures.alerts / cpu:8,.0f} CPU")
    print(f"entries/s:   {entries / wall:8,.0f} wall  {entries / cpu:8,.0f} CPU  (alerts + index links)")
    print(f"documents/s: {figures.documents / wall:8,.0f} wall  {figures.documents / cpu:8,.0f} CPU")
    print(f"MB/s:        {figures.megabytes / wall:8.1f} wall  {figures.megabytes / cpu:8.1f} CPU")
    print(f"slowest document: {figures.slowest_ms:.1f} ms ({Path(figures.slowest_source).name})")
    singles = [(source, data) for source, data in documents if f"{os.sep}feeds{os.sep}" not in source]
    single = run(singles, rounds)
    print(
        f"without the feeds/ folder: {single.alerts / single.seconds:,.0f} alerts/s wall, "
        f"{single.alerts / single.cpu_seconds:,.0f} CPU ({len(singles)} documents per round)"
    )


if __name__ == "__main__":
    main()
