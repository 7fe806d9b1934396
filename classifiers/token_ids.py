"""Token ids for the transformer student, in this process or in a pool of worker processes.

Kept free of torch so that worker processes start light: a worker imports numpy and tokenizers,
nothing else.

Why a process pool. The Rust tokenizer's ``encode_batch_fast`` runs on all cores, but turning its
result into ids (one ``Encoding`` Python object and one ``ids`` list per row, then one flat NumPy
array) is Python work under the GIL, in the one thread that also feeds the GPU. On the H100 host
(16 cores) tokenising was the bound of the whole inference loop: 18.7K paragraphs/s against 57K/s
for the model alone. In a pool, each worker tokenises one slice of a chunk single-threaded and
sends back two NumPy arrays (lengths and concatenated ids), so the Python part is spread over the
workers too and the parent only concatenates.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# BERT's pre-tokeniser splits at whitespace and its normaliser works char by char, so a text cut
# at a space keeps its first tokens (other tokenizers are never cut).
_CUTTABLE_PRE_TOKENIZERS = {"BertPreTokenizer"}
CHARS_PER_TOKEN_BOUND = 6  # long texts are cut past max_len × 6 characters (only a speed-up: see token_ids)


def rust_tokenizer(tokenizer_json: str, max_len: int):
    """A ``tokenizers.Tokenizer`` from its JSON, truncating at ``max_len`` and never padding."""
    from tokenizers import Tokenizer

    fast = Tokenizer.from_str(tokenizer_json)
    fast.no_padding()
    fast.enable_truncation(max_len)
    if not hasattr(fast, "encode_batch_fast"):  # tokenizers < 0.21
        fast.encode_batch_fast = fast.encode_batch
    return fast


def cut_at_space(text: str, limit: int) -> str:
    j = text.find(" ", limit)
    return text if j < 0 else text[:j]


def token_ids(fast, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(lengths int64, concatenated ids int32) of ``texts`` truncated to ``max_len`` tokens.

    Long texts are cut at the first space past ``max_len * 6`` characters before tokenising; a cut
    text that comes out shorter than ``max_len`` (so it was not truncated) is tokenised again
    whole, so the ids are exactly those of the uncut text."""
    limit = max_len * CHARS_PER_TOKEN_BOUND if type(fast.pre_tokenizer).__name__ in _CUTTABLE_PRE_TOKENIZERS else None
    texts = list(texts)
    cut = [t if limit is None or len(t) <= limit else cut_at_space(t, limit) for t in texts]
    seqs = [e.ids for e in fast.encode_batch_fast(cut)]
    redo = [i for i, (t, c, s) in enumerate(zip(texts, cut, seqs)) if c is not t and len(s) < max_len]
    if redo:
        for i, e in zip(redo, fast.encode_batch_fast([texts[i] for i in redo])):
            seqs[i] = e.ids
    lens = np.fromiter(map(len, seqs), np.int64, len(seqs))
    flat = np.fromiter(itertools.chain.from_iterable(seqs), np.int32, int(lens.sum()))
    return lens, flat


# --------------------------------------------------------------------------------- worker side
# A worker is a plain ``python -c`` subprocess that speaks length-prefixed pickles over its stdin
# and stdout. Not multiprocessing: its spawn and forkserver modes re-run the parent's main script
# in every worker, which breaks any script without an ``if __name__ == "__main__"`` guard and
# Spark's Python workers alike; fork is unsafe after CUDA and the Rust tokenizer's threads start.
_HEADER = struct.Struct("<Q")


def _send(stream, obj) -> None:
    blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(blob)))
    stream.write(blob)
    stream.flush()


def _receive(stream):
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(head)[0]
    blob = stream.read(size)
    if len(blob) < size:
        raise EOFError
    return pickle.loads(blob)


def worker_main() -> None:
    """Worker loop: the first message is (tokenizer JSON, max_len), every later one a list of texts,
    answered with (lengths, ids); ends at end of input."""
    stdin = sys.stdin.buffer
    # Answers go to a private copy of fd 1; fd 1 itself then points at stderr, so nothing else a
    # library prints (Python or native code) can reach the pipe.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    tokenizer_json, max_len = _receive(stdin)
    fast = rust_tokenizer(tokenizer_json, max_len)
    _send(stdout, "ready")
    while True:
        try:
            texts = _receive(stdin)
        except EOFError:
            return
        _send(stdout, token_ids(fast, texts, max_len))


