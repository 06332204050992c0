"""Chapter 5: a hyperparameter search defined once (a grid file), run by Argo Workflows
on a cluster or by the course's own process pool on one machine, both logging to MLflow."""
