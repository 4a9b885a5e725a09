"""Local, private question answering over research-paper abstracts, with cited sources."""

import os

# NumPy's matrices here are small (a question through six BERT layers, score
# fusion); starting OpenBLAS's thread pool costs more than it saves: 0.5 s of
# a cold search on two busy cores, against 7 ms on one thread. Heavy work runs
# in ONNX Runtime, torch or llama.cpp, which keep their own threads. Only a
# default: set OPENBLAS_NUM_THREADS to choose otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Assistant", "__version__"]

if TYPE_CHECKING:
    from assistant.api import Assistant


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `assistant --help` loads no settings machinery.
    if name == "Assistant":
        from assistant.api import Assistant

        return Assistant
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
