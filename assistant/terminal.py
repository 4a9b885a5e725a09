"""Text from documents, models and file names is data all the way to the screen.

Everything `assistant` shows in a terminal passes `for_terminal`: escape
sequences (colours, cursor moves, clear-screen, window titles, hyperlinks) and
other control characters are removed, so a title, an abstract or a file name
cannot drive the terminal. JSON output keeps the exact text (JSON escapes it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# CSI (ESC [ ... final byte, or its one-byte form 0x9b), OSC (ESC ] ... ended by
# BEL or ESC \), the DCS/SOS/PM/APC strings (ESC P, X, ^, _ ... ESC \), and the
# two-byte escapes (ESC followed by one byte).
ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x7e]?"
)
# Control characters but tab and newline (C0, DEL, C1).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def listed(names: Sequence[str], most: int) -> str:
    """Up to `most` stored names (files, dates) on one line, then how many more."""
    shown = ", ".join(for_terminal(n, one_line=True) for n in names[:most])
    more = len(names) - most
    return f"{shown} and {more:,} more" if more > 0 else shown


def for_terminal(text: str, *, one_line: bool = False) -> str:
    """`text` without escape sequences and control characters (tab and newline
    kept, or made spaces with `one_line`, for a field such as a title)."""
    cleaned = CONTROL.sub("", ESCAPE.sub("", text))
    if one_line:
        cleaned = cleaned.replace("\n", " ").replace("\t", " ")
    return cleaned
