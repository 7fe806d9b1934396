"""Ingest stage settings (owned by the ingest stage)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IngestConfig(BaseModel):
    # Parsing parallelism is decoupled from the number of input files: members read from a
    # tarball are redistributed over this many partitions before parsing.
    parse_partitions: int = Field(0, ge=0, description="0 = 4 × default parallelism")
    max_member_bytes: int = Field(64 * 1024 * 1024, description="larger members are quarantined")
    overwrite: bool = False
