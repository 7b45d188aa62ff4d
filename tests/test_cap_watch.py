"""The folder watcher offers new and changed CAP files once each, and only when they look finished."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from alertcast.cap import FolderWatcher, RawDocument, read_cap

SAMPLES = Path(__file__).resolve().parents[1] / "sample_alerts"
AN_HOUR_AGO = time.time() - 3600


def place(folder: Path, name: str, data: bytes, *, settled: bool = True, mtime: float = AN_HOUR_AGO) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if settled:
        os.utime(path, (mtime, mtime))
    return path


def names(documents: list[RawDocument]) -> list[str]:
    return sorted(Path(document.source).name for document in documents)


SAMPLE = (SAMPLES / "01-river-flood-warning.xml").read_bytes()


def test_new_files_are_offered_once_and_changed_files_again(tmp_path: Path) -> None:
    place(tmp_path, "a.xml", SAMPLE)
    place(tmp_path, "nested/deeper/b.cap", SAMPLE)
    watcher = FolderWatcher(tmp_path)
    first = watcher.scan()
    assert names(first) == ["a.xml", "b.cap"]
    assert all(read_cap(document.data, source=document.source).accepted for document in first)
    assert watcher.scan() == []
    place(tmp_path, "a.xml", SAMPLE + b"\n", mtime=AN_HOUR_AGO + 60)
    assert names(watcher.scan()) == ["a.xml"]


def test_a_file_still_being_written_waits_for_the_next_scan(tmp_path: Path) -> None:
    watcher = FolderWatcher(tmp_path, settle_seconds=600)
    place(tmp_path, "fresh.xml", SAMPLE[:100], settled=False)
    assert watcher.scan() == []
    place(tmp_path, "fresh.xml", SAMPLE, settled=False)  # grew since the last scan: still not settled
    assert watcher.scan() == []
    (document,) = watcher.scan()  # unchanged across two scans: finished
    assert document.data == SAMPLE


def test_hidden_foreign_and_linked_files_are_skipped(tmp_path: Path) -> None:
    place(tmp_path, ".hidden.xml", SAMPLE)
    place(tmp_path, ".git/c.xml", SAMPLE)
    place(tmp_path, "notes.txt", SAMPLE)
    place(tmp_path, "upload.xml.part", SAMPLE)
    outside = place(tmp_path.parent / f"{tmp_path.name}-outside", "secret.xml", SAMPLE)
    (tmp_path / "link.xml").symlink_to(outside)
    place(tmp_path, "UPPER.XML", SAMPLE)
    assert names(FolderWatcher(tmp_path).scan()) == ["UPPER.XML"]


def test_existing_files_can_be_taken_as_already_seen(tmp_path: Path) -> None:
    place(tmp_path, "old.xml", SAMPLE)
    watcher = FolderWatcher(tmp_path, include_existing=False)
    assert watcher.scan() == []
    place(tmp_path, "new.xml", SAMPLE)
    assert names(watcher.scan()) == ["new.xml"]


def test_deleted_then_restored_file_is_offered_again(tmp_path: Path) -> None:
    path = place(tmp_path, "a.xml", SAMPLE)
    watcher = FolderWatcher(tmp_path)
    assert len(watcher.scan()) == 1
    path.unlink()
    assert watcher.scan() == []
    place(tmp_path, "a.xml", SAMPLE)
    assert len(watcher.scan()) == 1


def test_oversized_file_is_read_just_past_the_limit_so_the_reader_refuses_it(tmp_path: Path) -> None:
    place(tmp_path, "huge.xml", b"<a>" + b"x" * 10_000 + b"</a>")
    (document,) = FolderWatcher(tmp_path, max_bytes=1000).scan()
    assert len(document.data) == 1001
    refusal = read_cap(document.data, source=document.source, max_bytes=1000).refusal
    assert refusal is not None and refusal.rule == "too-large"


async def test_run_hands_files_to_the_sink_and_retries_after_a_sink_failure(tmp_path: Path) -> None:
    place(tmp_path, "a.xml", SAMPLE)
    received: list[str] = []
    failures = [RuntimeError("store unavailable")]
    done = asyncio.Event()

    async def sink(document: RawDocument) -> None:
        if failures:
            raise failures.pop()
        received.append(Path(document.source).name)
        done.set()

    task = asyncio.create_task(FolderWatcher(tmp_path, sink, interval=0.02).run())
    try:
        await asyncio.wait_for(done.wait(), timeout=15)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert received == ["a.xml"]


async def test_run_without_a_sink_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a sink"):
        await FolderWatcher(tmp_path).run()
