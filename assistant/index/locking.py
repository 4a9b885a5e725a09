"""The store's locks: one ingest at a time, and one process inside Chroma at a time.

Both are advisory `flock`s, which the kernel drops when the holding process
exits, however it dies, so a crash never leaves a stale lock behind.
`<store_dir>/ingest.lock` is held for a whole ingest; readers (search, ask) do
not take it. `<store_dir>/access.lock` is held by every process, readers
included, for each call into Chroma (see `store_access`).
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
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


# -- Access to Chroma's files ----------------------------------------------------

ACCESS_LOCK_NAME = "access.lock"
# Say why we wait once the wait is noticeable; give up long before "minutes".
_WAIT_NOTICE_S = 1.0
ACCESS_WAIT_S = 60.0


class _Held:
    """This process's hold on one store's access lock (re-entrant across threads)."""

    def __init__(self) -> None:
        self.guard = threading.RLock()
        self.depth = 0
        self.fd = -1


_HELD: dict[Path, _Held] = {}
_HELD_GUARD = threading.Lock()


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip() or "unknown"
    except OSError:
        return "unknown"


def _acquire(path: Path, store_dir: Path, wait_s: float) -> int:
    """A descriptor holding the lock on `path`, waiting at most `wait_s` seconds.

    A waiter blocks in `flock` (in a helper thread, so that the wait can end)
    rather than polling: the kernel wakes it when the holder lets go, so a
    process making many calls in a row cannot starve it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
    got = threading.Event()
    guard = threading.Lock()
    taken: list[int] = []
    gave_up: list[bool] = []

    def take() -> None:
        mine = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(mine, fcntl.LOCK_EX)
        with guard:
            if gave_up:
                os.close(mine)  # nobody waits for it any more: let go at once
                return
            taken.append(mine)
        got.set()

    threading.Thread(target=take, name="store-access-wait", daemon=True).start()
    if not got.wait(_WAIT_NOTICE_S):
        print(
            f"Waiting for the index at {store_dir}: process {_holder(path)} is using it...",
            file=sys.stderr,
            flush=True,
        )
        got.wait(max(0.0, wait_s - _WAIT_NOTICE_S))
    with guard:
        if taken:
            return taken[0]
        gave_up.append(True)
    raise StoreError(
        f"The index at {store_dir} stayed busy for {wait_s:g} s "
        f"(process {_holder(path)} is using it).",
        hint="If an ingest is running, let it finish, then try again.",
    )


@contextmanager
def store_access(store_dir: Path, wait_s: float = ACCESS_WAIT_S) -> Iterator[None]:
    """Use Chroma's files alone for the body of the `with`.

    Chroma's local store is not safe for several processes at once: readers
    write too (they replay the log into the HNSW files), and a reader loading
    the HNSW files while another process rewrites them crashes or corrupts the
    store. Every Chroma call runs inside this lock; calls are short, so an
    ingest and any number of searches interleave, each waiting at most for one
    call of another. Re-entrant within a process.

    Raises:
        StoreError: another process held the lock for `wait_s` seconds.
    """
    key = store_dir.resolve()
    with _HELD_GUARD:
        held = _HELD.setdefault(key, _Held())
    with held.guard:
        if held.depth == 0:
            store_dir.mkdir(parents=True, exist_ok=True)
            fd = _acquire(store_dir / ACCESS_LOCK_NAME, store_dir, wait_s)
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            except BaseException:
                os.close(fd)
                raise
            held.fd = fd
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0:
                os.close(held.fd)  # releases the lock
                held.fd = -1


def ingest_running(store_dir: Path) -> bool:
    """Whether another process holds the ingest lock right now (never waits)."""
    path = store_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        # Closing releases a shared lock we may have taken for this instant.
        os.close(fd)
    return False
