"""Where the bundled prompts and abstracts are: in the wheel, or in a source checkout."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _bundled(name: str) -> Path:
    # An installed wheel carries them inside the package (see pyproject's
    # force-include); an editable install or a checkout has them at the top.
    inside = Path(str(files("assistant").joinpath("_bundled", name)))
    if inside.is_dir():
        return inside
    return _CHECKOUT / name


def prompts_dir() -> Path:
    return _bundled("prompts")


def data_dir() -> Path:
    return _bundled("data")
