"""Where models logged before the package was split (course_lib 0.1) find their class.

Not for new code: use :mod:`course_lib.model.pyfunc`.

A fastText model logged by course_lib 0.1 carries a ``model_code.py`` that runs
``from course_lib.wrapper import FastTextClassifier`` when the model is loaded.
Its own copy of the package travels with it (``code_paths``), but MLflow only
puts that copy at the front of ``sys.path``: in a process that has already
imported ``course_lib`` (the API, the ``course`` command, a lab), Python
resolves ``course_lib.wrapper`` through the installed package, not the copy.
Without this module, every such model would fail to load there.  The class it
gives them reads the same artifact (``fasttext_model``) and keeps the same
contract (raw descriptions in, ranked ``{nace, probability}`` out).
"""

from course_lib.model.pyfunc import FastTextClassifier

__all__ = ["FastTextClassifier"]
