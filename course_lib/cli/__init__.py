"""``course``: the command line of the course, one module per group of commands.

=======================  =====================================================
``course data``          generate the corpus and compare it with real rows
``course mlflow``        the course's tracking server, until Ctrl-C
``course train``         train fastText, log the run, register the model
``course predict``       ranked codes with labels from a registered model
``course evaluate``      accuracy of a registered model at every NAF level
``course log-saved``     log a model kept when the tracking server went away
``course serve``         the prediction API (FastAPI + uvicorn)
``course classify``      classify a file through a running API
``course manifests``     render and validate the Kubernetes/ArgoCD manifests
``course workflows``     render and validate chapter 5's Argo workflows
``course traffic``       simulate weeks of API traffic with a planted change
``course etl``           parse prediction logs into date-partitioned parquet
``course dashboard``     the monitoring dashboard, one offline HTML page
``course monitor``       indicators against thresholds; --check is the alert
``course search``        a hyperparameter grid trained in parallel; best registered
``course search-grid``   a grid's configurations as JSON (the workflow's fan-out)
``course search-best``   choose and register a search's best run (held-out split)
``course labs``          generate the trainees' notebooks from the solutions
``course check``         run every solution end to end (instructors)
``course build``         run the solutions and build the book
``course bench``         benchmarks next to the simple approach (table + JSON)
=======================  =====================================================

Each command parses its options and calls one library function; it prints
progress on long steps and ends with one summary line.  A
:class:`~course_lib.errors.CourseError` (bad input, server down) is printed as a
message with what to do, never as a traceback (:func:`course_lib.cli.app.main`).
Importing this package registers every command on :data:`course_lib.cli.app.app`.
"""

# Each module registers its commands; the order of registration is the order of
# `course --help`, so these imports are not sorted.
# isort: off
from course_lib.cli import data  # noqa: F401
from course_lib.cli import tracking  # noqa: F401
from course_lib.cli import model  # noqa: F401
from course_lib.cli import serving  # noqa: F401
from course_lib.cli import deploy  # noqa: F401
from course_lib.cli import workflows  # noqa: F401
from course_lib.cli import monitoring  # noqa: F401
from course_lib.cli import search  # noqa: F401
from course_lib.cli import course  # noqa: F401
from course_lib.cli import bench  # noqa: F401

# isort: on
from course_lib.cli.app import app, main

__all__ = ["app", "main"]
