"""LLM labelling stage settings (owned by the label stage)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class LabelConfig(BaseModel):
    backend: Literal["vllm", "openai", "import"] = "import"
    path: str | None = None  # import backend: labels file
    base_url: str | None = None  # openai backend
    model: str | None = None
