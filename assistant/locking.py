"""The single-writer lock that keeps two ingests off one store.

An advisory `flock` on `<store_dir>/ingest.lock`: the kernel drops it when the
holding process exits, however it dies, so a crashed ingest never leaves a
stale lock behind. Readers (search, ask) do not take it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.errors import StoreError

LOCK_NAME = "ingest.lock"


class IngestLockedError(StoreError):
    """Another process is ingesting into the same store."""


@contextmanager
def ingest_lock(store_dir: Path) -> Iterator[Path]:
    """Hold the store's ingest lock for the body of the `with`.

    Raises:
        IngestLockedError: another process holds it (checked once, never waits).
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    path = store_dir / LOCK_NAME
    # Not O_TRUNC: the holder's pid must stay readable until we own the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise IngestLockedError(
                f"Another ingest is running on {store_dir} (pid {holder}).",
                hint="wait for it to finish; a crashed ingest releases the lock by itself.",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)
