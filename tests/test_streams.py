"""Whatever the streams are, a message and an exit code, never a traceback
(issue 15, item 6): undecodable bytes in a question, output into a closed pipe
or a full device, and closed standard streams."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env

from assistant.errors import ExitCode

QUESTION = "Which paper introduces layer normalization?"


def _assistant(*args: str | bytes) -> list[str | bytes]:
    return [sys.executable, "-m", "assistant", *args]


def test_a_question_with_invalid_utf8_is_answered(bundled_home: Path) -> None:
    done = subprocess.run(
        _assistant("ask", b"layer\xffnormalization", "--backend", "none"),
        capture_output=True,
        env=cli_env(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    assert done.stdout.startswith(b"Extractive answer")


def test_chat_survives_invalid_utf8_input(bundled_home: Path) -> None:
    done = subprocess.run(
        _assistant("chat", "--backend", "none"),
        input=b"layer\xffnorm?\n" + QUESTION.encode() + b"\n",
        capture_output=True,
        env=cli_env(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    assert done.stdout.count(b"Sources:") == 2  # both questions answered
    assert done.stderr.rstrip().endswith(b"Bye.")


@pytest.mark.parametrize("args", [["doctor"], ["config", "show"], ["search", QUESTION, "-k", "50"]])
def test_a_reader_that_leaves_ends_us_quietly(bundled_home: Path, args: list[str]) -> None:
    """`... | head -1`: the pipe closes after one line."""
    env = cli_env(ASSISTANT_BACKEND="none")
    proc = subprocess.Popen(
        _assistant(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    errors = proc.stderr.read()
    proc.wait(timeout=300)
    assert proc.returncode in (0, ExitCode.BROKEN_PIPE), errors
    assert b"Traceback" not in errors and b"Exception ignored" not in errors


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_device_is_named(bundled_home: Path) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            _assistant("ask", QUESTION, "--backend", "none"),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            timeout=300,
            check=False,
        )
    assert done.returncode == ExitCode.OUTPUT
    assert "Error: Cannot write the output: No space left on device." in done.stderr
    assert "Traceback" not in done.stderr


def test_closed_stdout_and_stdin(bundled_home: Path) -> None:
    closed_out = subprocess.run(
        _assistant("ask", QUESTION, "--backend", "none"),
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        timeout=300,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert closed_out.returncode == 0, closed_out.stderr
    assert "Traceback" not in closed_out.stderr

    closed_in = subprocess.run(
        _assistant("chat", "--backend", "none"),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
        check=False,
        preexec_fn=lambda: os.close(0),
    )
    assert closed_in.returncode == 0, closed_in.stderr
    assert closed_in.stderr.rstrip().endswith("Bye.")
