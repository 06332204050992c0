"""course_lib: the code every lab of "An introduction to MLOps with MLflow" imports."""

__version__ = "0.1.0"
