"""Logging setup for every entry point (logging, not prints).

One format on stderr, third-party chatter held at WARNING, and one switch, ``verbose``, that the
rest of the console follows: ``pipeline.spark`` leaves Spark's own log4j set-up (banners included)
in place when it is on.
"""

from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%H:%M:%S"
LEVEL_ENV = "PMC_ENRICH_LOG"  # INFO by default; DEBUG, WARNING, ...
NOISY = ("py4j", "urllib3", "httpx", "httpcore", "matplotlib", "fsspec", "filelock")

_verbose = False


def setup_logging(verbose: bool = False) -> None:
    """Configure the root logger once per process (a second call only changes the level)."""
    global _verbose
    _verbose = verbose
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get(LEVEL_ENV, "INFO").upper(), logging.INFO)
    logging.basicConfig(level=level, format=FORMAT, datefmt=DATE_FORMAT)
    logging.getLogger().setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)  # py4j logs every gateway call at DEBUG


def verbose_requested() -> bool:
    """Whether the user asked for everything (``--verbose``): Spark's banners and INFO lines too."""
    return _verbose
