"""Pretraining variants: recipes (filter → upsample → format), rows, shards, token counts.

Pure Python; the Spark wrapper is ``jobs/emit.py``.
"""

from pipeline.emit.recipe import Recipe, RecipeError, load_recipe, parse_recipe
from pipeline.emit.rows import build_rows, split_name

__all__ = ["Recipe", "RecipeError", "load_recipe", "parse_recipe", "build_rows", "split_name"]
