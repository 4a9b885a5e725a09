"""A home folder whose name holds URI syntax (`#`, `?`, `%`) or spaces is just a
folder: SQLite files open as themselves, nothing is created beside the home,
and a good index is not called damaged (issue 15: a `lab#2` home opened `lab`)."""

from __future__ import annotations

import json
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
