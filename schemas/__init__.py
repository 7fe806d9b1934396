"""Explicit Arrow schemas for every table, and their Spark equivalents.

Each stage's tables live in their own module; ``to_spark`` converts an Arrow schema so the Spark
jobs and the pure-Python/Arrow code share exactly one definition.
"""

from __future__ import annotations

import pyarrow as pa


def to_spark(schema: pa.Schema):
    """Arrow schema → Spark StructType (same names, types, nullability)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)
