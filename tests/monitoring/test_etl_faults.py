"""Faults injected into ``course etl``: rotations, two runs at once, a run killed halfway."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course_lib.monitoring import etl
from course_lib.monitoring.datasets import PREDICTIONS
from course_lib.monitoring.etl_state import STATE_FILE
from course_lib.monitoring.etl_store import WORK_PREFIX, LocalStore
from course_lib.monitoring.log_sources import LocalSource
from tests.conftest import ROOT
from tests.monitoring.test_etl import DAY, dataset, day_lines, keys, parquet_files, run, write

CURRENT = "predictions.jsonl"


def rotate(folder: Path, backups: int = 5) -> None:
    """What RotatingFileHandler.doRollover does: .1 -> .2 ..., current -> .1, new current."""
    for index in range(backups - 1, 0, -1):
        older = folder / f"{CURRENT}.{index}"
        if older.exists():
            older.rename(folder / f"{CURRENT}.{index + 1}")
    (folder / CURRENT).rename(folder / f"{CURRENT}.1")
    (folder / CURRENT).touch()


def expected(*groups: tuple[str, int]) -> list[tuple[str, int]]:
    return sorted((f"{tag}-{i}", 0) for tag, n in groups for i in range(n))


# --- rotation ------------------------------------------------------------------------------


def test_a_file_rotated_between_two_runs_is_neither_lost_nor_doubled(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    api = logs / "api"
    write(api / CURRENT, day_lines(DAY, 20, "a"))
    run(logs, out)
    write(api / CURRENT, day_lines(DAY, 7, "b"), mode="a")  # written after the run...
    rotate(api)  # ...then rotated: .1 holds a's (read) and b's (not yet)
    write(api / CURRENT, day_lines(DAY, 9, "c"), mode="a")
    report, _ = run(logs, out)
    assert (report.new_predictions, report.duplicates, report.files_read) == (16, 0, 2)
    assert sorted(keys(dataset(out))) == expected(("a", 20), ("b", 7), ("c", 9))

    rotate(api)  # .1 -> .2, current -> .1: renamed, not changed
    report, _ = run(logs, out)
    assert (report.files_read, report.new_predictions) == (0, 0)
    assert len(dataset(out)) == 36


def test_a_rotated_file_read_again_under_its_new_name_adds_nothing(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    api = logs / "api"
    write(api / CURRENT, day_lines(DAY, 12, "a"))
    run(logs, out)
    (out / STATE_FILE).unlink()  # no memory of what was read: only the keys protect
    rotate(api)
    write(api / CURRENT, day_lines(DAY, 3, "b"))
    report, _ = run(logs, out)
    assert (report.new_predictions, report.duplicates) == (3, 12)
    assert sorted(keys(dataset(out))) == expected(("a", 12), ("b", 3))


def test_a_rotation_between_listing_and_reading_loses_nothing(tmp_path, monkeypatch):
    logs, out = tmp_path / "logs", tmp_path / "out"
    api = logs / "api"
    write(api / CURRENT, day_lines(DAY, 10, "a"))
    listed = LocalSource.list
    calls = []

    def list_then_rotate(self):
        found = listed(self)
        if not calls:  # the API rotates right after the ETL listed the folder
            rotate(api)
            write(api / CURRENT, day_lines(DAY, 4, "b"))
        calls.append(len(found))
        return found

    monkeypatch.setattr(LocalSource, "list", list_then_rotate)
    report, _ = run(logs, out)
    assert len(calls) >= 2, "the folder was listed again"
    assert sorted(keys(dataset(out))) == expected(("a", 10), ("b", 4))
    assert report.duplicates == 0


def test_a_rotation_while_a_file_is_read_loses_nothing(tmp_path, monkeypatch):
    logs, out = tmp_path / "logs", tmp_path / "out"
    api = logs / "api"
    write(api / CURRENT, day_lines(DAY, 10, "a"))
    write(api / f"{CURRENT}.1", day_lines(DAY, 5, "old"))
    stage = etl.stage
    rotated = []

    def rotate_then_stage(stream, *args, **kwargs):
        if not rotated:  # the file being read is renamed under the open handle
            rotate(api)
            write(api / CURRENT, day_lines(DAY, 6, "b"))
            rotated.append(True)
        return stage(stream, *args, **kwargs)

    monkeypatch.setattr(etl, "stage", rotate_then_stage)
    run(logs, out)
    assert sorted(keys(dataset(out))) == expected(("a", 10), ("old", 5), ("b", 6))
    report, _ = run(logs, out)
    assert (report.new_predictions, report.duplicates) == (0, 0)


# --- a run that dies -----------------------------------------------------------------------


def test_a_run_failing_after_one_day_leaves_readable_data_and_the_rerun_completes(
    tmp_path, monkeypatch
):
    logs, out = tmp_path / "logs", tmp_path / "out"
    for offset in range(3):
        day = DAY.replace(day=DAY.day + offset)
        write(logs / "simulated" / f"traffic-{day}.jsonl", day_lines(day, 10, f"d{offset}"))
    publish = LocalStore.publish
    published = []

    def publish_once(self, local, relative):
        if published:
            raise OSError("disk full (injected)")
        published.append(relative)
        return publish(self, local, relative)

    monkeypatch.setattr(LocalStore, "publish", publish_once)
    with pytest.raises(OSError, match="injected"):
        run(logs, out)
    monkeypatch.setattr(LocalStore, "publish", publish)
    assert len(published) == 1 and published[0].startswith(f"{PREDICTIONS}/date=")
    assert len(dataset(out)) == 10, "one whole day is readable, nothing half-written"
    assert not (out / STATE_FILE).exists(), "the state is written last"

    report, _ = run(logs, out)
    assert (report.new_predictions, report.duplicates) == (20, 10)
    assert sorted(keys(dataset(out))) == expected(("d0", 10), ("d1", 10), ("d2", 10))
    assert not list(out.glob(f"{WORK_PREFIX}*")), "work folders do not pile up"


KILLER = """
import os, signal, sys
from course_lib.monitoring.etl import run_etl
from course_lib.monitoring.etl_store import LocalStore

