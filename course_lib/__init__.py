"""course_lib: the code every lab of "An introduction to MLOps with MLflow" imports.

One subpackage per concern, in layers that only import downwards
(settings/errors/resources → processes → tracking → data → model → serving →
deploy → course/checks/bench → cli); ``course_lib/README.md`` maps the tree to
the chapters and explains the two legacy modules kept for models logged
before the split.  This module imports nothing, so any part of the package
can be imported alone.
"""

__version__ = "0.2.0"
