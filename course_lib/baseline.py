"""Where baseline models logged before the package was split (course_lib 0.1) find their code.

Not for new code: use :mod:`course_lib.model.baseline`.

Application 1's scikit-learn pipelines are saved with skops, which records each
custom type by its import path; those logged by course_lib 0.1 name
``course_lib.baseline.clean_column`` and ``course_lib.baseline.SparseSGDClassifier``
and are loaded by importing exactly those names.  This module keeps them
importable, so a registry filled before the split still loads.
"""

from course_lib.model.baseline import SparseSGDClassifier, clean_column

__all__ = ["SparseSGDClassifier", "clean_column"]
