"""Distillation (train / annotate) settings (owned by the distill stage)."""

from __future__ import annotations

from pydantic import BaseModel


class TrainConfig(BaseModel):
    labels: str | None = None
    seed: int = 0


class AnnotateConfig(BaseModel):
    model: str | None = None  # default: RUN_DIR/model
