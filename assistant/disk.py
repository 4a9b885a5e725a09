"""A full or read-only disk, named as such: never mistaken for a damaged index.

SQLite says "database or disk is full" and the OS says ENOSPC, but Chroma often
reports a full disk only as a failed compaction ("Failed to apply logs to the
metadata segment"). So an error from the store counts as a full disk when its
text says so, or when the disk holding the store has almost no room left at
the moment it failed. The advice is then to free space, never to rebuild
(a rebuild would need more space, and destroys what the user has).
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from assistant.errors import DiskFullError, NotWritableError

MB = 1 << 20
# Below this much free space, a failed write to the store is blamed on space:
# Chroma's log, its compaction and SQLite's journals need room of that order.
LOW_SPACE = 64 * MB
_MARKERS = ("no space left", "disk is full", "os error 28", "(code: 13)", "quota exceeded")


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def says_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or an error behind it, says the disk (or quota) is full."""
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if any(marker in str(cause).lower() for marker in _MARKERS):
            return True
    return False


def free_bytes(folder: Path) -> int | None:
    """Free space on the disk holding `folder` (or its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def out_of_space(exc: BaseException, folder: Path) -> bool:
    """Whether a failed write to `folder` is best explained by a full disk."""
    if says_disk_full(exc):
        return True
    free = free_bytes(folder)
    return free is not None and free < LOW_SPACE


def disk_full(folder: Path, need: int = LOW_SPACE) -> DiskFullError:
    """The error for a full disk under `folder`; `need`: bytes the work needs free."""
    free = free_bytes(folder) or 0
    more = max(need - free, MB)
    return DiskFullError(
        f"No space left on the disk holding {folder} ({free / MB:.1f} MB free).",
        hint=f"Free at least {-(-more // MB)} MB there and run the command again; "
        "what is stored was kept.",
        folder=str(folder),
    )


def require_space(folder: Path, need: int) -> None:
    """Refuse to start work that needs `need` bytes the disk does not have.

    Raises:
        DiskFullError: less than `need` is free.
    """
    free = free_bytes(folder)
    if free is not None and free < need:
        raise disk_full(folder, need)


_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def refused_write(exc: BaseException) -> OSError | None:
    """The OS error behind `exc` that refused a write (read-only, no permission)."""
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.errno in _NOT_WRITABLE:
            return cause
    return None


def not_writable(cause: OSError, home: Path) -> NotWritableError:
    where = cause.filename or home
    reason = (cause.strerror or str(cause)).lower()
    return NotWritableError(
        f"Cannot write to {where}: {reason}.",
        hint=f"The assistant keeps its index, models and history under ASSISTANT_HOME ({home}): "
        "make that folder writable, or set ASSISTANT_HOME to one that is.",
    )
