"""The result of one health check, as `assistant doctor` prints it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One line of `doctor`: what was checked, whether it is fine, and the fix."""

    name: str
    ok: bool
    detail: str
    hint: str | None = None
