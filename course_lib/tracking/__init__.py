"""MLflow as the course uses it (chapter 1, every application): the tracking server
(the platform's, or a local one the course starts), the model registry with its
versions and aliases, and queries over the runs of an experiment."""
