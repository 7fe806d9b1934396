"""Dedup stage settings (owned by the dedup stage)."""

from __future__ import annotations

from pydantic import BaseModel


class DedupConfig(BaseModel):
    enabled: bool = True
