"""Sampling stage settings (owned by the label stage)."""

from __future__ import annotations

from pydantic import BaseModel


class SampleConfig(BaseModel):
    size: int | None = None
    fraction: float | None = None
    seed: int = 0
