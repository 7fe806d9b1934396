"""Field helpers shared by the config sections."""

from __future__ import annotations

from typing import Any

from pydantic import Field

EXECUTION = "execution"


def knob(default: Any = ..., **kwargs: Any) -> Any:
    """A setting that changes how a stage runs, never what it writes (partitions, batch sizes,
    devices, concurrency, URLs): left out of the stage's fingerprint, so changing it redoes nothing."""
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra[EXECUTION] = True
    return Field(default, json_schema_extra=extra, **kwargs)