# --------------------------------------------------------------------------------- parent side
def auto_workers(cuda: bool, cores: int | None = None) -> int:
    """Pool size when none is given: on a GPU every core but two (the loop feeding the GPU and the
    thread building batches), at most 32; on the CPU none (the model's own threads need the cores
    far more than tokenising does). ``cores``: the cores this process may use (default: its CPU
    affinity; a Spark task passes its spark.task.cpus)."""
    if not cuda:
        return 0
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(32, cores - 2))


class TokenizerPool:
    """``workers`` subprocesses, each with its own single-threaded copy of the tokenizer; one
    ``token_ids`` call at a time (a lock guards the pipes)."""

    def __init__(self, tokenizer_json: str, max_len: int, workers: int):
        if workers < 1:
            raise ValueError("TokenizerPool needs at least one worker")
        self.workers = workers
        self.max_len = max_len
        self._lock = threading.Lock()
        # Where `classifiers` lives (a checkout, or a zip shipped to Spark executors). An installed
        # package needs nothing: the worker runs the same interpreter with the same site-packages,
        # which must not go on PYTHONPATH ahead of the standard library.
        package_root = str(Path(__file__).resolve().parents[1])
        installed = Path(package_root).name in ("site-packages", "dist-packages")
        env = {**os.environ,
               # Parallelism comes from the processes: rayon threads in every worker would oversubscribe.
               "TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [None if installed else package_root,
                                                           os.environ.get("PYTHONPATH")]))}
        code = "from classifiers.token_ids import worker_main; worker_main()"
        self._procs: list[subprocess.Popen] = []
        self.broken = False
        self._finalizer = weakref.finalize(self, _stop_workers, self._procs)
        try:
            for _ in range(workers):
                # A session of its own: a Ctrl-C meant for the parent does not kill the workers
                # (they end at end of input when the parent goes).
                self._procs.append(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                                    stdout=subprocess.PIPE, env=env, start_new_session=True))
            for proc in self._procs:
                _send(proc.stdin, (tokenizer_json, max_len))
            for proc in self._procs:  # every worker has loaded its tokenizer before the first chunk
                if self._answer(proc) != "ready":
                    raise RuntimeError("tokenizer worker did not start")
        except BaseException:
            self.close()
            raise
        log.info("tokenizer pool: %d worker processes", workers)

    @staticmethod
    def _answer(proc):
        try:
            return _receive(proc.stdout)
        except EOFError:
            raise RuntimeError(f"tokenizer worker {proc.pid} exited (code {proc.poll()}); "
                               f"its error is on stderr above") from None

    def token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        texts = list(texts)
        if not texts:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        # Interleaved slices: a chunk is sorted by length, so contiguous slices would give one
        # worker all the long texts.
        k = min(self.workers, len(texts))
        with self._lock:
            if self.broken:
                raise RuntimeError("tokenizer pool is closed or broken; make a new one")
            try:
                for i in range(k):  # a worker reads its whole request before it answers: no deadlock
                    _send(self._procs[i].stdin, texts[i::k])
                parts = [self._answer(self._procs[i]) for i in range(k)]
            except BaseException:
                # Some workers may hold unread answers: the pipes are out of step for good, and a
                # later call could read another call's ids. Never reuse the pool.
                self.close()
                raise
        for i, (lens, _) in enumerate(parts):
            if len(lens) != len(range(i, len(texts), k)):
                self.close()
                raise RuntimeError(f"tokenizer worker {i} answered {len(lens)} rows for {len(texts[i::k])} texts")
        return _interleaved_to_input_order(parts, len(texts))

    def close(self) -> None:
        self.broken = True
        self._finalizer()


def _stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        try:
            proc.stdin.close()  # end of input: the worker returns
        except OSError:
            pass
    deadline = time.monotonic() + 5
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _interleaved_to_input_order(parts: list[tuple[np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Undo the interleaving: part i holds rows i, i + k, i + 2k, ... (vectorised, no per-row loop)."""
    k = len(parts)
    source_row = np.concatenate([np.arange(i, n, k) for i in range(k)])  # input row of each concatenated row
    lens_c = np.concatenate([p[0] for p in parts])
    flat_c = np.concatenate([p[1] for p in parts])
    starts_c = np.concatenate(([0], np.cumsum(lens_c)[:-1]))
    where = np.empty(n, np.int64)
    where[source_row] = np.arange(n)  # concatenated position of each input row
    lens = lens_c[where]
    out_starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    gather = np.repeat(starts_c[where] - out_starts, lens) + np.arange(int(lens.sum()))
    return lens, flat_c[gather]
