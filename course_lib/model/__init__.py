"""The models (Applications 1 and 2): fastText and its MLflow pyfunc wrapper (the
code logged with every model), the scikit-learn baseline, accuracy at every NAF
level, and the training run that logs and registers a model.

Kept free of imports: ``course_lib.model.limits`` must load without the ML stack."""