publish = LocalStore.publish
def publish_then_die(self, local, relative):
    publish(self, local, relative)
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9 right after the first file is in place

LocalStore.publish = publish_then_die
run_etl(sys.argv[1], sys.argv[2], status=lambda _: None)
"""


@pytest.mark.slow
def test_a_run_killed_with_sigkill_mid_write_is_completed_by_the_next(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    for offset in range(3):
        day = DAY.replace(day=DAY.day + offset)
        write(logs / "simulated" / f"traffic-{day}.jsonl", day_lines(day, 200, f"d{offset}"))
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLER), str(logs), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert list(out.glob(f"{WORK_PREFIX}*")), "the killed run left its work folder"
    assert len(parquet_files(out)) == 1 and len(dataset(out)) == 200

    report, _ = run(logs, out)
    assert (report.new_predictions, report.duplicates) == (400, 200)
    assert sorted(keys(dataset(out))) == expected(("d0", 200), ("d1", 200), ("d2", 200))
    assert not list(out.glob(f"{WORK_PREFIX}*"))


# --- two runs at once ----------------------------------------------------------------------


def _run_at_the_same_time(barrier, logs: str, out: str, results) -> None:
    from course_lib.monitoring.etl import run_etl

    barrier.wait(timeout=60)
    messages: list[str] = []
    report = run_etl(logs, out, status=messages.append)
    results.put((report.new_predictions, report.duplicates, messages))


@pytest.mark.slow
def test_two_runs_at_once_never_duplicate_rows(tmp_path):
    logs, out = tmp_path / "logs", tmp_path / "out"
    for offset in range(4):
        day = DAY.replace(day=DAY.day + offset)
        write(logs / "simulated" / f"traffic-{day}.jsonl", day_lines(day, 2_500, f"d{offset}"))
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_run_at_the_same_time, args=(barrier, str(logs), str(out), results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
        assert worker.exitcode == 0
    outcomes = sorted(results.get(timeout=5)[:2] for _ in workers)
    assert outcomes == [(0, 0), (10_000, 0)], "the second run waited, then found nothing new"
    rows = dataset(out)
    assert len(rows) == 10_000 and len(set(keys(rows))) == 10_000
