"""Ingest stage settings (owned by the ingest stage)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IngestConfig(BaseModel):
    # Parsing parallelism is decoupled from the number of input files: members streamed out of a
    # package are redistributed over several partitions before parsing, so a handful of multi-GB
    # tarballs still keep every executor busy.
    parse_partitions: int = Field(0, ge=0, description="parse partitions per package; 0 = from its size "
                                  "(partition_mb), at least the Spark default parallelism")
    partition_mb: int = Field(16, ge=1, description="compressed package MB (≈ 4-5× as much XML) per parse partition")
    files_per_chunk: int = Field(5000, ge=1, description="loose files per staged unit of work (resumability grain)")
    concurrent_inputs: int = Field(4, ge=1, description="input units parsed by concurrent Spark jobs")
    max_member_bytes: int = Field(64 * 1024 * 1024, ge=1, description="larger members/files are quarantined unread")
    detect_language: bool = True
    rows_per_file: int = Field(500_000, ge=1, description="target rows per output Parquet file")
    overwrite: bool = False
