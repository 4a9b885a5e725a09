"""The one settings object: flag > environment > config file > default."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from assistant.backends import BackendName
from assistant.backends.llamacpp import LlamaCppSettings
from assistant.backends.ollama import OllamaSettings
from assistant.backends.openai import OpenAISettings
from assistant.errors import ConfigError

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def default_home() -> Path:
    """Per-user data directory, following the XDG convention."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "assistant"


def config_path() -> Path:
    explicit = os.environ.get("ASSISTANT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("ASSISTANT_HOME")
    return (Path(home).expanduser() if home else default_home()) / "config.toml"


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the config file; a broken file is a ConfigError, not a traceback."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.path = config_path()
        self.values: dict[str, Any] = {}
        if not self.path.is_file():
            if os.environ.get("ASSISTANT_CONFIG"):
                # Named explicitly: a typo must not silently mean "no settings".
                raise ConfigError(
                    f"The config file {self.path} (named by ASSISTANT_CONFIG) does not exist.",
                    hint="Fix the path, or unset ASSISTANT_CONFIG to use "
                    "ASSISTANT_HOME/config.toml.",
                )
            return
        try:
            # utf-8-sig: editors on Windows start the file with a byte-order mark.
            self.values = tomllib.loads(self.path.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(
                f"Cannot read the config file {self.path}: {exc}",
                hint="Fix the file or remove it; `assistant config show` lists valid keys.",
            ) from exc
        unknown = [key for key in self.values if key not in settings_cls.model_fields]
        if unknown:
            raise ConfigError(
                f"Unknown setting{'s' if len(unknown) > 1 else ''} in {self.path}: "
                + ", ".join(_with_suggestion(key, settings_cls.model_fields) for key in unknown),
                hint="`assistant config show` lists the valid keys.",
            )

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k in self.settings_cls.model_fields}


def _with_suggestion(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key)


class _Core(BaseModel):
    """Where the data lives and which backend answers."""

    home: Path = Field(
        default_factory=default_home,
        description="Data directory: the Chroma store, the model cache and the chat history.",
    )
    collection: str = Field("abstracts", description="Name of the Chroma collection.")
    store_url: str = Field(
        "",
        description="URL of a shared Chroma server (e.g. http://127.0.0.1:8000, started with "
        "`chroma run`); empty means the embedded store under home. The BM25 index stays "
        "local under home either way.",
    )
    store_token_env: str = Field(
        "",
        description="Name of the environment variable holding the Chroma server's token, "
        "sent as Authorization: Bearer; empty sends none.",
    )
    backend: BackendName = Field(
        "auto",
        description="LLM backend: auto (Ollama if it has the model, else llamacpp), "
        "ollama, llamacpp, openai (an OpenAI-compatible server), "
        "or none (extractive answer, no LLM).",
    )


class _Tuning(BaseModel):
    """Timeouts, retrieval, chunking, embedding, abstention and generation."""

    connect_timeout_s: float = Field(
        3.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds to wait for the LLM server to accept a connection.",
    )
    timeout_s: float = Field(
        600.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds to wait for the next piece of a streamed answer "
        "(CPU generation is slow).",
    )
    top_k: int = Field(5, ge=1, le=50, description="Papers passed to the LLM and shown by search.")
    candidate_chunks: int = Field(
        50, ge=1, description="Chunks fetched from the store before grouping them by paper."
    )
    retrieval_mode: Literal["hybrid", "dense", "lexical"] = Field(
        "hybrid",
        description="hybrid fuses dense (MiniLM) and lexical (BM25) rankings; "
        "dense or lexical use one alone.",
    )
    dense_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Share of the dense ranking in the hybrid score.",
    )
    fusion_pool: int = Field(
        100, ge=10, description="Papers taken from each ranking before fusing them."
    )
    chunk_tokens: int = Field(
        256, ge=32, le=256, description="Largest chunk, in embedder tokens (MiniLM's limit is 256)."
    )
    chunk_overlap_sentences: int = Field(
        0,
        ge=0,
        le=3,
        description="Sentences repeated between neighbouring chunks (1 embedded 13% more "
        "tokens for no gain on SciFact).",
    )
    embed_batch_size: int = Field(
        4,
        ge=1,
        description="Texts per embedding batch at ingest (small batches keep the ONNX "
        "activations in cache: 4 ran about 1.1x faster than 32 here).",
    )
    embed_encoder: Literal["onnx-int8", "onnx-fp32", "torch"] = Field(
        "onnx-int8",
        description="How ingest runs MiniLM: ONNX Runtime int8 (about 1.8x faster than fp32, "
        "same SciFact nDCG@10) or fp32, or sentence-transformers on torch (fp32 and torch "
        "give the same vectors; each precision needs its own index).",
    )
    min_support: float = Field(
        0.49,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Retrieval support (closeness, key-word coverage, unknown names; see "
        "abstention.py) below which the assistant says the abstracts do not answer.",
    )
    # The support checker's thresholds (answering/support.py), calibrated on the
    # claims dev set (BENCHMARKS.md, "Citation checker"); each is a cosine or a share.
    check_answers: bool = Field(
        True,
        description="Check each sentence of an answer against the abstracts it cites, "
        "correcting, marking or dropping it (see unsupported); off shows the model's text "
        "as it came, with only its citations resolved.",
    )
    unsupported: Literal["auto", "mark", "drop"] = Field(
        "auto",
        description="A sentence of an answer that no abstract given to the model backs: "
        "mark it, or drop it; auto drops for llamacpp (the small bundled model) and marks "
        "for the other backends.",
    )
    support_min_similarity: float = Field(
        0.45,
        ge=0.0,
        le=1.0,
        description="Support check: MiniLM cosine (0-1) of a sentence to the closest "
        "sentence, or pair of neighbouring sentences, of the abstract it cites, below which "
        "the abstract does not back it.",
    )
    support_min_coverage: float = Field(
        0.30,
        ge=0.0,
        le=1.0,
        description="Support check: share (0-1) of the sentence's content words that the "
        "cited abstract must contain.",
    )
    support_min_score: float = Field(
        0.57,
        ge=0.0,
        le=1.0,
        description="Support check: (similarity + coverage) / 2 below which a sentence is "
        "unsupported; the main threshold.",
    )
    support_min_clause: float = Field(
        0.43,
        ge=0.0,
        le=1.0,
        description="Support check: the same score for each statement of a sentence that "
        'joins several ("..., and also ..."), so a half-backed sentence is caught.',
    )
    support_min_coverage_dropping: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="Support check where unsupported sentences are dropped (llamacpp by "
        "default): the share of a sentence's content words its abstract must contain. "
        "A small model pads what an abstract says with words of its own.",
    )
    max_answer_tokens: int = Field(400, ge=16, description="Longest answer the LLM may write.")
    temperature: float = Field(
        0.1, ge=0.0, le=2.0, allow_inf_nan=False, description="LLM sampling temperature."
    )


