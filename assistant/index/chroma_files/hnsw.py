"""hnswlib's persisted files (format 1) as chromadb 1.x writes them: the header,
the link lists and the vectors, checked without loading them into hnswlib."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

# version, offsetLevel0, max_elements, cur_element_count, size_data_per_element,
# label_offset, offsetData, maxlevel, enterpoint_node, maxM, maxM0, M, mult,
# ef_construction: hnswlib's persisted header, little-endian, packed.
_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")
_KNOWN_VERSION = 1
# Deeper than this no real index goes (the level of an element is ~ ln(n)/ln(M)).
_MAX_LEVEL = 64


@dataclass(frozen=True)
class Header:
    max_elements: int
    count: int
    size_per_element: int
    label_offset: int
    data_offset: int
    max_level: int
    entry_point: int
    max_links: int
    max_links0: int

    @property
    def dimension(self) -> int:
        return (self.label_offset - self.data_offset) // 4

    @property
    def upper_list_bytes(self) -> int:
        """Bytes of one upper-layer link list: a count and `max_links` ids."""
        return 4 + 4 * self.max_links


def read_header(path: Path) -> Header | str | None:
    """The parsed header, a problem description, or None for an unknown format."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return f"{path.name} is missing"
    if len(raw) != _HEADER.size:
        return f"{path.name} is {len(raw)} bytes long, not {_HEADER.size}"
    (version, level0, max_el, count, per_el, label_off, data_off, max_level, entry, max_m, max_m0,
     m, mult, ef_construction) = _HEADER.unpack(raw)  # fmt: skip
    if version != _KNOWN_VERSION:
        return None  # hnswlib itself refuses a version it does not know
    wrong = (
        level0 != 0
        or count > max_el
        or m < 2
        or max_m != m
        or max_m0 != 2 * m
        or data_off != 4 + 4 * max_m0
        or label_off <= data_off
        or (label_off - data_off) % 4
        or per_el != label_off + 8
        or not math.isclose(mult, 1 / math.log(m), rel_tol=1e-9)
        or ef_construction < m
        or (count == 0 and max_level != -1)
        or (count > 0 and not (0 <= max_level < _MAX_LEVEL and entry < count))
    )
    if wrong:
        return f"{path.name} holds impossible values"
    return Header(max_el, count, per_el, label_off, data_off, max_level, entry, max_m, max_m0)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _link_list_problem(path: Path, header: Header, deep: bool) -> str | None:
    """Walk the upper-layer link lists: one size word per element, then its lists."""
    import numpy as np

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return f"{path.name} is missing"
    if len(raw) % 4:
        return f"{path.name} is cut short"
    words = np.frombuffer(raw, dtype="<u4")
    # Most elements live on level 0 only, a zero size word each: jump between the
    # non-zero words instead of stepping through every element.
    nonzero = np.flatnonzero(words)
    position = element = 0
    top = 0
    entry_level = 0
    per_level = header.upper_list_bytes
    while element < header.count:
        i = int(np.searchsorted(nonzero, position))
        next_list = int(nonzero[i]) if i < len(nonzero) else len(words)
        zeros = next_list - position
        if element + zeros >= header.count:
            position += header.count - element
            element = header.count
            break
        element += zeros
        if next_list == len(words):
            return f"{path.name} is cut short"
        size = int(words[next_list])
        if size % per_level or size // per_level > header.max_level:
            return f"{path.name} is garbled (element {element})"
        level = size // per_level
        if element == header.entry_point:
            entry_level = level
        top = max(top, level)
        position = next_list + 1 + size // 4
        if position > len(words):
            return f"{path.name} is cut short"
        if deep:
            lists = words[next_list + 1 : position].reshape(level, per_level // 4)
            counts = lists[:, 0] & 0xFFFF
            if (counts > header.max_links).any():
                return f"{path.name} is garbled (element {element})"
            for row, n in zip(lists, counts, strict=True):
                if (row[1 : 1 + n] >= header.count).any():
                    return f"{path.name} links to elements that do not exist"
        element += 1
    if position > len(words):
        return f"{path.name} is cut short"
    if header.count and (top != header.max_level or entry_level != header.max_level):
        return f"{path.name} does not match header.bin (levels)"
    return None


def _level0_problem(path: Path, header: Header, deep: bool) -> str | None:
    """Every element's level-0 links; with `deep`, also its vector and label.

    A link to an element that does not exist makes hnswlib read past its
    memory (a crash, or garbage results), so this part runs before every load:
    about 0.3 microseconds per vector.
    """
    import numpy as np

    raw = np.fromfile(path, dtype=np.uint8, count=header.count * header.size_per_element)
    rows = raw.reshape(header.count, header.size_per_element)
    counts = rows[:, 0:2].copy().view("<u2")[:, 0]
    if (counts > header.max_links0).any():
        return f"{path.name} is garbled (link counts)"
    links = rows[:, 4 : header.data_offset].copy().view("<u4")
    used = np.arange(header.max_links0)[None, :] < counts[:, None]
    if (links[used] >= header.count).any():
        return f"{path.name} links to elements that do not exist"
    if not deep:
        return None
    labels = rows[:, header.label_offset : header.label_offset + 8].copy().view("<u8")[:, 0]
    if len(np.unique(labels)) != header.count:
        return f"{path.name} has repeated labels"
    vectors = rows[:, header.data_offset : header.label_offset].copy().view("<f4")
    with np.errstate(all="ignore"):
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    # Cosine collections store unit vectors; garbage bytes almost never are.
    if not np.all(np.abs(norms - 1.0) < 1e-3):
        return f"{path.name} holds damaged vectors"
    return None


def _deep_extras_problem(folder: Path, header: Header) -> str | None:
    """The files a search can do without, but a whole index has (deep check only)."""
    import pickletools

    import numpy as np

    lengths = np.fromfile(folder / "length.bin", dtype="<f4", count=header.count)
    # The vectors' norms before normalising: finite and positive.
    if not np.all(np.isfinite(lengths) & (lengths > 0)):
        return "length.bin holds impossible values"
    if header.count:
        try:
            # Walks the opcodes without building (or running) anything.
            for _ in pickletools.genops((folder / "index_metadata.pickle").read_bytes()):
                pass
        except Exception:  # pickletools raises ValueError and others on garbage
            return "index_metadata.pickle is garbled"
    return None


def hnsw_problem(folder: Path, *, deep: bool = False) -> str | None:
    """What is wrong with a persisted HNSW segment folder, or None."""
    header = read_header(folder / "header.bin")
    if header is None:
        # hnswlib refuses it itself; only `doctor` calls that damage.
        return "header.bin has an unknown format version" if deep else None
    if isinstance(header, str):
        return header
    data = _size(folder / "data_level0.bin")
    if data is None:
        return "data_level0.bin is missing"
    if data < header.count * header.size_per_element:
        return "data_level0.bin is cut short"
    lengths = _size(folder / "length.bin")
    if lengths is None or lengths < header.count * 4:
        return "length.bin is missing or cut short"
    problem = _link_list_problem(folder / "link_lists.bin", header, deep)
    if problem:
        return problem
    if header.count:
        # Chroma's id <-> label map; a pickle always ends with its STOP opcode.
        mapping = folder / "index_metadata.pickle"
        try:
            with mapping.open("rb") as f:
                f.seek(-1, 2)
                if f.read(1) != b".":
                    return f"{mapping.name} is cut short"
        except FileNotFoundError:
            return f"{mapping.name} is missing"
        except OSError:
            return f"{mapping.name} is empty"
    problem = _level0_problem(folder / "data_level0.bin", header, deep)
    if problem or not deep:
        return problem
    return _deep_extras_problem(folder, header)
