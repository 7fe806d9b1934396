"""Logging setup for the CLI (logging, not prints)."""

from __future__ import annotations

import logging
import os


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("PMC_ENRICH_LOG", "INFO").upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("py4j", "urllib3", "httpx", "httpcore", "matplotlib", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
