"""Running the CLI in a pseudo-terminal of a chosen size, as a user's terminal would."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

# SGR and other CSI sequences, OSC strings (hyperlinks), two-byte escapes.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# Colour SGR parameters: 30-39, 40-49, 90-97, 100-107 (38/48 start 256 and RGB colours).
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


def plain(output: str) -> str:
    """What the user reads: escape sequences removed, line ends as "\\n"."""
    return ANSI.sub("", output).replace("\r\n", "\n")


def _read(fd: int, process: subprocess.Popen[bytes], timeout: float) -> str:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")


def run_in_terminal(
    args: list[str],
    env: dict[str, str],
    *,
    columns: int = 80,
    rows: int = 40,
    timeout: float = 180,
    stdin: bytes | None = None,
) -> tuple[int, str]:
    """`python -m assistant *args` with stdout and stderr on a terminal `columns` wide.

    stdin is the terminal too, unless `stdin` is given (then a pipe holding it).
    Returns the exit code and everything the terminal received.
    """
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        stdin=subprocess.PIPE if stdin is not None else child,
        stdout=child,
        stderr=child,
        env=env,
    )
    os.close(child)
    if stdin is not None:
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.close()
    try:
        output = _read(main, process, timeout)
    finally:
        process.wait(timeout=60)
        os.close(main)
    return process.returncode, output
