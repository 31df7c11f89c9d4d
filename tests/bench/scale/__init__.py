"""``make bench-scale``: how cost grows with the size of the store, the length of a stream and
the number of instances (deploy/local/run_bench_scale.py runs ``python -m tests.bench.scale``)."""
