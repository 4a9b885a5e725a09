"""Local, private question answering over research-paper abstracts, with cited sources."""

__version__ = "0.1.0"
