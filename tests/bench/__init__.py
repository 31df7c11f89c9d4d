"""Throughput benchmarks of the event kernel, side by side with raw clients and the
``eventsourcing`` library. Run with ``make bench`` (deploy/local/run_bench.py); nothing here
is collected by pytest (no module is named ``test_*``)."""
