"""Watching a folder for CAP files, by polling: portable, no extra dependency, fine at CAP's pace.

A file is offered when it is new or changed (modification time or size differ from what was last offered)
and it looks finished: unchanged since the previous scan, or last modified ``settle_seconds`` ago. That
keeps a file still being copied in from being read half-written. Hidden files and folders and symbolic
links are skipped (a link could point the relay at any file on the machine). Files are read up to one byte
over the size limit, so the reader can refuse an oversized one with a reason instead of reading it all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from alertcast.cap.documents import DocumentSink, RawDocument
from alertcast.cap.guard import DEFAULT_MAX_BYTES

logger = logging.getLogger(__name__)

CAP_FILE_SUFFIXES = (".xml", ".cap", ".atom", ".rss", ".edxlde")
Signature = tuple[int, int]
"""(modification time in ns, size in bytes)."""


class FolderWatcher:
    """Finds new and changed CAP files under ``folder`` (recursively) and offers them to a sink."""

    def __init__(
        self,
        folder: Path,
        sink: DocumentSink | None = None,
        *,
        interval: float = 2.0,
        settle_seconds: float = 2.0,
        suffixes: tuple[str, ...] = CAP_FILE_SUFFIXES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        include_existing: bool = True,
    ) -> None:
        self.folder = folder
        self._sink = sink
        self.interval = interval
        self.settle_seconds = settle_seconds
        self.suffixes = tuple(suffix.lower() for suffix in suffixes)
        self.max_bytes = max_bytes
        self._offered: dict[Path, Signature] = {}
        self._seen_last_scan: dict[Path, Signature] = {}
        self._baseline_pending = not include_existing

    def scan(self) -> list[RawDocument]:
        """One pass: the documents that are new or changed and settled since the last pass."""
        current = dict(self._walk())
        if self._baseline_pending:
            self._offered = dict(current)
            self._baseline_pending = False
        now_ns = time.time_ns()
        documents = []
        for path, signature in current.items():
            if self._offered.get(path) == signature:
                continue
            settled = self._seen_last_scan.get(path) == signature or (
                now_ns - signature[0] >= self.settle_seconds * 1e9
            )
            if not settled:
                continue
            document = self._read(path)
            if document is not None:
                documents.append(document)
                self._offered[path] = signature
        self._seen_last_scan = current
        for gone in set(self._offered) - set(current):
            del self._offered[gone]
        return documents

    def forget(self, source: str) -> None:
        """Offer ``source`` again on the next scan (its consumer could not take it)."""
        self._offered.pop(Path(source), None)

    async def run(self) -> None:
        """Scan forever, handing documents to the sink; returns only when cancelled."""
        if self._sink is None:
            raise ValueError("FolderWatcher.run() needs a sink")
        while True:
            for document in await asyncio.to_thread(self.scan):
                try:
                    await self._sink(document)
                except Exception:
                    logger.exception("sink refused %s; offered again next scan", document.source)
                    self.forget(document.source)
            await asyncio.sleep(self.interval)

    def _walk(self) -> Iterator[tuple[Path, Signature]]:
        for directory, subdirectories, files in os.walk(self.folder, onerror=self._walk_error):
            subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or not name.lower().endswith(self.suffixes):
                    continue
                path = Path(directory, name)
                try:
                    status = path.lstat()
                except OSError:
                    continue  # removed between listing and looking
                if not stat.S_ISREG(status.st_mode):  # symbolic links, devices, sockets
                    continue
                yield path, (status.st_mtime_ns, status.st_size)

    def _read(self, path: Path) -> RawDocument | None:
        try:
            with path.open("rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except OSError as error:
            logger.warning("cannot read CAP file %s: %s; retried next scan", path, error)
            return None
        return RawDocument(data, str(path))

    @staticmethod
    def _walk_error(error: OSError) -> None:
        logger.warning("cannot list %s: %s", error.filename, error.strerror)
