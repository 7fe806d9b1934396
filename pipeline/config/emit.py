"""Emit / catalog / report settings (owned by the emit stage)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EmitConfig(BaseModel):
    recipes: list[str] = Field(default_factory=lambda: ["BE-Base"])
