"""One progress line for a labelling run: done/total, rate, valid share, retries and ETA.

On a terminal it is a tqdm bar with log records routed through ``tqdm.write`` (logging_redirect_tqdm),
so a log line never splits the bar. Elsewhere (a batch job, a file) it is a plain log line every
``interval_s`` seconds and one at the end.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from pipeline.labeling.core import Stats

log = logging.getLogger(__name__)


class LabelProgress:
    def __init__(self, total: int, stats: Stats, desc: str, enabled: bool = True, interval_s: float = 30.0,
                 tty: bool | None = None):
        self.total, self.stats, self.desc = total, stats, desc
        self.enabled = enabled and total > 0
        self.interval_s = interval_s
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.done = self.valid = 0
        self._bar: tqdm | None = None
        self._redirect = contextlib.ExitStack()
        self._started = self._last = time.monotonic()
        self._last_postfix = 0.0

    def __enter__(self) -> "LabelProgress":
        self._started = self._last = time.monotonic()
        if self.enabled and self.tty:
            self._redirect.enter_context(logging_redirect_tqdm())
            self._bar = tqdm(total=self.total, unit="para", desc=self.desc, mininterval=0.5, smoothing=0.1,
                             dynamic_ncols=True)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.close()
            self._bar = None
        elif self.enabled:
            log.info("%s", self.line())
        self._redirect.close()

    def update(self, ok: bool) -> None:
        self.done += 1
        self.valid += bool(ok)
        if not self.enabled:
            return
        now = time.monotonic()
        if self._bar is not None:
            if now - self._last_postfix >= 0.5:  # the postfix costs a format; the bar itself throttles
                self._bar.set_postfix_str(self.postfix(), refresh=False)
                self._last_postfix = now
            self._bar.update(1)
        elif now - self._last >= self.interval_s:
            self._last = now
            log.info("%s", self.line())

    def postfix(self) -> str:
        valid = 100.0 * self.valid / self.done if self.done else 100.0
        return f"valid {valid:.1f}%, retries {self.stats.retries + self.stats.validation_retries}"

    def line(self) -> str:
        """``label[openai] 1200/3000 (40.0%) 351.2 para/s, valid 99.1%, retries 12, ETA 0:00:05``."""
        elapsed = max(1e-9, time.monotonic() - self._started)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = tqdm.format_interval(left / rate) if rate > 0 else "?"
        share = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.desc} {self.done}/{self.total} ({share:.1f}%) {rate:.1f} para/s, {self.postfix()}, ETA {eta}"
