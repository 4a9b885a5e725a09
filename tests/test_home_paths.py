"""A home folder whose name holds URI syntax (`#`, `?`, `%`) or spaces is just a
folder: SQLite files open as themselves, nothing is created beside the home,
and a good index is not called damaged (issue 15: a `lab#2` home opened `lab`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env, run_cli


@pytest.mark.parametrize("name", ["lab#2", "what?now", "100%25 sure", "a b#c?d%e"])
def test_a_home_with_uri_characters_works(tmp_path: Path, small_corpus: Path, name: str) -> None:
    parent = tmp_path / "parent"
    parent.mkdir()
    home = parent / name
    ingest = run_cli("ingest", "--quiet", str(small_corpus), ASSISTANT_HOME=str(home))
    assert ingest.returncode == 0, ingest.stderr
    assert "Added 6" in ingest.stdout

    search = run_cli(
        "search", "growing networks by recombining parameters", ASSISTANT_HOME=str(home)
    )
    assert search.returncode == 0, search.stderr
    assert search.stdout.startswith(" 1. ") and "MixtureGrowth" in search.stdout.splitlines()[0]
    assert "damaged" not in search.stderr

    doctor = run_cli("doctor", ASSISTANT_HOME=str(home), ASSISTANT_BACKEND="none")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert any(line.startswith("[ok  ] index: ") for line in doctor.stdout.splitlines())

    # Nothing appeared outside the home (a truncated URI used to create files there).
    assert sorted(p.name for p in parent.iterdir()) == [name]


def test_a_tilde_home_is_the_users_home(tmp_path: Path, small_corpus: Path) -> None:
    """`ASSISTANT_HOME="~/x"` (quoted, so no shell expanded it) is ~/x, as the config
    file's location already was, not a folder named `~` under the current one."""
    user = tmp_path / "user"
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "ingest", "--quiet", str(small_corpus)],
        capture_output=True,
        text=True,
        cwd=work,
        env=cli_env(HOME=str(user), ASSISTANT_HOME="~/papers"),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (user / "papers" / "store").is_dir()
    assert list(work.iterdir()) == []


def test_an_empty_home_means_the_default(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    done = run_cli("config", "show", "--json", ASSISTANT_HOME="", XDG_DATA_HOME=str(xdg))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["home"]["value"] == str(xdg / "assistant")


def _not_int8(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if "int8" not in n]


def _read_only(folder: Path) -> str | None:
    """Make `folder` (a fresh tmpfs mount, for root) read-only; why not, or None."""
    import os

    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        return None
    done = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True)
    return None if done.returncode == 0 else done.stderr.decode()


def test_a_read_only_home_is_a_message_for_every_command(
    tmp_path: Path, small_corpus: Path, bundled_index: Path
) -> None:
    import os

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)])
        if mounted.returncode != 0:
            pytest.skip("cannot mount a tmpfs to make read-only")
    home = disk / "home"
    try:
        # The built encoder, so that the small disk holds it.
        shutil.copytree(bundled_index / "models", home / "models", ignore=_not_int8)
        assert run_cli("ingest", "-q", str(small_corpus), ASSISTANT_HOME=str(home)).returncode == 0
        (home / "chat_history").write_text("+old question\n", encoding="utf-8")
        reason = _read_only(disk)
        if reason:
            pytest.skip(reason)
        for args in (
            ("search", "networks"),
            ("ask", "--backend", "none", "What is MixtureGrowth?"),
            ("chat", "--clear-history"),
            ("ingest", "-q", str(small_corpus)),
        ):
            done = run_cli(*args, ASSISTANT_HOME=str(home))
            assert done.returncode == 74, (args, done.stderr)
            first, hint = done.stderr.splitlines()[-2:]
            assert first.startswith(f"Error: Cannot write to {home}"), (args, done.stderr)
            assert first.endswith((": read-only file system.", ": permission denied.")), first
            assert hint.startswith("Hint: The assistant keeps its index, models and history")
        doctor = run_cli("doctor", ASSISTANT_HOME=str(home))
        assert doctor.returncode == 3 and "Traceback" not in doctor.stderr
        assert f"[FAIL] home: {disk} is not writable" in doctor.stdout or (
            f"[FAIL] home: {home} is not writable" in doctor.stdout
        )
        assert (home / "chat_history").read_text(encoding="utf-8") == "+old question\n"
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(disk)], check=False)
        else:
            subprocess.run(["chmod", "-R", "u+w", str(disk)], check=False)


def test_a_home_that_is_a_file_is_refused_by_name(tmp_path: Path, small_corpus: Path) -> None:
    home = tmp_path / "not-a-folder"
    home.write_text("notes\n", encoding="utf-8")
    for args in (("ingest", "-q", str(small_corpus)), ("search", "networks"), ("doctor",)):
        done = run_cli(*args, ASSISTANT_HOME=str(home))
        assert done.returncode == 3, done.stderr
        assert done.stderr.startswith(
            f"Error: Invalid settings: home: Value error, {home} is a file; it must be a folder"
        ), done.stderr
    assert home.read_text(encoding="utf-8") == "notes\n"
