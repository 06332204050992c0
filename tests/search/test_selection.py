"""The choice of the best run: on the held-out split only, deterministic, failures left out."""

from __future__ import annotations

import pytest

from course_lib.errors import CourseError
from course_lib.search.selection import Candidate, choose


def run(config, test, dev, status="FINISHED", top5=0.9):
    metrics = {"test_accuracy_subclass": test, "dev_accuracy_subclass": dev,
               "test_top5_accuracy_subclass": top5}  # fmt: skip
    return Candidate(f"run{config}", config, status, {}, metrics)


def test_the_choice_ignores_the_reported_real_rows():
    """The run best on the real rows is not chosen when another is best held out."""
    best_held_out, best_real = run(0, test=0.91, dev=0.70), run(1, test=0.89, dev=0.75)
    assert choose([best_real, best_held_out]) is best_held_out


def test_failed_and_killed_runs_are_never_chosen():
    failed = run(0, test=0.99, dev=0.99, status="FAILED")
    killed = run(1, test=0.98, dev=0.98, status="KILLED")
    ok = run(2, test=0.5, dev=0.5)
    assert choose([failed, killed, ok]) is ok
    with pytest.raises(CourseError, match="no run of the search finished"):
        choose([failed, killed])


def test_ties_go_to_the_better_top5_then_the_earlier_configuration():
    a, b, c = run(2, 0.9, 0.7, top5=0.95), run(1, 0.9, 0.7, top5=0.95), run(0, 0.9, 0.7, top5=0.9)
    assert choose([a, b, c]) is b
    assert choose([c, b, a]) is b
