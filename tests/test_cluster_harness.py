"""A throwaway Spark standalone cluster on 127.0.0.1 (what pyspark ships: ``spark-class``), and
table comparisons shared by the cluster and determinism tests.

The module's own tests check the comparison helpers on small hand-made tables; the cluster tests
live in ``tests/test_cluster.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent


# ------------------------------------------------------------------------------ table comparison

def _canonical(row: dict) -> str:
    return json.dumps(row, sort_keys=True, default=repr, ensure_ascii=False)


def part_files(table_dir: Path) -> list[Path]:
    """The Parquet part files of a table folder, in part-index order (markers/hidden skipped)."""
    files = [p for p in Path(table_dir).iterdir()
             if p.is_file() and not p.name.startswith(("_", ".")) and p.name.endswith(".parquet")]
    return sorted(files, key=lambda p: p.name)


def sorted_rows(table_dir: Path) -> list[str]:
    """Every row of a table as canonical JSON, sorted: equal lists = equal row multisets."""
    rows: list[str] = []
    for path in part_files(table_dir):
        rows.extend(_canonical(r) for r in pq.read_table(path).to_pylist())
    return sorted(rows)


def file_layout(table_dir: Path) -> list[tuple[str, int, int]]:
    """(part index, rows, hash of the rows in file order) per file: equal = same files, same rows
    per file, same order. File names carry a random job UUID, so files are keyed by part index."""
    layout = []
    for path in part_files(table_dir):
        index = path.name.split("-")[1] if path.name.startswith("part-") else path.name
        rows = pq.read_table(path).to_pylist()
        digest = hashlib.sha1("\n".join(_canonical(r) for r in rows).encode()).hexdigest()
        layout.append((index, len(rows), digest))
    return layout


def schema_of(table_dir: Path) -> pa.Schema:
    files = part_files(table_dir)
    assert files, f"{table_dir} holds no Parquet file"
    return pq.read_schema(files[0]).remove_metadata()


def assert_same_table(got_dir: Path, want_dir: Path, name: str, file_level: bool = False) -> int:
    """Assert two tables hold the same rows (as multisets, so no loss and no duplication);
    with ``file_level`` also the same files with the same rows in the same order. Returns rows."""
    assert schema_of(got_dir) == schema_of(want_dir), f"{name}: schemas differ"
    got, want = sorted_rows(got_dir), sorted_rows(want_dir)
    if got != want:
        got_set, want_set = set(got), set(want)
        missing, extra = sorted(want_set - got_set), sorted(got_set - want_set)
        raise AssertionError(
            f"{name}: {len(got)} rows vs {len(want)} expected; {len(missing)} missing, {len(extra)} unexpected, "
            f"{len(got) - len(got_set)} duplicated. First missing: {missing[:1]}; first unexpected: {extra[:1]}")
    if file_level:
        assert file_layout(got_dir) == file_layout(want_dir), f"{name}: same rows but a different file layout"
    return len(got)


# ----------------------------------------------------------------------------- standalone cluster

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(path: Path, needle: str, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and needle in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout}s:\n{path.read_text(errors='replace')[-3000:]}")


class StandaloneCluster:
    """A Spark standalone master and N workers on 127.0.0.1, each JVM in its own process group.

    Every process it starts is remembered and ``stop()`` ends exactly those (TERM, then KILL), so a
    failing test leaves no JVM behind. Ports are random; the master's REST server (fixed port 6066)
    is off so two clusters can coexist on one machine.
    """

    def __init__(self, root: Path, workers: int = 2, cores: int = 1, memory: str = "1g"):
        self.root = Path(root)
        self.n_workers, self.cores, self.memory = workers, cores, memory
        self.master_url: str | None = None
        self.master: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._procs: list[subprocess.Popen] = []

    # -- processes
    def env(self) -> dict[str, str]:
        conf_dir = self.root / "conf"  # empty: no stray spark-defaults/log4j from the machine
        conf_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
        env.update({
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_CONF_DIR": str(conf_dir),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
            "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=false",
            "SPARK_DAEMON_MEMORY": "256m",
        })
        return env

    def _launch(self, name: str, cls: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), cls, *args], env=self.env(),
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.root, start_new_session=True)
        self._procs.append(proc)
        return proc, log

    def start(self, timeout: float = 180) -> "StandaloneCluster":
        self.root.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # a port picked free can be taken before the JVM binds it
            port = free_port()
            self.master, log = self._launch(f"master-{attempt}", "org.apache.spark.deploy.master.Master",
                                            "--host", "127.0.0.1", "--port", str(port), "--webui-port", "0")
            try:
                _wait_for(log, "I have been elected leader", self.master, timeout, "spark master")
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self.master_url = f"spark://127.0.0.1:{port}"
        # Workers start in parallel (JVM start-up dominates), then each must register.
        launched = [self._launch_worker() for _ in range(self.n_workers)]
        for proc, log in launched:
            _wait_for(log, "Successfully registered with master", proc, timeout, log.stem)
        return self

    def _launch_worker(self) -> tuple[subprocess.Popen, Path]:
        name = f"worker-{len(self.workers)}"
        proc, log = self._launch(name, "org.apache.spark.deploy.worker.Worker", self.master_url,
                                 "--host", "127.0.0.1", "--webui-port", "0", "--cores", str(self.cores),
                                 "--memory", self.memory, "--work-dir", str(self.root / name))
        self.workers.append(proc)
        return proc, log

    def add_worker(self, timeout: float = 180) -> subprocess.Popen:
        proc, log = self._launch_worker()
        _wait_for(log, "Successfully registered with master", proc, timeout, log.stem)
        return proc

    def work_dirs(self) -> list[Path]:
        return [self.root / f"worker-{i}" for i in range(len(self.workers))]

    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker's whole process group: its JVM, its executor JVMs and their Python
        workers — what losing the machine looks like to the driver."""
        proc = self.workers[index]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)  # the group: executors outlive a dead worker otherwise
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    continue
                # The leader is gone; make sure nothing else of its group is left either.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break

    def alive_pids(self) -> list[int]:
        """PIDs still alive in the process groups this cluster started (empty after stop())."""
        out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat="], capture_output=True, text=True, check=True).stdout
        groups = {p.pid for p in self._procs}
        # Zombies (stat Z) are dead already: orphans wait there until init reaps them.
        return [int(pid) for pid, pgid, stat in (line.split() for line in out.splitlines())
                if int(pgid) in groups and not stat.startswith("Z")]

    # -- jobs
    def submit_cmd(self, script: str | Path, *args: str, py_files: Path | None = None,
                   conf: dict[str, str] | None = None) -> list[str]:
        cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", self.master_url,
               "--driver-memory", "1g", "--executor-memory", "768m",
               "--conf", f"spark.pyspark.python={sys.executable}",
               "--conf", f"spark.pyspark.driver.python={sys.executable}",
               "--conf", "spark.ui.enabled=false"]
        if py_files:
            cmd += ["--py-files", str(py_files)]
        for key, value in (conf or {}).items():
            cmd += ["--conf", f"{key}={value}"]
        return [*cmd, str(script), *map(str, args)]

    def submit(self, script: str | Path, *args: str, log: Path, cwd: Path, timeout: float = 600,
               **kwargs) -> subprocess.Popen:
        """Start a driver process (spark-submit) with its output in ``log``; returns the process."""
        with open(log, "wb") as out:
            proc = subprocess.Popen(self.submit_cmd(script, *args, **kwargs), env=self.env(), cwd=cwd,
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self._procs.append(proc)  # stop() ends a driver a failed test left running
        return proc

    def run(self, script: str | Path, *args: str, log: Path, cwd: Path, timeout: float = 600, **kwargs) -> str:
        """Run a driver to completion; raise with the tail of its log when it fails."""
        proc = self.submit(script, *args, log=log, cwd=cwd, **kwargs)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"{script} ran past {timeout}s:\n{log.read_text(errors='replace')[-4000:]}")
        text = log.read_text(errors="replace")
        assert rc == 0, f"spark-submit {script} exited {rc}:\n{text[-6000:]}"
        return text


