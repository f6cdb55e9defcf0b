"""scripts/bench: the benchmark of issue 4, run with `python -m loadtest.bench`."""
