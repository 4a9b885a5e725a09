"""The Python API: what the command line does, for a notebook or a script.

    from assistant import Assistant

    assistant = Assistant(home="papers-home")  # any setting, as a keyword
    assistant.ingest()                         # the bundled abstracts
    hits = assistant.search("wavelet token mixing", k=3)
    print(assistant.ask("Which papers replace batch normalization?", backend="none").text)
    print(assistant.paper(hits[0].paper_id).year, assistant.contents().papers)

The CLI and the MCP server (`assistant mcp`) are clients of this class: each
command or tool parses its arguments, makes one of these calls and renders the
result. Errors are `assistant.errors.AssistantError` subclasses carrying a
message, a hint and the CLI's exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import CorpusError, UsageError
from assistant.pipeline import Pipeline
from assistant.settings import Settings, load_settings

if TYPE_CHECKING:
    from assistant.answering.chat import ChatSession
    from assistant.backends import Backend
    from assistant.domain import Answer, IndexContents, Paper, PaperHit
    from assistant.evaluation.claims import ClaimsReport
    from assistant.evaluation.evaluate import BeirReport, QuestionReport
    from assistant.index.ingest import IngestResult
    from assistant.retrieval.filters import Filters


class Assistant:
    """Ingest abstracts, search them, and ask questions answered with citations."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        """Settings as `assistant config show` lists them; keywords override them
        (flag > environment > config file > default, as on the command line)."""
        self.settings = settings or load_settings(**overrides)
        self.pipeline = Pipeline(self.settings)

    def ingest(
        self,
        *paths: str | Path,
        rebuild: bool = False,
        progress: bool = False,
        limit: int | None = None,
        categories: Sequence[str] = (),
        zotero: bool = False,
    ) -> IngestResult:
        """Add the abstracts in `paths` (files or folders; none: the bundled ones).

        `zotero`: `paths` are Zotero data directories or databases; none: the
        database in Zotero's data directory on this machine.
        """
        from assistant.resources import data_dir

        chosen = [Path(p) for p in paths]
        if zotero:
            from assistant.readers.zotero_datadir import zotero_databases

            chosen = zotero_databases(chosen)
        chosen = chosen or [data_dir()]
        return self.pipeline.ingest(
            chosen, rebuild=rebuild, progress=progress, limit=limit, categories=categories
        )

    def search(
        self, query: str, k: int | None = None, filters: Filters | None = None
    ) -> list[PaperHit]:
        """The papers closest to `query`, best first, with their scores."""
        from assistant.answering.chain import clean_question

        text = clean_question(query)
        return self.pipeline.retriever.retrieve(text, k or self.settings.top_k, filters)

    def paper(self, paper_id: str) -> Paper:
        """The stored record of one paper: all the metadata the index keeps, and its abstract.

        Raises:
            UsageError: no paper in the index has this id.
        """
        paper = self.pipeline.store.paper(paper_id.strip())
        if paper is None:
            raise UsageError(
                f"No paper with id {paper_id!r} in the index.",
                hint="Paper ids are the paper_id of search results: search for the paper first.",
            )
        return paper

    def contents(self) -> IndexContents:
        """What the index holds: its location, collection, and papers per source file,
        per Zotero collection (a paper counts in the collections above its own too,
        as `--collection` finds it there) and per Zotero tag."""
        from assistant.domain import IndexContents
        from assistant.retrieval.filters import SOURCE_FILES

        store = self.pipeline.store
        keys = [SOURCE_FILES, "collections", "tags"]
        papers, counts = store.tally(keys)
        most_first = [
            tuple(sorted(counts[key].items(), key=lambda item: (-item[1], item[0]))) for key in keys
        ]
        return IndexContents(
            self.pipeline.store_location, store.name, papers, store.chunk_count(), *most_first
        )

    def backend(self, name: str | None = None, model: str | None = None) -> Backend:
        """The LLM backend by name (auto, ollama, llamacpp, openai, none)."""
        return self.pipeline.backend(name, model)

    def ask(
        self,
        question: str,
        *,
        backend: str | Backend | None = None,
        model: str | None = None,
        filters: Filters | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        """One question, answered from the abstracts with cited sources.

        `on_text` receives the answer as it streams.
        """
        from assistant.answering.chain import clean_question

        clean_question(question)  # a bad question fails before a model loads
        if backend is None or isinstance(backend, str):
            backend = self.backend(backend, model)
        answerer = self.pipeline.answerer(backend, filters)
        return answerer.answer(question, on_text=on_text)

    def chat(
        self,
        *,
        backend: str | None = None,
        model: str | None = None,
        filters: Filters | None = None,
    ) -> ChatSession:
        """A conversation: `session.ask(question, on_text)` keeps follow-ups in context."""
        from assistant.answering.chat import ChatSession

        answerer = self.pipeline.answerer(self.backend(backend, model), filters)
        return ChatSession(answerer, self.settings.history_file)

    def clear_history(self) -> bool:
        """Delete the chat input history; whether there was one."""
        removed = self.settings.history_file.exists()
        self.settings.history_file.unlink(missing_ok=True)
        return removed

    def evaluate(
        self,
        path: str | Path,
        *,
        split: str = "test",
        ask: bool = False,
        backend: str | None = None,
        model: str | None = None,
        top_k: int | None = None,
        progress: bool = False,
    ) -> BeirReport | QuestionReport | ClaimsReport:
        """Retrieval on a BEIR folder, a question set about the bundled abstracts
        (recall, abstention; with `ask`, the answers' citations too), or the support
        checker on a claims file (records with `claim`, `abstract` and `label`)."""
        from assistant.evaluation.claims import evaluate_claims, is_claims_file
        from assistant.evaluation.evaluate import evaluate_beir, evaluate_questions
        from assistant.resources import data_dir

        path = Path(path)
        if path.is_dir():
            return evaluate_beir(self.settings, path, split, progress=progress)
        if not path.is_file():
            # Before the bundled abstracts are indexed (tens of seconds), not after.
            raise CorpusError(
                f"Cannot read {path}: no such file or folder.",
                hint="Pass a BEIR folder (corpus.jsonl, queries, qrels), a question-set .jsonl "
                "or a claims .jsonl.",
            )
        if is_claims_file(path):
            if ask:
                raise UsageError(
                    "--ask answers a question set; a claims file scores the support checker.",
                    hint="Drop --ask.",
                )
            return evaluate_claims(self.settings, path, progress=progress)
        # Question sets are about the bundled abstracts: their own collection,
        # so evaluating never adds papers to the user's index.
        update: dict[str, Any] = {"collection": "eval-bundled"}
        if top_k:
            update["top_k"] = top_k
        pipeline = Pipeline(self.settings.model_copy(update=update))
        pipeline.ingest([data_dir()], rebuild=False, progress=progress)
        chosen = pipeline.backend(backend, model) if ask else None
        return evaluate_questions(pipeline, path, k=top_k or 5, backend=chosen, progress=progress)