# ------------------------------------------------------------------------ tests of the helpers

def _write(dir_: Path, name: str, rows: list[dict]) -> None:
    dir_.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), dir_ / name)


def test_table_comparison_catches_loss_duplication_and_layout(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    rows = [{"id": "x", "n": 1, "tags": ["p", "q"]}, {"id": "y", "n": 2, "tags": []}]
    _write(a, "part-00000-aaaa-c000.parquet", rows)
    _write(a, "_COMPLETE", rows[:1])  # markers and hidden files are not part of the table
    _write(b, "part-00000-bbbb-c000.parquet", rows)
    assert assert_same_table(a, b, "t", file_level=True) == 2

    c = tmp_path / "c"
    _write(c, "part-00000-cccc-c000.parquet", [rows[0], rows[0]])
    try:
        assert_same_table(c, a, "t")
    except AssertionError as exc:
        assert "1 missing" in str(exc) and "1 duplicated" in str(exc)
    else:
        raise AssertionError("a lost + duplicated row went unnoticed")

    d = tmp_path / "d"  # same rows, split differently over files
    _write(d, "part-00000-dddd-c000.parquet", rows[:1])
    _write(d, "part-00001-dddd-c000.parquet", rows[1:])
    assert assert_same_table(d, a, "t") == 2
    try:
        assert_same_table(d, a, "t", file_level=True)
    except AssertionError as exc:
        assert "file layout" in str(exc)
    else:
        raise AssertionError("a different file layout went unnoticed")
