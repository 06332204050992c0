"""A training task for the search's tests (importable by name by spawned workers)."""

from __future__ import annotations

from course_lib.errors import CourseError
from course_lib.search.local import Trained, TrainTask, train_configuration


def train_unless_dim_7(task: TrainTask) -> Trained:
    """The real training, except that configurations with dim 7 fail the way a wrong
    setting does: with a CourseError, after the run has started."""
    if task.configuration.params.dim == 7:
        raise CourseError("dim 7 is refused by this test")
    return train_configuration(task)