# Each backend declares its own settings in its module (a pydantic mixin); they
# join the one settings object here, as flat fields. Pydantic lists fields from
# the last base to the first: core, then each backend's, then the tuning knobs,
# which is the order `config show` prints them in.
class Settings(BaseSettings, _Tuning, LlamaCppSettings, OpenAISettings, OllamaSettings, _Core):
    """Everything the pipeline needs; built once and passed explicitly."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore", frozen=True)

    @field_validator("home", mode="before")
    @classmethod
    def _home(cls, value: object) -> object:
        # As the config file's location does: `~` is the user's home (a shell does
        # not expand it inside quotes), and an empty ASSISTANT_HOME means unset,
        # not the current directory.
        if value is None or (isinstance(value, str) and not value.strip()):
            return default_home()
        if isinstance(value, str | Path):
            home = Path(value).expanduser()
            if home.exists() and not home.is_dir():
                raise ValueError(f"{home} is a file; it must be a folder (made if missing)")
            return home
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: object, info: ValidationInfo) -> object:
        # pydantic would read `top_k = true` as 1; a number was meant.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and field.annotation in (int, float):
            raise ValueError("must be a number, not true or false")
        return value

    @field_validator("store_url")
    @classmethod
    def _store_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, e.g. http://127.0.0.1:8000")
        return value

    @field_validator("store_token_env")
    @classmethod
    def _token_env(cls, value: str) -> str:
        if value and not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must be the name of an environment variable (letters, digits, _), "
                "not the token itself"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def history_file(self) -> Path:
        return self.home / "chat_history"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; `overrides` are command-line flags (None means not given)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(
            f"Invalid settings: {problems}",
            hint=f"Check flags, ASSISTANT_* variables and {config_path()}.",
        ) from exc


def describe_sources(settings: Settings, flags: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, value, where it came from) for every setting, for `config show`."""
    toml = _TomlSource(Settings).values
    rows: list[tuple[str, str, str]] = []
    for name in Settings.model_fields:
        env_names = [f"ASSISTANT_{name.upper()}"]
        if name == "ollama_host":
            env_names.append("OLLAMA_HOST")
        # pydantic-settings matches variable names without regard to case.
        present = {k.upper(): k for k in os.environ}
        env_hit = next((present[n] for n in env_names if n in present), None)
        if flags.get(name) is not None:
            origin = "flag"
        elif env_hit:
            origin = f"env {env_hit}"
        elif name in toml:
            origin = f"config {config_path()}"
        else:
            origin = "default"
        rows.append((name, str(getattr(settings, name)), origin))
    return rows
