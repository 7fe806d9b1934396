"""The progress API (pipeline/progress.py): a bar on a terminal, rate-limited log lines in a file,
no ``\\r`` frame outside a terminal, and Spark task progress polled from the StatusTracker."""

from __future__ import annotations

import fcntl
import logging
import os
import select
import struct
import sys
import termios
import time

import pytest

from pipeline.progress import MODE_ENV, progress, progress_mode, snapshot, spark_progress


class FakeClock:
    """A clock the test moves by hand, so rate limiting is checked without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(MODE_ENV, raising=False)
    monkeypatch.setenv("TERM", "xterm")


@pytest.fixture
def pty_stream():
    """A real terminal: the slave side of a pseudo-terminal as a text stream, and a reader of
    what was written to it."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, columns
    stream = os.fdopen(slave, "w", buffering=1)

    def read() -> str:
        stream.flush()
        chunks = []
        while select.select([master], [], [], 0.2)[0]:
            chunks.append(os.read(master, 65536))
        return b"".join(chunks).decode(errors="replace")

    yield stream, read
    stream.close()
    os.close(master)


def _file_logger(path, name: str) -> tuple[logging.Logger, logging.Handler]:
    logger = logging.getLogger(name)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, handler


def test_terminal_detection(no_env, pty_stream, tmp_path, monkeypatch):
    stream, _ = pty_stream
    with open(tmp_path / "out.log", "w") as file:
        assert progress_mode(stream) == "bar"
        assert progress_mode(file) == "log"
        monkeypatch.setenv("TERM", "dumb")
        assert progress_mode(stream) == "log"
        monkeypatch.setenv("TERM", "xterm")
        monkeypatch.setenv(MODE_ENV, "log")
        assert progress_mode(stream) == "log"
        monkeypatch.setenv(MODE_ENV, "bar")
        assert progress_mode(file) == "bar"
        monkeypatch.setenv(MODE_ENV, "off")
        assert progress_mode(stream) == "off"


def test_file_output_has_no_carriage_return(no_env, tmp_path):
    """Written to a file, progress is a few whole log lines: no ``\\r`` frame, nothing on the stream."""
    path = tmp_path / "run.log"
    logger, handler = _file_logger(path, "test.progress.file")
    clock = FakeClock()
    try:
        with open(tmp_path / "stderr.txt", "w") as stream:
            with progress(total=200, unit="para", desc="label", stream=stream, interval=10, logger=logger,
                          clock=clock) as p:
                for _ in range(200):
                    clock.now += 0.5
                    p.update(1)
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = path.read_text()
    assert "\r" not in text
    assert (tmp_path / "stderr.txt").read_text() == ""
    lines = text.splitlines()
    assert lines[0] == "label: started (200 para)"
    assert lines[-1].startswith("label: 200/200 para (100%), 2.0 para/s") and lines[-1].endswith("in 1:40")
    assert len(lines) == 1 + 10 + 1  # start, one every 10 s of 100 s, end


def test_log_lines_are_rate_limited_and_carry_eta_and_postfix(caplog):
    clock = FakeClock()
    with caplog.at_level(logging.INFO, logger="pipeline.progress"):
        with progress(total=10, unit="epoch", desc="train", mode="log", interval=60, clock=clock) as p:
            for epoch in range(1, 5):
                clock.now += 25  # a line at most every 60 s: after epochs 3 (75 s), not 1, 2 or 4
                p.update(1)
                p.set_postfix(loss=1.0 / epoch)
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.progress"]
    assert lines[0] == "train: started (10 epoch)"
    assert lines[1] == "train: 3/10 epoch (30%), 25.0 s/epoch, ETA 2:55, loss=0.5"
    assert lines[2] == "train: 4/10 epoch (40%), 25.0 s/epoch, loss=0.25 in 1:40"
    assert len(lines) == 3


def test_bar_on_a_terminal_routes_log_lines_through_it(no_env, pty_stream, monkeypatch):
    stream, read = pty_stream
    monkeypatch.setattr(sys, "stderr", stream)
    console = logging.StreamHandler(sys.stderr)  # what setup_logging installs: a handler on stderr
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(console)
    try:
        with progress(total=5, unit="unit", desc="ingest") as p:
            assert console not in root.handlers, "log lines must go through the bar while it is shown"
            p.update(2)
            logging.getLogger("pipeline.test").warning("a line while the bar is up")
            p.update(3)
        assert console in root.handlers
    finally:
        root.removeHandler(console)
    out = read()
    assert "\r" in out  # a real bar, redrawn in place
    assert "ingest:" in out and "5/5" in out
    # The log line arrives whole on its own line (the bar is cleared first, then redrawn below it):
    # what a terminal shows of a line is what follows its last carriage return.
    assert "WARNING a line while the bar is up" in [line.split("\r")[-1] for line in out.split("\r\n")]


def test_off_and_bad_modes(caplog, tmp_path):
    with caplog.at_level(logging.INFO, logger="pipeline.progress"):
        with progress(total=3, desc="quiet", mode="off") as p:
            p.update(3)
    assert p.n == 3 and not [r for r in caplog.records if r.name == "pipeline.progress"]
    with pytest.raises(ValueError, match="progress mode 'loud'"):
        with progress(total=1, mode="loud"):
            pass


def test_spark_progress_reports_tasks_of_the_active_stage(spark, caplog):
    """A job of 8 slow tasks on local[2]: the poller logs tasks done/total of the running stage."""
    def slow(x):
        import time as t

        t.sleep(0.4)
        return x

    sc = spark.sparkContext
    with caplog.at_level(logging.INFO, logger="pipeline.progress"):
        with spark_progress(spark, "job", poll_s=0.05, interval=0, mode="log") as p:
            assert sc.parallelize(range(8), 8).map(slow).count() == 8
            time.sleep(0.2)
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.progress"]
    during = [line for line in lines if "/8 tasks" in line]
    assert during, lines
    assert any("running=" in line and "stages=" in line for line in during)
    done = [int(line.split(": ")[1].split("/")[0]) for line in during]
    assert done == sorted(done) and max(done) <= 8
    # The closing line sums the block's work: one job, its 8 tasks.
    assert p.n == p.total == 8 and p.postfix == {"jobs": 1}
    assert lines[-1].startswith("job: 8/8 tasks (100%)") and "jobs=1" in lines[-1], lines[-1]
    # Nothing runs now: the tracker reports no active stage.
    assert snapshot(sc.statusTracker()).stage_ids == ()
