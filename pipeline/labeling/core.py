"""Types shared by the labelling backends and the runner."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol

from schemas.labels import ParagraphLabel


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def cache_key(model: str, prompt_version: str, text: str) -> str:
    """hash(model, prompt_version, text): one label per distinct text, model and prompt."""
    return hashlib.sha1("\x00".join([model, prompt_version, text]).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Item:
    key: str
    text: str
    messages: list[dict[str, str]]


@dataclass
class Outcome:
    key: str
    label: ParagraphLabel | None
    reason: str | None = None  # set when invalid
    raw: str | None = None  # raw response, kept only when invalid
    attempts: int = 1
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: float = field(default_factory=time.time)
    # Per-field probabilities from the model's log-probabilities (logprobs.field_probs), or None
    # when the backend returned none: document_type_probs, domain_probs, educational_score_probs,
    # educational_score_expected.
    probs: dict | None = None

    @property
    def ok(self) -> bool:
        return self.label is not None


@dataclass
class Stats:
    requests: int = 0  # requests sent (every attempt, HTTP or engine)
    successes: int = 0  # valid labels obtained
    retries: int = 0  # transport retries (429 / 5xx / timeouts / connection)
    validation_retries: int = 0  # re-asks after an invalid response
    invalid_attempts: Counter = field(default_factory=Counter)  # every invalid response, by reason
    invalid_final: Counter = field(default_factory=Counter)  # texts left invalid after all re-asks
    failures: Counter = field(default_factory=Counter)  # texts not labelled this run (left pending)
    http_status: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_reported: bool = False
    label_seconds: float = 0.0  # wall time of the labelling itself (engine start excluded)
    engine_start_s: float | None = None

    def add_usage(self, prompt: int | None, completion: int | None) -> None:
        if prompt is not None or completion is not None:
            self.tokens_reported = True
            self.prompt_tokens += int(prompt or 0)
            self.completion_tokens += int(completion or 0)


class Sink(Protocol):
    def __call__(self, outcome: Outcome) -> None: ...


class Backend(Protocol):
    name: str

    def run(self, items: list[Item], sink: Sink, stats: Stats) -> None:
        """Label ``items``; call ``sink`` once per item that gets a final outcome (valid, or
        invalid after the re-asks). Items that fail at the transport level get no outcome."""


def settle_response(item: Item, checked, attempt: int, max_invalid_retries: int, stats: Stats, sink: Sink,
                    raw: Callable[[], str | None], prompt_tokens: int | None = None,
                    completion_tokens: int | None = None,
                    probs: Callable[[], dict | None] | None = None) -> bool:
    """Book one validated response (``validate.check_response``'s result) the same way for every
    backend: a valid label goes to ``sink``; an invalid one is re-asked while attempts remain
    (returns True: the caller sends ``item`` again), else recorded with its raw text and reason.

    ``raw`` is called only for a final invalid outcome, so scrubbing it costs nothing on success;
    ``probs`` only for a valid one (its field probabilities, when the backend has logprobs).
    """
    if checked.ok:
        stats.successes += 1
        sink(Outcome(item.key, checked.label, attempts=attempt, prompt_tokens=prompt_tokens,
                     completion_tokens=completion_tokens, probs=probs() if probs else None))
        return False
    stats.invalid_attempts[checked.reason] += 1
    if attempt <= max_invalid_retries:
        stats.validation_retries += 1
        return True
    stats.invalid_final[checked.reason] += 1
    sink(Outcome(item.key, None, checked.reason, raw(), attempt, prompt_tokens, completion_tokens))
    return False
