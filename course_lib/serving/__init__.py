"""Serving the registered model (chapter 3): the FastAPI app, its request and
response schemas and limits, the model it loads in the background, the API as
a real process, and the HTTP client that classifies a file through it.

Kept free of imports: the client and ``limits`` must load without MLflow,
fastText or nltk."""
