"""Progress for every stage: a tqdm bar on a terminal, plain periodic log lines anywhere else.

    with progress(total=len(units), unit="unit", desc="ingest") as p:
        for unit in units:
            ...
            p.update(1)
            p.set_postfix(loss=0.42)  # shown in the bar, appended to the log line

On a terminal the bar is drawn on stderr and log lines are routed through it (they print above
the bar instead of through it). Anywhere else (a file, a pipe, CI) no ``\\r`` frame is written:
one log line when the work starts, at most one every ``interval`` seconds while it runs, and one
when it ends. ``PMC_ENRICH_PROGRESS=bar|log|off`` overrides the choice and
``PMC_ENRICH_PROGRESS_INTERVAL`` the seconds between lines.

Spark jobs report through the same API: ``with spark_progress(spark, "dedup"):`` polls the
driver's StatusTracker from a thread and shows tasks done/total of the active stages.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import IO, Any

log = logging.getLogger("pipeline.progress")

MODE_ENV = "PMC_ENRICH_PROGRESS"
INTERVAL_ENV = "PMC_ENRICH_PROGRESS_INTERVAL"
MODES = ("bar", "log", "off")
DEFAULT_INTERVAL_S = 30.0

_depth = threading.local()  # nesting of bars in this thread: only the outermost redirects logging


def progress_mode(stream: IO | None = None) -> str:
    """``bar`` when ``stream`` (stderr by default) is a terminal, else ``log``; the environment
    variable ``PMC_ENRICH_PROGRESS`` wins."""
    forced = os.environ.get(MODE_ENV, "").strip().lower()
    if forced in MODES:
        return forced
    stream = stream if stream is not None else sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        tty = False
    return "bar" if tty and os.environ.get("TERM") != "dumb" else "log"


def default_interval() -> float:
    try:
        return max(0.0, float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _number(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


class Progress:
    """What a stage sees: ``update(n)``, ``set(n, total)``, ``set_postfix(**values)``.

    This base class draws nothing (``PMC_ENRICH_PROGRESS=off``); the subclasses draw a bar or log.
    """

    def __init__(self, total: float | None, unit: str, desc: str, clock: Callable[[], float] = time.monotonic):
        self.total, self.unit, self.desc = total, unit, desc
        self.n: float = 0
        self.postfix: dict[str, Any] = {}
        self._clock = clock
        self.started = clock()

    def update(self, n: float = 1) -> None:
        self.n += n
        self._changed()

    def set(self, n: float, total: float | None = None, **postfix: Any) -> None:
        """Absolute position (and optionally a new total and postfix), for sources that report a
        count rather than increments."""
        self.n = n
        if total is not None:
            self.total = total
        if postfix:
            self.postfix = {k: v for k, v in postfix.items() if v is not None}
        self._changed()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = {k: v for k, v in values.items() if v is not None}
        self._changed()

    def elapsed(self) -> float:
        return self._clock() - self.started

    def _changed(self) -> None:
        pass

    def close(self) -> None:
        pass


class LogProgress(Progress):
    """Plain log lines, rate-limited to one every ``interval`` seconds (plus start and end)."""

    def __init__(self, total: float | None, unit: str, desc: str, interval: float,
                 logger: logging.Logger = log, clock: Callable[[], float] = time.monotonic):
        super().__init__(total, unit, desc, clock)
        self.interval, self.logger = interval, logger
        self._last = self.started
        size = f" ({_number(total)} {unit})" if total else ""
        self.logger.info("%s: started%s", desc, size)

    def line(self, eta: bool = True) -> str:
        """``desc: n/total unit (pct%), rate unit/s, ETA m:ss, k=v`` (what a log line says)."""
        elapsed = self.elapsed()
        parts = [f"{_number(self.n)}/{_number(self.total)} {self.unit} ({100 * self.n / self.total:.0f}%)"
                 if self.total else f"{_number(self.n)} {self.unit}"]
        if elapsed > 0 and self.n:
            rate = self.n / elapsed
            parts.append(f"{rate:,.1f} {self.unit}/s" if rate >= 1 else f"{1 / rate:,.1f} s/{self.unit}")
            if eta and self.total and self.n < self.total:
                parts.append(f"ETA {_duration((self.total - self.n) / rate)}")
        parts.extend(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.postfix.items())
        return f"{self.desc}: " + ", ".join(parts)

    def _changed(self) -> None:
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            self.logger.info("%s", self.line())

    def close(self) -> None:
        self.logger.info("%s in %s", self.line(eta=False), _duration(self.elapsed()))


class BarProgress(Progress):
    """A tqdm bar on a terminal."""

    def __init__(self, total: float | None, unit: str, desc: str, stream: IO, leave: bool,
                 clock: Callable[[], float] = time.monotonic):
        from tqdm import tqdm

        super().__init__(total, unit, desc, clock)
        self.bar = tqdm(total=total, unit=unit, desc=desc, file=stream, leave=leave, dynamic_ncols=True,
                        mininterval=0.25)

    def update(self, n: float = 1) -> None:
        self.n += n
        self.bar.update(n)

    def set(self, n: float, total: float | None = None, **postfix: Any) -> None:
        if postfix:
            super().set_postfix(**postfix)
            self.bar.set_postfix(self.postfix, refresh=False)
        self.n = n
        if total is not None and total != self.bar.total:
            self.total = self.bar.total = total
        self.bar.n = n
        self.bar.refresh()

    def set_postfix(self, **values: Any) -> None:
        super().set_postfix(**values)
        self.bar.set_postfix(self.postfix, refresh=False)

    def close(self) -> None:
        self.bar.close()


@contextmanager
def progress(total: float | None = None, unit: str = "it", desc: str = "", *, interval: float | None = None,
             stream: IO | None = None, mode: str | None = None, logger: logging.Logger | None = None,
             clock: Callable[[], float] = time.monotonic) -> Iterator[Progress]:
    """Report progress of ``total`` ``unit``\\ s of work named ``desc`` (see the module doc)."""
    stream = stream if stream is not None else sys.stderr
    mode = mode or progress_mode(stream)
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r}: expected one of {', '.join(MODES)}")
    depth = getattr(_depth, "n", 0)
    with ExitStack() as stack:
        if mode == "bar":
            if depth == 0:
                from tqdm.contrib.logging import logging_redirect_tqdm

                stack.enter_context(logging_redirect_tqdm())
            p: Progress = BarProgress(total, unit, desc, stream, leave=depth == 0, clock=clock)
        elif mode == "log":
            p = LogProgress(total, unit, desc, default_interval() if interval is None else interval,
                            logger or log, clock)
        else:
            p = Progress(total, unit, desc, clock)
        _depth.n = depth + 1
        try:
            yield p
        finally:
            _depth.n = depth
            p.close()


# ------------------------------------------------------------------------------------ Spark jobs

@dataclass(frozen=True)
class StageSnapshot:
    """The active Spark stages at one moment: their ids and their tasks."""

    stage_ids: tuple[int, ...]
    done: int
    total: int
    running: int


def snapshot(tracker) -> StageSnapshot:
    """Tasks done/total/running over the active stages of a ``StatusTracker``."""
    ids, done, total, running = [], 0, 0, 0
    for stage_id in sorted(tracker.getActiveStageIds()):
        info = tracker.getStageInfo(stage_id)
        if info is None:  # finished between the two calls
            continue
        ids.append(stage_id)
        done += info.numCompletedTasks
        total += info.numTasks
        running += info.numActiveTasks
    return StageSnapshot(tuple(ids), done, total, running)


@contextmanager
def spark_progress(spark, desc: str = "spark", *, poll_s: float = 0.5, interval: float | None = None,
                   stream: IO | None = None, mode: str | None = None,
                   logger: logging.Logger | None = None) -> Iterator[Progress]:
    """Show the tasks of whatever Spark runs inside the block, polled every ``poll_s`` seconds
    from a daemon thread: tasks done/total of the active stages (the count restarts with each
    new set of stages), the stage ids and running tasks as postfix."""
    sc = getattr(spark, "sparkContext", spark)
    tracker = sc.statusTracker()
    stop = threading.Event()
    with progress(None, "tasks", desc, interval=interval, stream=stream, mode=mode, logger=logger) as p:
        def poll() -> None:
            shown: tuple = ()
            while not stop.wait(poll_s):
                try:
                    now = snapshot(tracker)
                except Exception:  # the context is stopping under us: nothing more to show
                    return
                if now.stage_ids and (now.stage_ids, now.done) != shown:
                    shown = (now.stage_ids, now.done)
                    p.set(now.done, now.total, stages=",".join(map(str, now.stage_ids)), running=now.running)

        before = _job_ids(tracker)
        thread = threading.Thread(target=poll, name=f"spark-progress-{desc}", daemon=True)
        thread.start()
        try:
            yield p
        finally:
            stop.set()
            thread.join(timeout=5)
            # The closing line sums what the block ran, not the last poll's stages (which read as
            # "0/1 tasks" when the last job was a tiny one).
            jobs, tasks = finished_work(tracker, _job_ids(tracker) - before)
            p.set(tasks, tasks, jobs=jobs)


def _job_ids(tracker) -> set[int]:
    try:
        return set(tracker.getJobIdsForGroup(None))
    except Exception:  # the context is stopping: nothing to count
        return set()


def finished_work(tracker, job_ids: set[int]) -> tuple[int, int]:
    """(jobs, completed tasks) of ``job_ids``, as far as the tracker still remembers them (it keeps
    the last ``spark.ui.retainedJobs`` jobs and ``spark.ui.retainedStages`` stages)."""
    def info(lookup, key):
        try:
            return lookup(key)
        except Exception:  # the context is stopping: what it forgot counts as nothing
            return None

    stages = {s for j in job_ids if (job := info(tracker.getJobInfo, j)) is not None for s in job.stageIds}
    tasks = sum(stage.numCompletedTasks for s in stages if (stage := info(tracker.getStageInfo, s)) is not None)
    return len(job_ids), tasks
