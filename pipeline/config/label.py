"""LLM labelling stage settings (owned by the label stage)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class LabelConfig(BaseModel):
    backend: Literal["vllm", "openai", "import"] = "import"
    path: str | None = None  # import backend: labels file (JSONL or Parquet)
    base_url: str | None = None  # openai backend, e.g. http://127.0.0.1:8000/v1
    model: str | None = None  # model id sent to the server / model path for vllm; the labeller column
    input: str | None = None  # table or file of paragraphs to label; default RUN_DIR/sample
    limit: int | None = None  # label only the first N input rows (smoke runs)

    # Generation
    constraint: Literal["json_schema", "regex", "none"] = "json_schema"
    temperature: float = 0.0
    max_tokens: int = 128
    max_words: int = 400  # paragraphs are cut at this many words in the prompt (as the reference labeller)

    # Validation: a response that is not a valid label is re-asked up to this many times, then
    # recorded as invalid with its raw text and reason (never coerced).
    max_invalid_retries: int = 2

    # openai backend
    api_key_env: str = "OPENAI_API_KEY"  # read from the environment; never logged or written
    concurrency: int = 64
    timeout_s: float = 120.0
    max_retries: int = 5  # on 429 / 5xx / timeouts / connection errors
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    # Stop sending after this many paragraphs in a row failed at the transport level (server gone):
    # the rest stay pending for the next run instead of burning retries.
    abort_after_failures: int = 32

    # vllm offline backend
    batch_size: int = 2048  # conversations per llm.chat call (a cache chunk is written after each)
    tensor_parallel_size: int = 1
    max_model_len: int | None = 4096
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True
    tokenizer_mode: str | None = None  # e.g. "mistral"
    config_format: str | None = None  # e.g. "mistral"
    load_format: str | None = None  # e.g. "dummy" (random weights: plumbing and speed only)
    dtype: str | None = None
    engine_options: dict[str, Any] = Field(default_factory=dict)  # any other vllm.LLM(...) keyword

    # Cache: results are appended as Parquet chunks (atomic) every chunk_size results or
    # flush_interval_s seconds, whichever first; a rerun skips what is cached.
    chunk_size: int = 256
    flush_interval_s: float = 10.0
    cache_dir: str | None = None  # default RUN_DIR/label_cache
