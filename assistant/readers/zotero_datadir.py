"""Finding Zotero's database for `assistant ingest --zotero [PATH]`.

Zotero keeps zotero.sqlite in its data directory: `Zotero` in the home folder on
Linux, macOS and Windows (`%USERPROFILE%\\Zotero`), unless it was moved (Settings >
Advanced > Files and Folders). Then the profile's prefs.js says where, in the lines
`user_pref("extensions.zotero.dataDir", "<path>");` and
`user_pref("extensions.zotero.useDataDir", true);`. Profiles live in
~/.zotero/zotero (Linux), ~/Library/Application Support/Zotero/Profiles (macOS) and
%APPDATA%\\Zotero\\Zotero\\Profiles (Windows). The one module that reads prefs.js;
understood: the file as Zotero 5 to 10 write it, one `user_pref` line per setting.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from assistant.errors import CorpusError
from assistant.readers.zotero import DATABASE

_PREF = re.compile(
    r'^\s*user_pref\("extensions\.zotero\.(dataDir|useDataDir)",\s*(.*?)\);\s*$', re.MULTILINE
)
_WHERE = "Zotero shows its data directory under Settings > Advanced > Files and Folders"


def _profile_folders() -> list[Path]:
    home = Path.home()
    roots = [home / ".zotero" / "zotero", home / "Library/Application Support/Zotero/Profiles"]
    if appdata := os.environ.get("APPDATA"):
        roots.append(Path(appdata) / "Zotero" / "Zotero" / "Profiles")
    return [profile for root in roots for profile in sorted(root.glob("*/"))]


def _configured(profile: Path) -> Path | None:
    """The data directory a profile's prefs.js moved Zotero to, if any."""
    try:
        text = (profile / "prefs.js").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    values = {name: value.strip() for name, value in _PREF.findall(text)}
    if values.get("useDataDir") != "true" or "dataDir" not in values:
        return None
    try:
        # A JavaScript string literal: JSON's escapes (Windows paths double their \).
        folder = json.loads(values["dataDir"])
    except ValueError:
        return None
    return Path(folder) if isinstance(folder, str) and folder else None


def data_directories() -> list[Path]:
    """Where Zotero's data directory may be: those set in profiles, then the default."""
    moved = [folder for p in _profile_folders() if (folder := _configured(p))]
    return list(dict.fromkeys([*moved, Path.home() / "Zotero"]))


def find_database() -> Path:
    """The first of `data_directories` that holds a database.

    Raises:
        CorpusError: none does.
    """
    places = data_directories()
    for folder in places:
        if (folder / DATABASE).is_file():
            return folder / DATABASE
    raise CorpusError(
        f"No Zotero database found: looked for {DATABASE} in {', '.join(map(str, places))}.",
        hint=f"Name the data directory or the file: assistant ingest --zotero PATH ({_WHERE}).",
    )


def zotero_databases(paths: Sequence[Path]) -> list[Path]:
    """The databases that `paths` name (data directories, or database files); without
    paths, the one `find_database` finds.

    Raises:
        CorpusError: a folder without a database, or no database found.
    """
    if not paths:
        return [find_database()]
    found = []
    for path in paths:
        if path.is_dir():
            if not (path / DATABASE).is_file():
                raise CorpusError(
                    f"No {DATABASE} in {path}: it is not a Zotero data directory.",
                    hint=f"Name the data directory or the file ({_WHERE}).",
                )
            path = path / DATABASE
        found.append(path)
    return found
