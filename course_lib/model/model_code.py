"""The file MLflow runs to build the model when it loads it ("models from code").

Logging a model from this file instead of a pickled object means a loaded
model is built by the code shipped with it (``code_paths``), not unpickled
from a byte stream tied to the logging process's class layout.
"""

import mlflow

from course_lib.model.pyfunc import FastTextClassifier

mlflow.models.set_model(FastTextClassifier())
