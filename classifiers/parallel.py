"""Independent CPU fits (cross-validation folds, final fits) side by side in forked processes.

Each task is a zero-argument callable; each runs in its own forked child, which inherits the
parent's memory (labels, the trainer, closures: nothing needs to be picklable but the result) and
sends its result back through a pipe. At most ``jobs`` children run at once; results come back in
task order, so a parallel run returns exactly what a serial one does (each fit is deterministic
on its own rows). Fork, not spawn: spawn re-imports the caller's main script, which breaks
scripts without a ``__main__`` guard; the children never touch Spark or a GPU (only the CPU
students are run this way, see ``jobs/train.py``).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

from pipeline.errors import UserError

log = logging.getLogger(__name__)

Task = Callable[[], Any]


def default_jobs(requested: int, n_tasks: int) -> int:
    """``requested`` processes, or (0) one per core this process may use, never more than tasks."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(requested or cores, n_tasks))


def run_tasks(tasks: Sequence[Task], jobs: int = 1) -> list[Any]:
    """The tasks' results in task order; ``jobs`` ≤ 1 (or one task) runs them here, in order.
    A task that raises makes this raise, after the other children are stopped: its ``UserError``
    as it is, anything else as a ``RuntimeError`` carrying the child's traceback."""
    if jobs <= 1 or len(tasks) <= 1 or "fork" not in mp.get_all_start_methods():
        return [task() for task in tasks]
    ctx = mp.get_context("fork")
    inherited = _py4j_connections()  # noqa: F841 - held so that no child closes them (see below)
    results: list[Any] = [None] * len(tasks)
    running: dict[Any, tuple[int, Any]] = {}  # reader → (task index, process)
    pending = list(range(len(tasks)))
    try:
        while pending or running:
            while pending and len(running) < jobs:
                i = pending.pop(0)
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(tasks[i], writer), daemon=True)
                proc.start()
                writer.close()
                running[reader] = (i, proc)
            for reader in wait(list(running)):
                i, proc = running.pop(reader)
                try:
                    ok, payload, user_error = pickle.loads(reader.recv_bytes())
                except EOFError:
                    ok, payload, user_error = False, f"worker for task {i} exited with code {proc.exitcode}", None
                reader.close()
                proc.join()
                if user_error is not None:
                    raise user_error  # a user's mistake stays one line, as if the fit ran here
                if not ok:
                    raise RuntimeError(f"parallel task {i} failed:\n{payload}")
                results[i] = payload
    finally:
        for reader, (_, proc) in running.items():
            proc.terminate()
            proc.join()
            reader.close()
    return results


def _py4j_connections() -> list[Any]:
    """The live py4j connections of this process, when a Spark session is up.

    A forked child keeps only the forking thread: the per-thread connections of py4j's other
    threads (Java callbacks, earlier pollers) lose their last reference as the fork clears those
    threads' locals, and py4j's ``__del__`` then *shuts down* the socket, which the parent shares
    (the JVM answers the parent's next command with "connection reset"). Holding a reference across
    the fork keeps the child from collecting them."""
    clientserver = sys.modules.get("py4j.clientserver")
    if clientserver is None:
        return []
    connection = clientserver.ClientServerConnection  # type(), not isinstance: no attribute lookups on
    return [obj for obj in gc.get_objects() if type(obj) is connection]  # lazy module proxies (torch warns)


def _child(task: Task, writer) -> None:
    try:
        blob = pickle.dumps((True, task(), None), protocol=pickle.HIGHEST_PROTOCOL)
    except UserError as exc:
        blob = pickle.dumps((False, str(exc), UserError(exc.message, hint=exc.hint)))
    except BaseException:  # noqa: BLE001 - the parent re-raises it with the child's traceback
        blob = pickle.dumps((False, traceback.format_exc(), None))
    writer.send_bytes(blob)
    writer.close()
    # Leave without the interpreter's shutdown, whose cleanup could still reach inherited sockets.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
