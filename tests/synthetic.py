"""Made-up papers, for tests that need abstracts the bundled index does not hold."""

from __future__ import annotations

import json
from pathlib import Path

_SUBJECTS = [
    "coral reef acoustics",
    "glacier calving fronts",
    "urban bee foraging",
    "peat bog methane",
    "kelp forest canopies",
    "desert lichen crusts",
    "alpine snow algae",
    "river delta sediment",
]
_PLACES = ["Patagonia", "Svalbard", "Borneo", "Tasmania", "Iceland", "Namibia", "Yukon"]


def write_papers(path: Path, count: int, *, start: int = 0, tag: str = "SYN") -> list[str]:
    """Write `count` BEIR-style JSON Lines records to `path`; returns their titles."""
    titles = []
    with path.open("w", encoding="utf-8") as f:
        for i in range(start, start + count):
            subject = _SUBJECTS[i % len(_SUBJECTS)]
            place = _PLACES[(i // len(_SUBJECTS)) % len(_PLACES)]
            title = f"{tag}-{i:03d}: {subject} in {place}"
            text = (
                f"We survey {subject} at {3 + i % 7} sites in {place} over {2 + i % 5} seasons. "
                f"The measured rate changes by {i % 13 + 1} percent when the water warms. "
                f"The field records, released as {tag}-{i:03d}, cover {40 + i} transects."
            )
            f.write(json.dumps({"_id": f"{tag.lower()}{i}", "title": title, "text": text}) + "\n")
            titles.append(title)
    return titles
