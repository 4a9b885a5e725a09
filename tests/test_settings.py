"""Settings that cannot be right are refused by name, with the file they came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from assistant.cli.app import app

runner = CliRunner()


def _show(config: Path) -> Result:
    return runner.invoke(app, ["config", "show"], env={"ASSISTANT_CONFIG": str(config)})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("min_support = 5", "min_support: Input should be less than or equal to 1"),
        ("min_support = -1", "min_support: Input should be greater than or equal to 0"),
        ("min_support = nan", "min_support: Input should be a finite number"),
        ("timeout_s = -5", "timeout_s: Input should be greater than 0"),
        ("dense_weight = inf", "dense_weight: Input should be a finite number"),
        ("top_k = true", "top_k: Value error, must be a number, not true or false"),
        ("temperature = false", "temperature: Value error, must be a number, not true or false"),
        ("llamacpp_threads = -2", "llamacpp_threads: Input should be greater than or equal to 0"),
    ],
)
def test_values_out_of_range_are_refused(tmp_path: Path, line: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(line + "\n", encoding="utf-8")
    result = _show(config)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"Error: Invalid settings: {message}"), result.stderr
    assert str(config) in result.stderr


def test_unknown_keys_are_named_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("topk = 10\ncolour = 'blue'\n", encoding="utf-8")
    result = _show(config)
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"Error: Unknown settings in {config}: 'topk' (did you mean 'top_k'?), 'colour'",
        "Hint: `assistant config show` lists the valid keys.",
    ]


def test_a_missing_named_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "settings.toml"
    result = _show(missing)
    assert result.exit_code == 3
    assert result.stderr.splitlines()[0] == (
        f"Error: The config file {missing} (named by ASSISTANT_CONFIG) does not exist."
    )


def test_a_missing_default_config_file_is_fine(isolated_home: Path) -> None:
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output


def test_a_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b"\xef\xbb\xbftop_k = 7\n")
    result = _show(config)
    assert result.exit_code == 0, result.output
    line = next(row for row in result.stdout.splitlines() if row.split()[0] == "top_k")
    assert line.split()[1] == "7" and f"(config {config})" in line


def test_numbers_from_the_environment_still_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_TOP_K", "8")
    monkeypatch.setenv("ASSISTANT_MIN_SUPPORT", "0.3")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    rows = {row.split()[0]: row.split()[1] for row in result.stdout.splitlines()[1:]}
    assert rows["top_k"] == "8" and rows["min_support"] == "0.3"
