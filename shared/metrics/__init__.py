"""Prometheus metrics of a service, served at ``/metrics`` (see docs/operations.md).

Submodules are imported where used: :mod:`shared.metrics.note` is imported by the kernel's
command handler, and :mod:`shared.metrics.scrape` imports the command handler in turn.
"""
