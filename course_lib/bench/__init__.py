"""Benchmarks (``course bench``): each fast path next to the simple approach it
replaces, for the model (cleaning, prediction, training, accuracy) and for the
API (GET per row vs batch POST, latency, sustained load); printed as tables and
saved as JSON."""
