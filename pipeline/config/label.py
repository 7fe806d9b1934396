"""LLM labelling stage settings (owned by the label stage)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from pipeline.config.base import knob


class LabelConfig(BaseModel):
    backend: Literal["vllm", "openai", "import"] = "import"
    path: str | None = None  # import backend: labels file (JSONL or Parquet)
    base_url: str | None = knob(None)  # openai backend, e.g. http://127.0.0.1:8000/v1
    model: str | None = None  # model id sent to the server / model path for vllm; the labeller column
    input: str | None = None  # table or file of paragraphs to label; default RUN_DIR/sample
    limit: int | None = None  # label only the first N input rows (smoke runs)

    # Generation
    constraint: Literal["json_schema", "regex", "none"] = knob("json_schema")
    temperature: float = knob(0.0)
    max_tokens: int = knob(128)
    max_words: int = 400  # paragraphs are cut at this many words in the prompt (as the reference labeller)

    # Log-probabilities: ask for the top-k alternatives of every generated token (OpenAI
    # ``logprobs``/``top_logprobs``, vLLM ``SamplingParams(logprobs=k)``) and keep per-field class
    # probabilities beside the hard labels. 5 covers every score value; 0 turns it off (servers
    # that reject logprobs, or to save the small cost).
    logprobs: int = Field(default=5, ge=0, le=20)

    # Validation: a response that is not a valid label is re-asked up to this many times, then
    # recorded as invalid with its raw text and reason (never coerced).
    max_invalid_retries: int = knob(2)

    # openai backend
    api_key_env: str = knob("OPENAI_API_KEY")  # read from the environment; never logged or written
    concurrency: int = knob(64)
    timeout_s: float = knob(120.0)
    max_retries: int = knob(5)  # on 429 / 5xx / timeouts / connection errors
    backoff_base_s: float = knob(0.5)
    backoff_max_s: float = knob(30.0)
    # Stop sending after this many paragraphs in a row failed at the transport level (server gone):
    # the rest stay pending for the next run instead of burning retries.
    abort_after_failures: int = knob(32)

    # vllm offline backend
    batch_size: int = knob(2048)  # conversations per llm.chat call (its answers are committed as they come)
    tensor_parallel_size: int = knob(1)
    max_model_len: int | None = 4096
    gpu_memory_utilization: float = knob(0.9)
    enable_prefix_caching: bool = knob(True)
    tokenizer_mode: str | None = None  # e.g. "mistral"
    config_format: str | None = None  # e.g. "mistral"
    load_format: str | None = None  # e.g. "dummy" (random weights: plumbing and speed only)
    dtype: str | None = None
    engine_options: dict[str, Any] = Field(default_factory=dict)  # any other vllm.LLM(...) keyword

    # Cache: every final answer is committed to RUN_DIR/label_cache/answers.sqlite (WAL) when it
    # arrives; a rerun skips what is stored. One label run per cache at a time.
    cache_dir: str | None = knob(None)  # default RUN_DIR/label_cache
    # Progress: a tqdm line on a terminal, else a log line every this many seconds.
    progress_interval_s: float = knob(30.0, gt=0)

    # Active-learning rounds (pipeline/rounds.py): at most ``budget`` labelled paragraphs in all,
    # ``rounds`` rounds of sample → label → train in all (round 0, stratified, included). Knobs:
    # they steer the loop; what one label run writes depends on its sample only.
    budget: int | None = knob(None, ge=1)
    rounds: int = knob(1, ge=1)
